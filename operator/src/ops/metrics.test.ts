// The operator's FineTuneJob metrics as Prometheus scrapes them (the registry's text), from cached
// FineTuneJob objects and a fixed clock: by namespace and queue, GPU-seconds that never go down, queued
// time, restarts, failures by reason.
import { describe, expect, it } from 'vitest';
import { factsOf, gpuSecondsOf } from './finetunejob-metrics.js';
import { createOperatorMetrics } from './metrics.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

interface JobOptions {
  ns?: string;
  name?: string;
  queue?: string;
  gpus?: number;
  phase?: string;
  created?: number;
  started?: number;
  completed?: number;
  attempts?: number;
  conditions?: { type: string; status: string; reason?: string; at: number }[];
}

function ftj({ ns = 'team-a', name = 'job', queue, gpus = 1, phase, created = 0, started, completed, attempts, conditions = [] }: JobOptions) {
  return {
    apiVersion: 'loraplane.io/v1alpha1',
    kind: 'FineTuneJob',
    metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, creationTimestamp: at(created) },
    spec: { ...(queue ? { queueName: queue } : {}), resources: { gpus } },
    ...(phase
      ? {
          status: {
            phase,
            ...(started !== undefined ? { startTime: at(started) } : {}),
            ...(completed !== undefined ? { completionTime: at(completed) } : {}),
            ...(attempts !== undefined ? { attempts } : {}),
            conditions: conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? c.type, message: '', lastTransitionTime: at(c.at) })),
          },
        }
      : {}),
  };
}

/** Metrics over a mutable cache and a clock in seconds since T0. */
function setup() {
  const cache = new Map<string, object>();
  let clock = 0;
  const metrics = createOperatorMetrics(
    () => cache.values(),
    () => T0 + clock * 1000,
  );
  const put = (o: ReturnType<typeof ftj>, event: 'add' | 'update' = cache.has(o.metadata.uid) ? 'update' : 'add') => {
    cache.set(o.metadata.uid, o);
    metrics.fineTuneJobs.observe(o, event);
  };
  const remove = (o: ReturnType<typeof ftj>) => {
    cache.delete(o.metadata.uid);
    metrics.fineTuneJobs.observe(o, 'delete');
  };
  /** Every sample of a metric family as `name{labels} value` lines, parsed. */
  const scrape = async (family: string) => {
    const text = await metrics.registry.getSingleMetricAsString(family);
    return text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
        const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
        return { name: m[1]!, labels, value: Number(m[3]) };
      });
  };
  const value = async (family: string, labels: Record<string, string>, name = family) =>
    (await scrape(family)).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { metrics, put, remove, scrape, value, tick: (s: number) => (clock += s), setClock: (s: number) => (clock = s) };
}

describe('loraplane_finetunejobs{namespace,queue,phase}', () => {
  it('counts jobs by namespace, queue and phase, every phase present for each pair', async () => {
    const m = setup();
    m.put(ftj({ ns: 'team-a', name: 'a1', queue: 'gpu', phase: 'Running', started: 1 }));
    m.put(ftj({ ns: 'team-a', name: 'a2', queue: 'gpu', phase: 'Running', started: 1 }));
    m.put(ftj({ ns: 'team-a', name: 'a3', phase: 'Succeeded', started: 1, completed: 5 }));
    m.put(ftj({ ns: 'team-b', name: 'b1' })); // no status yet: Pending
    const samples = await m.scrape('loraplane_finetunejobs');
    expect(samples).toHaveLength(3 * 6);
    expect(await m.value('loraplane_finetunejobs', { namespace: 'team-a', queue: 'gpu', phase: 'Running' })).toBe(2);
    expect(await m.value('loraplane_finetunejobs', { namespace: 'team-a', queue: 'gpu', phase: 'Failed' })).toBe(0);
    expect(await m.value('loraplane_finetunejobs', { namespace: 'team-a', queue: '', phase: 'Succeeded' })).toBe(1);
    expect(await m.value('loraplane_finetunejobs', { namespace: 'team-b', queue: '', phase: 'Pending' })).toBe(1);
    // What `loraplane_finetunejobs{phase="Succeeded"}` meant before: summed over namespaces and queues.
    expect(samples.filter((s) => s.labels.phase === 'Succeeded').reduce((a, s) => a + s.value, 0)).toBe(1);
  });

  it('a namespace and queue without jobs has no series; a standby replica (empty cache) reports none', async () => {
    const m = setup();
    const job = ftj({ ns: 'team-a', name: 'a1', queue: 'gpu', phase: 'Running', started: 1 });
    m.put(job);
    expect(await m.scrape('loraplane_finetunejobs')).toHaveLength(6);
    m.remove(job);
    for (const family of [
      'loraplane_finetunejobs',
      'loraplane_finetunejob_gpu_seconds_total',
      'loraplane_finetunejob_restarts_total',
      'loraplane_finetunejobs_queued_oldest_seconds',
      'loraplane_finetunejobs_failed',
    ]) {
      expect(await m.scrape(family), family).toEqual([]);
    }
  });
});

describe('loraplane_finetunejob_gpu_seconds_total', () => {
  const running = (o: Partial<JobOptions> = {}) => ftj({ name: 'train', queue: 'gpu', gpus: 2, phase: 'Running', created: 0, started: 10, ...o });
  const labels = { namespace: 'team-a', queue: 'gpu', finetunejob: 'train' };
  const gpuSeconds = (m: ReturnType<typeof setup>) => m.value('loraplane_finetunejob_gpu_seconds_total', labels);

  it('is 0 before the start, then gpus x running time, growing while it runs and fixed once it ended', async () => {
    const m = setup();
    m.put(ftj({ name: 'train', queue: 'gpu', gpus: 2, phase: 'Queued', conditions: [{ type: 'Suspended', status: 'True', at: 0 }] }));
    m.setClock(8);
    expect(await gpuSeconds(m)).toBe(0);
    m.put(running());
    m.setClock(70);
    expect(await gpuSeconds(m)).toBe(120);
    m.setClock(100);
    expect(await gpuSeconds(m)).toBe(180);
    m.put(running({ phase: 'Succeeded', completed: 110, conditions: [{ type: 'Ready', status: 'True', at: 111 }] }));
    m.setClock(500);
    expect(await gpuSeconds(m)).toBe(2 * (111 - 10));
  });

  it('never goes down when the operator saw a job running past its real end', async () => {
    const m = setup();
    m.put(running());
    m.setClock(115); // the Job completed at 110; the reconciler has not written it yet
    expect(await gpuSeconds(m)).toBe(210);
    m.put(running({ phase: 'Succeeded', completed: 110, conditions: [{ type: 'Ready', status: 'True', at: 112 }] }));
    m.setClock(120);
    expect(await gpuSeconds(m)).toBe(210);
    // A restarted operator has only status: the end it recorded (Ready's transition), no memory of 115.
    const restarted = setup();
    restarted.put(running({ phase: 'Succeeded', completed: 110, conditions: [{ type: 'Ready', status: 'True', at: 112 }] }));
    restarted.setClock(120);
    expect(await gpuSeconds(restarted)).toBe(2 * (112 - 10));
  });

  it('stops while the job is suspended or preempted, from when the hold began', async () => {
    const m = setup();
    m.put(running());
    m.setClock(50);
    expect(await gpuSeconds(m)).toBe(80);
    m.put(running({ phase: 'Queued', conditions: [{ type: 'Suspended', status: 'True', reason: 'Preempted', at: 48 }] }));
    m.setClock(300);
    expect(await gpuSeconds(m)).toBe(80); // held from 48, but 80 was reported at 50
    m.setClock(400);
    expect(await gpuSeconds(m)).toBe(80);
  });

  it('a deleted job ends its series instead of lowering a sum; one series per job', async () => {
    const m = setup();
    m.put(running());
    const other = ftj({ name: 'other', queue: 'gpu', gpus: 1, phase: 'Running', started: 0 });
    m.put(other);
    m.setClock(20);
    expect((await m.scrape('loraplane_finetunejob_gpu_seconds_total')).map((s) => [s.labels.finetunejob, s.value])).toEqual([
      ['train', 20],
      ['other', 20],
    ]);
    m.remove(other);
    expect((await m.scrape('loraplane_finetunejob_gpu_seconds_total')).map((s) => s.labels.finetunejob)).toEqual(['train']);
  });

  it('reads the facts the way the API server stores them (defaults, missing fields)', () => {
    const f = factsOf({ metadata: { name: 'x', namespace: 'n', uid: 'u' }, spec: {}, status: { phase: 'Bogus', startTime: at(0) } })!;
    expect(f).toMatchObject({ queue: '', gpus: 1, phase: 'Pending', attempts: 0 });
    expect(gpuSecondsOf(f, T0 + 5000)).toBe(5);
    expect(factsOf({ metadata: { name: 'x' } })).toBeUndefined();
  });
});

describe('loraplane_finetunejob_restarts_total', () => {
  it('is attempts - 1 per job, 0 before the first attempt', async () => {
    const m = setup();
    m.put(ftj({ name: 'flaky', phase: 'Running', started: 1, attempts: 3 }));
    m.put(ftj({ name: 'new' }));
    expect(await m.value('loraplane_finetunejob_restarts_total', { finetunejob: 'flaky', namespace: 'team-a', queue: '' })).toBe(2);
    expect(await m.value('loraplane_finetunejob_restarts_total', { finetunejob: 'new' })).toBe(0);
  });
});

describe('time spent queued', () => {
  it('loraplane_finetunejob_queued_seconds: creation to first start, for jobs seen waiting, once each', async () => {
    const m = setup();
    const labels = { namespace: 'team-a', queue: 'gpu' };
    // Already started when the operator (re)started: its predecessor timed it.
    m.put(ftj({ name: 'old', queue: 'gpu', phase: 'Running', created: 0, started: 3 }), 'add');
    expect(await m.value('loraplane_finetunejob_queued_seconds', labels, 'loraplane_finetunejob_queued_seconds_count')).toBe(0);
    m.put(ftj({ name: 'j', queue: 'gpu', created: 100 }));
    m.put(ftj({ name: 'j', queue: 'gpu', created: 100, phase: 'Queued', conditions: [{ type: 'Suspended', status: 'True', at: 101 }] }));
    m.put(ftj({ name: 'j', queue: 'gpu', created: 100, phase: 'Running', started: 145 }));
    m.put(ftj({ name: 'j', queue: 'gpu', created: 100, phase: 'Running', started: 145, attempts: 1 }));
    expect(await m.value('loraplane_finetunejob_queued_seconds', labels, 'loraplane_finetunejob_queued_seconds_count')).toBe(1);
    expect(await m.value('loraplane_finetunejob_queued_seconds', labels, 'loraplane_finetunejob_queued_seconds_sum')).toBe(45);
    expect(await m.value('loraplane_finetunejob_queued_seconds', { ...labels, le: '30' }, 'loraplane_finetunejob_queued_seconds_bucket')).toBe(0);
    expect(await m.value('loraplane_finetunejob_queued_seconds', { ...labels, le: '60' }, 'loraplane_finetunejob_queued_seconds_bucket')).toBe(1);
    // Deleted while waiting: never timed.
    const gone = ftj({ name: 'gone', queue: 'gpu', created: 200 });
    m.put(gone);
    m.remove(gone);
    m.put(ftj({ name: 'gone', queue: 'gpu', created: 200, phase: 'Running', started: 230 }), 'add');
    expect(await m.value('loraplane_finetunejob_queued_seconds', labels, 'loraplane_finetunejob_queued_seconds_count')).toBe(1);
  });

  it('loraplane_finetunejobs_queued_oldest_seconds: the longest current wait, before the first start or after a preemption', async () => {
    const m = setup();
    const oldest = (queue: string) => m.value('loraplane_finetunejobs_queued_oldest_seconds', { namespace: 'team-a', queue });
    m.put(ftj({ name: 'r', queue: 'gpu', phase: 'Running', created: 0, started: 5 }));
    m.put(ftj({ name: 's', queue: 'cpu', phase: 'Suspended', created: 0, conditions: [{ type: 'Suspended', status: 'True', at: 0 }] }));
    m.setClock(1000);
    expect(await oldest('gpu')).toBe(0);
    expect(await oldest('cpu')).toBe(0); // suspended by its user: not waiting for the queue
    m.put(ftj({ name: 'q', queue: 'gpu', phase: 'Queued', created: 700 }));
    m.put(
      ftj({
        name: 'p',
        queue: 'gpu',
        phase: 'Queued',
        created: 0,
        started: 5,
        conditions: [{ type: 'Suspended', status: 'True', reason: 'Preempted', at: 900 }],
      }),
    );
    expect(await oldest('gpu')).toBe(300);
    m.put(ftj({ name: 'pending', queue: 'gpu', created: 400 }));
    expect(await oldest('gpu')).toBe(600);
  });
});

describe('loraplane_finetunejobs_failed{namespace,queue,reason}', () => {
  it('counts Failed jobs by the reason of their Stalled condition', async () => {
    const m = setup();
    const failed = (name: string, reason: string) =>
      ftj({ name, queue: 'gpu', phase: 'Failed', started: 1, completed: 9, conditions: [{ type: 'Stalled', status: 'True', reason, at: 9 }] });
    m.put(failed('a', 'OOMKilled'));
    m.put(failed('b', 'OOMKilled'));
    m.put(failed('c', 'DeadlineExceeded'));
    m.put(ftj({ name: 'd', phase: 'Succeeded', started: 1, completed: 2 }));
    expect((await m.scrape('loraplane_finetunejobs_failed')).map((s) => [s.labels.reason, s.value]).sort()).toEqual([
      ['DeadlineExceeded', 1],
      ['OOMKilled', 2],
    ]);
  });
});

it('names follow the Prometheus conventions: counters end in _total, times in _seconds', async () => {
  const { metrics } = setup();
  const families = (await metrics.registry.getMetricsAsJSON()).filter((f) => f.name.startsWith('loraplane_'));
  for (const f of families) {
    if (String(f.type) === 'counter') expect(f.name).toMatch(/_total$/);
    if (/second/.test(f.name)) expect(f.name).toMatch(/_seconds(_total)?$/);
  }
  expect(families.map((f) => f.name)).toEqual(
    expect.arrayContaining([
      'loraplane_finetunejobs',
      'loraplane_finetunejobs_failed',
      'loraplane_finetunejobs_queued_oldest_seconds',
      'loraplane_finetunejob_gpu_seconds_total',
      'loraplane_finetunejob_restarts_total',
      'loraplane_finetunejob_queued_seconds',
    ]),
  );
});

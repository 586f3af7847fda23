import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import { observe } from './observe.js';
import { nextStatus } from './status.js';

const ftj = exampleFineTuneJob();
const t0 = new Date('2026-11-29T10:00:00Z');
const job = (status: V1Job['status'] = {}, spec: Partial<V1Job['spec']> = {}): V1Job => ({
  metadata: { name: 'j' },
  spec: { template: {}, backoffLimit: 3, ...spec },
  status,
});
const pod = (name: string, status: V1Pod['status'], nodeName?: string): V1Pod => ({
  metadata: { name, creationTimestamp: new Date(t0.getTime() + Number(name.slice(-1)) * 1000) },
  spec: { nodeName, containers: [{ name: 'trainer', image: 'img:1', resources: { limits: { memory: '512Mi' } } }] },
  status,
});
const terminated = (exitCode: number, reason: string, message = '') => ({
  containerStatuses: [{ name: 'trainer', image: 'img:1', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, reason, message } } }],
});

describe('observe', () => {
  it('reports an unschedulable pod with the scheduler message naming the resource', () => {
    const o = observe(ftj, job({ active: 1 }), [
      pod('p-1', {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.' }],
      }),
    ]);
    expect(o.phase).toBe('Pending');
    expect(o.reason).toBe('Unschedulable');
    expect(o.message).toContain('Insufficient nvidia.com/gpu');
    expect(o.scheduled).toMatchObject({ status: 'False', reason: 'Unschedulable' });
  });

  it('reports an image pull failure', () => {
    const o = observe(ftj, job({ active: 1 }), [
      pod(
        'p-1',
        {
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'trainer',
              image: 'img:1',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "img:1"' } },
            },
          ],
        },
        'n',
      ),
    ]);
    expect(o).toMatchObject({ phase: 'Pending', reason: 'ImagePullBackOff' });
    expect(o.message).toContain('cannot pull trainer image img:1');
  });

  it('reports a running trainer and the node it runs on', () => {
    const o = observe(ftj, job({ active: 1, startTime: t0 }), [pod('p-1', { phase: 'Running', startTime: t0 }, 'gpu-h100-0')]);
    expect(o).toMatchObject({ phase: 'Running', reason: 'TrainerRunning', startTime: t0.toISOString(), attempts: 1 });
    expect(o.message).toContain('gpu-h100-0');
  });

  it('names OOMKilled and the backoff limit when the Job fails', () => {
    const failedJob = job({ failed: 4, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', lastTransitionTime: t0 }] });
    const o = observe(ftj, failedJob, [
      pod('p-1', { phase: 'Failed', ...terminated(1, 'Error') }),
      pod('p-2', { phase: 'Failed', ...terminated(137, 'OOMKilled') }),
    ]);
    expect(o).toMatchObject({ phase: 'Failed', reason: 'BackoffLimitExceeded', attempts: 4 });
    expect(o.message).toBe('trainer failed 4 time(s), backoffLimit=3; last attempt: trainer was OOMKilled (memory limit 512Mi)');
  });

  it('names the deadline and the trainer error message', () => {
    const o = observe(
      ftj,
      job({ failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', lastTransitionTime: t0 }] }, { activeDeadlineSeconds: 60 }),
      [pod('p-1', { phase: 'Failed', ...terminated(2, 'Error', '{"error":"dataset line 7: missing messages"}') })],
    );
    expect(o.message).toBe('trainer exceeded activeDeadlineSeconds=60; last attempt: trainer exited with code 2: dataset line 7: missing messages');
  });

  it('fails a completed Job whose trainer reported no result, or an adapter outside spec.output', () => {
    const complete = job({ succeeded: 1, completionTime: t0, conditions: [{ type: 'Complete', status: 'True' }] });
    const none = observe(ftj, complete, [pod('p-1', { phase: 'Succeeded', ...terminated(0, 'Completed', '') })]);
    expect(none).toMatchObject({
      phase: 'Failed',
      reason: 'NoResult',
      message: 'the trainer exited 0 without a result in its termination message; nothing was published',
    });
    expect(none.result).toBeUndefined();
    const elsewhere = JSON.stringify({ adapterUri: 's3://adapters/team-b/x/', digest: `sha256:${'a'.repeat(64)}` });
    const moved = observe(ftj, complete, [pod('p-1', { phase: 'Succeeded', ...terminated(0, 'Completed', elsewhere) })]);
    expect(moved).toMatchObject({
      phase: 'Failed',
      reason: 'ResultMismatch',
      message: 'the trainer reported an adapter at s3://adapters/team-b/x/, not at spec.output (s3://adapters/support-assistant/v1/); nothing was published',
    });
    expect(moved.result).toBeUndefined();
  });

  it('reads the result from the termination message on success', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const message = JSON.stringify({ adapterUri: 's3://adapters/support-assistant/v1/', digest, metrics: { trainLoss: 0.5 } });
    const o = observe(ftj, job({ succeeded: 1, completionTime: t0, conditions: [{ type: 'Complete', status: 'True' }] }), [
      pod('p-1', { phase: 'Succeeded', ...terminated(0, 'Completed', message) }),
    ]);
    expect(o).toMatchObject({ phase: 'Succeeded', completionTime: t0.toISOString(), result: { adapterUri: 's3://adapters/support-assistant/v1/', digest } });
    // The result names the adapter only once the LoraAdapter is published.
    const unpublished = nextStatus(ftj, o, 'j', t0.toISOString());
    expect(unpublished.result).toEqual({ uri: 's3://adapters/support-assistant/v1/', digest, metrics: { trainLoss: 0.5 } });
    expect(unpublished.progress).toEqual({ percent: 100, trainLoss: 0.5 });
    const published = { type: 'AdapterPublished', status: 'True' as const, reason: 'Created', message: 'created' };
    const status = nextStatus(ftj, o, 'j', t0.toISOString(), { published });
    expect(status.result).toEqual({ adapter: 'support-assistant-v1', uri: 's3://adapters/support-assistant/v1/', digest, metrics: { trainLoss: 0.5 } });
    expect(status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', observedGeneration: 1 });
    // A later reconcile keeps the publication's condition and the adapter link.
    const again = nextStatus({ ...ftj, status }, o, 'j', t0.toISOString());
    expect(again.conditions!.find((c) => c.type === 'AdapterPublished')).toMatchObject({ status: 'True', reason: 'Created' });
    expect(again.result?.adapter).toBe('support-assistant-v1');
  });

  it('reports the newest checkpoint any attempt stored', () => {
    const stopped = (step: number) =>
      JSON.stringify({
        error: `stopped by SIGTERM at step ${step}`,
        checkpoint: { step, uri: `s3://adapters/support-assistant/v1//checkpoints/checkpoint-${step}/` },
      });
    const o = observe(ftj, job({ active: 1, failed: 2 }), [
      pod('p-1', { phase: 'Failed', ...terminated(143, 'Error', stopped(20)) }),
      pod('p-2', { phase: 'Failed', ...terminated(143, 'Error', stopped(40)) }),
      pod('p-3', { phase: 'Running' }),
    ]);
    expect(o.checkpoint).toEqual({ step: 40, uri: 's3://adapters/support-assistant/v1//checkpoints/checkpoint-40/' });
    expect(nextStatus(ftj, o, 'j', t0.toISOString()).checkpoint).toEqual(o.checkpoint);
  });

  it('tells suspended from queued', () => {
    expect(observe({ ...ftj, spec: { ...ftj.spec, suspend: true } }, job({}, { suspend: true }), []).phase).toBe('Suspended');
    const queued = observe({ ...ftj, spec: { ...ftj.spec, queueName: 'q' } }, job({}, { suspend: true }), []);
    expect(queued).toMatchObject({ phase: 'Queued', reason: 'WaitingForAdmission' });
  });

  it('mentions the previous failure while the Job retries', () => {
    const o = observe(ftj, job({ active: 1, failed: 1 }), [pod('p-1', { phase: 'Failed', ...terminated(3, 'Error') }), pod('p-2', { phase: 'Pending' })]);
    expect(o.phase).toBe('Pending');
    expect(o.attempts).toBe(2);
    expect(o.message).toContain('previous attempt: trainer exited with code 3');
  });
});

describe('nextStatus', () => {
  it('keeps lastTransitionTime while a condition keeps its status and sets kstatus conditions', () => {
    const running = observe(ftj, job({ active: 1 }), [pod('p-1', { phase: 'Running' }, 'n')]);
    const first = nextStatus(ftj, running, 'j', '2026-11-29T10:00:00.000Z');
    const second = nextStatus({ ...ftj, status: first }, running, 'j', '2026-11-29T10:05:00.000Z');
    expect(second.conditions).toEqual(first.conditions);
    expect(first.conditions!.map((c) => [c.type, c.status])).toEqual([
      ['Ready', 'False'],
      ['Reconciling', 'True'],
      ['Stalled', 'False'],
      ['Suspended', 'False'],
      ['Scheduled', 'True'],
    ]);
  });

  describe('a multi-pod group (spec.resources.nodes: 2)', () => {
    const group = { ...ftj, spec: { ...ftj.spec, resources: { ...ftj.spec.resources, gpus: 2, nodes: 2 } } };

    it("takes the result from pod 0's termination message; the other pod ends without one", () => {
      const digest = `sha256:${'b'.repeat(64)}`;
      const message = JSON.stringify({ adapterUri: 's3://adapters/support-assistant/v1/', digest });
      const o = observe(group, job({ succeeded: 2, completionTime: t0, conditions: [{ type: 'Complete', status: 'True' }] }), [
        pod('p-1', { phase: 'Succeeded', ...terminated(0, 'Completed', message) }),
        pod('p-2', { phase: 'Succeeded', ...terminated(0, 'Completed') }),
      ]);
      expect(o).toMatchObject({ phase: 'Succeeded', attempts: 1, result: { digest } });
    });

    it('names the rank that failed, not the peers that stopped with it, and counts the restart as one attempt', () => {
      const cause = JSON.stringify({ error: 'rank 3 was killed by SIGKILL; the group stopped and restarts from the newest checkpoint' });
      const peer = JSON.stringify({
        error:
          'rank 0 exited with code 1: collective gloo (rank 0 of 4): allreduce failed: connection closed by peer; the group stopped and restarts from the newest checkpoint',
      });
      const o = observe(group, job({ active: 2, failed: 2 }), [
        pod('p-1', { phase: 'Failed', ...terminated(1, 'Error', cause) }, 'n1'),
        pod('p-2', { phase: 'Failed', ...terminated(1, 'Error', peer) }, 'n0'),
        pod('p-3', { phase: 'Running' }, 'n0'),
        pod('p-4', { phase: 'Running' }, 'n1'),
      ]);
      expect(o).toMatchObject({ phase: 'Running', attempts: 2 });
      expect(o.message).toContain('2 trainer pods running: p-3 on n0, p-4 on n1');
      expect(o.message).toContain('previous attempt: trainer exited with code 1: rank 3 was killed by SIGKILL');
    });
  });
});

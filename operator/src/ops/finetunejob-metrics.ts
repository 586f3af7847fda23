// What the platform team sees of the FineTuneJobs, by namespace and queue: computed from the objects in the
// operator's cache (their status: phase, startTime, completionTime, attempts, conditions) when Prometheus
// scrapes, so a restarted or newly elected operator reports the same values from the same objects.
//
// GPU-seconds (loraplane_finetunejob_gpu_seconds_total{namespace,queue,finetunejob}) is a counter computed
// at scrape time, one series per FineTuneJob: spec.resources.gpus × nodes × the time from status.startTime (the
// trainer Job's first start; with Kueue, its admission) to its end (status.completionTime, or when the
// operator recorded the end if later), or until now while it runs. A Prometheus counter must never go down,
// and a sum over the jobs of a namespace would, whenever a FineTuneJob is deleted: rate() would read the drop
// as a counter reset and count the whole remaining sum again. One series per job only ends when its job is
// deleted (Prometheus marks it stale), and each job's value only grows, with two guards:
// - While a started job is held (phase Suspended, or Queued again after a Kueue preemption), its GPUs are
//   released and the value stops at the time the hold began (the Suspended condition's lastTransitionTime).
//   When it resumes, status still holds only the first startTime, so the held time is counted then, in one
//   step: totals are exact over a job's life only for jobs never held after they started.
// - A job the operator saw running after its real end (the Job completed between two reconciles) would
//   report a smaller value once status.completionTime arrives; the last value reported for each job is kept
//   (in memory, by uid) and never undercut. After an operator restart that memory is empty, and the end the
//   operator recorded (the Ready or Stalled condition's lastTransitionTime) stands in for it.
// Dashboards aggregate: sum by (namespace, queue) (rate(loraplane_finetunejob_gpu_seconds_total[5m])) is the
// GPUs in use.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PHASES, type Phase } from '@loraplane/api/finetunejob';

/** What the metrics read of one FineTuneJob; times in ms since the epoch. */
export interface FineTuneJobFacts {
  uid: string;
  namespace: string;
  name: string;
  /** spec.queueName, or "" for a job not queued through Kueue. */
  queue: string;
  phase: Phase;
  gpus: number;
  createdAt?: number;
  /** status.startTime: the trainer Job's first start. */
  startedAt?: number;
  /** For Succeeded and Failed: the latest of status.completionTime and the Ready/Stalled transition. */
  endedAt?: number;
  /** For a Queued or Suspended job: when the Suspended condition became True. */
  heldSince?: number;
  attempts: number;
  /** For Failed: the Stalled condition's reason. */
  failureReason?: string;
}

type Condition = { type?: unknown; status?: unknown; reason?: unknown; lastTransitionTime?: unknown };
type RawFineTuneJob = {
  metadata?: { uid?: unknown; name?: unknown; namespace?: unknown; creationTimestamp?: unknown };
  spec?: { queueName?: unknown; resources?: { gpus?: unknown; nodes?: unknown } };
  status?: { phase?: unknown; startTime?: unknown; completionTime?: unknown; attempts?: unknown; conditions?: unknown };
};

const TERMINAL: ReadonlySet<Phase> = new Set(['Succeeded', 'Failed']);
const HELD: ReadonlySet<Phase> = new Set(['Queued', 'Suspended']);

function time(v: unknown): number | undefined {
  if (typeof v !== 'string' && !(v instanceof Date)) return undefined;
  const ms = new Date(v).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

const maxDefined = (...values: (number | undefined)[]) => {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.max(...defined) : undefined;
};

/** The facts of a FineTuneJob from the cache, or undefined for an object without name, namespace or uid. */
export function factsOf(obj: unknown): FineTuneJobFacts | undefined {
  const o = obj as RawFineTuneJob;
  const { uid, name, namespace } = o.metadata ?? {};
  if (typeof uid !== 'string' || typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const status = o.status ?? {};
  const phase: Phase = (PHASES as readonly unknown[]).includes(status.phase) ? (status.phase as Phase) : 'Pending';
  const conditions = (Array.isArray(status.conditions) ? status.conditions : []) as Condition[];
  const condition = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const gpus = o.spec?.resources?.gpus;
  const nodes = o.spec?.resources?.nodes;
  const count = (n: unknown) => (typeof n === 'number' && n > 0 ? n : 1);
  const attempts = status.attempts;
  const facts: FineTuneJobFacts = {
    uid,
    namespace,
    name,
    queue: typeof o.spec?.queueName === 'string' ? o.spec.queueName : '',
    phase,
    gpus: count(gpus) * count(nodes),
    createdAt: time(o.metadata?.creationTimestamp),
    startedAt: time(status.startTime),
    attempts: typeof attempts === 'number' && attempts > 0 ? attempts : 0,
  };
  if (TERMINAL.has(phase)) {
    facts.endedAt = maxDefined(time(status.completionTime), time(condition(phase === 'Succeeded' ? 'Ready' : 'Stalled')?.lastTransitionTime));
  }
  if (HELD.has(phase)) facts.heldSince = time(condition('Suspended')?.lastTransitionTime);
  if (phase === 'Failed') {
    const reason = condition('Stalled')?.reason;
    facts.failureReason = typeof reason === 'string' && reason ? reason : 'Unknown';
  }
  return facts;
}

/** GPU-seconds from status alone (see the file comment): gpus × (end − first start), 0 before the start. */
export function gpuSecondsOf(f: FineTuneJobFacts, now: number): number {
  if (f.startedAt === undefined) return 0;
  const end = TERMINAL.has(f.phase) ? (f.endedAt ?? now) : HELD.has(f.phase) ? (f.heldSince ?? now) : now;
  return (f.gpus * Math.max(0, end - f.startedAt)) / 1000;
}

/** Pod attempts beyond the first (failed pods the Job retried); a Kueue preemption is not one. */
export const restartsOf = (f: FineTuneJobFacts): number => Math.max(0, f.attempts - 1);

/**
 * Since when the job waits to run, if it does: before its first start (Pending or Queued: since its
 * creation), or Queued again after a preemption (since the hold began). Suspended by spec.suspend is not waiting.
 */
export function waitingSince(f: FineTuneJobFacts): number | undefined {
  if (f.phase === 'Queued') return f.startedAt === undefined ? f.createdAt : (f.heldSince ?? f.createdAt);
  if (f.phase === 'Pending' && f.startedAt === undefined) return f.createdAt;
  return undefined;
}

/** Seconds from creation to first start, the buckets from a few seconds to a day. */
export const QUEUED_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

const key = (namespace: string, queue: string) => JSON.stringify([namespace, queue]);

/**
 * The FineTuneJob metrics on a registry. `list` returns the cached FineTuneJobs (empty on a standby
 * replica, which has no caches: it reports no FineTuneJob series). `observe` takes every informer event,
 * for the queued-time histogram: a job is timed when the operator sees the start of a job it saw waiting.
 */
export function createFineTuneJobMetrics(registry: Registry, list: () => Iterable<unknown>, now: () => number = Date.now) {
  const facts = () => {
    const out: FineTuneJobFacts[] = [];
    for (const obj of list()) {
      const f = factsOf(obj);
      if (f) out.push(f);
    }
    return out;
  };
  /** The last GPU-seconds reported per uid: a job's series never goes down (file comment). */
  const reported = new Map<string, number>();
  /** Jobs seen before their first start, by uid. */
  const waiting = new Set<string>();
  /** (namespace, queue) pairs whose histogram series exist. */
  const histogramKeys = new Set<string>();

  const queuedSeconds = new Histogram({
    name: 'loraplane_finetunejob_queued_seconds',
    help: "Seconds from a FineTuneJob's creation to its trainer Job's first start (with Kueue: its admission), for the jobs this operator saw waiting and then start.",
    labelNames: ['namespace', 'queue'] as const,
    buckets: QUEUED_SECONDS_BUCKETS,
    registers: [registry],
  });

  return {
    phases: new Gauge({
      name: 'loraplane_finetunejobs',
      help: 'FineTuneJobs in the operator cache by namespace, queue (spec.queueName, "" without one) and status phase.',
      labelNames: ['namespace', 'queue', 'phase'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<string, Map<Phase, number>>();
        for (const f of facts()) {
          const k = key(f.namespace, f.queue);
          const byPhase = counts.get(k) ?? new Map<Phase, number>();
          counts.set(k, byPhase.set(f.phase, (byPhase.get(f.phase) ?? 0) + 1));
        }
        for (const [k, byPhase] of counts) {
          const [namespace, queue] = JSON.parse(k) as [string, string];
          for (const phase of PHASES) this.set({ namespace, queue, phase }, byPhase.get(phase) ?? 0);
        }
      },
    }),
    failed: new Gauge({
      name: 'loraplane_finetunejobs_failed',
      help: 'Failed FineTuneJobs in the operator cache by namespace, queue and the reason of their Stalled condition (OOMKilled, DeadlineExceeded, BackoffLimitExceeded, ...).',
      labelNames: ['namespace', 'queue', 'reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const f of facts()) if (f.failureReason !== undefined) this.inc({ namespace: f.namespace, queue: f.queue, reason: f.failureReason });
      },
    }),
    queuedOldest: new Gauge({
      name: 'loraplane_finetunejobs_queued_oldest_seconds',
      help: 'Seconds the longest-waiting FineTuneJob of a namespace and queue has waited to run (not yet started, or re-queued after a preemption); 0 when none waits.',
      labelNames: ['namespace', 'queue'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const t = now();
        const oldest = new Map<string, number>();
        for (const f of facts()) {
          const k = key(f.namespace, f.queue);
          const since = waitingSince(f);
          oldest.set(k, Math.max(oldest.get(k) ?? 0, since === undefined ? 0 : Math.max(0, (t - since) / 1000)));
        }
        for (const [k, seconds] of oldest) {
          const [namespace, queue] = JSON.parse(k) as [string, string];
          this.set({ namespace, queue }, seconds);
        }
      },
    }),
    gpuSeconds: new Counter({
      name: 'loraplane_finetunejob_gpu_seconds_total',
      help: 'GPU-seconds a FineTuneJob has used: spec.resources.gpus x nodes x the time since its trainer Job first started, until it ended; not counting while it is suspended or preempted.',
      labelNames: ['namespace', 'queue', 'finetunejob'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const t = now();
        const seen = new Set<string>();
        for (const f of facts()) {
          const value = Math.max(gpuSecondsOf(f, t), reported.get(f.uid) ?? 0);
          reported.set(f.uid, value);
          seen.add(f.uid);
          this.inc({ namespace: f.namespace, queue: f.queue, finetunejob: f.name }, value);
        }
        for (const uid of reported.keys()) if (!seen.has(uid)) reported.delete(uid);
      },
    }),
    restarts: new Counter({
      name: 'loraplane_finetunejob_restarts_total',
      help: "Trainer pods a FineTuneJob's Job started again after a failed one (status.attempts - 1).",
      labelNames: ['namespace', 'queue', 'finetunejob'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const f of facts()) this.inc({ namespace: f.namespace, queue: f.queue, finetunejob: f.name }, restartsOf(f));
      },
    }),
    queuedSeconds,
    /** An informer event of a FineTuneJob: times its wait when it first starts. */
    observe(obj: unknown, event: 'add' | 'update' | 'delete'): void {
      const f = factsOf(obj);
      if (!f) return;
      if (event === 'delete') return void waiting.delete(f.uid);
      // The series of every namespace and queue with a job exist from the start, so rate() sees the first observation.
      const k = key(f.namespace, f.queue);
      if (!histogramKeys.has(k)) {
        histogramKeys.add(k);
        queuedSeconds.zero({ namespace: f.namespace, queue: f.queue });
      }
      if (f.startedAt === undefined) {
        if (TERMINAL.has(f.phase)) waiting.delete(f.uid);
        else waiting.add(f.uid);
      } else if (waiting.delete(f.uid) && f.createdAt !== undefined) {
        queuedSeconds.observe({ namespace: f.namespace, queue: f.queue }, Math.max(0, (f.startedAt - f.createdAt) / 1000));
      }
    },
  };
}

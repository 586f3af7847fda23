// Observation → FineTuneJob status with kstatus conditions (Ready, Reconciling, Stalled) plus
// Scheduled and Suspended. Start and completion times are kept once set.
import type { FineTuneJob, FineTuneJobStatus } from '@loraplane/api/finetunejob';
import { mergeConditions, type ConditionInput } from '../kube/conditions.js';
import type { Observation } from './observe.js';
import { finalProgress, type Progress } from './progress.js';
import { ADAPTER_PUBLISHED } from './publish-adapter.js';

const TERMINAL = new Set(['Succeeded', 'Failed']);
/** Kueue's decision for a queued Job (set only when a Kueue Workload stands for the trainer Job). */
export const KUEUE_ADMITTED = 'Admitted';

export const isTerminal = (phase: string | undefined): boolean => !!phase && TERMINAL.has(phase);

function conditionsFor(o: Observation): ConditionInput[] {
  const inProgress = o.phase === 'Pending' || o.phase === 'Queued' || o.phase === 'Running';
  const held = o.phase === 'Suspended' || o.phase === 'Queued';
  const conditions: ConditionInput[] = [
    { type: 'Ready', status: o.phase === 'Succeeded' ? 'True' : 'False', reason: o.reason, message: o.message },
    { type: 'Reconciling', status: inProgress ? 'True' : 'False', reason: o.reason, message: inProgress ? o.message : '' },
    {
      type: 'Stalled',
      status: o.phase === 'Failed' ? 'True' : 'False',
      reason: o.phase === 'Failed' ? o.reason : 'NotStalled',
      message: o.phase === 'Failed' ? o.message : '',
    },
    { type: 'Suspended', status: held ? 'True' : 'False', reason: held ? o.reason : 'NotSuspended', message: held ? o.message : '' },
  ];
  if (o.scheduled) conditions.push({ type: 'Scheduled', ...o.scheduled });
  if (o.admitted) conditions.push({ type: KUEUE_ADMITTED, ...o.admitted });
  return conditions;
}

/** What the reconciler learnt beyond the Job and pods: live progress, and the LoraAdapter it published. */
export interface Extras {
  progress?: Progress;
  published?: ConditionInput;
}

export function nextStatus(ftj: FineTuneJob, o: Observation, jobName: string, now: string, extras: Extras = {}): FineTuneJobStatus {
  const prev = ftj.status ?? {};
  const previous = (type: string) => prev.conditions?.find((c) => c.type === type);
  const inputs = conditionsFor(o);
  if (extras.published) inputs.push(extras.published);
  const conditions = mergeConditions(prev.conditions, inputs, ftj.metadata.generation, now);
  // Keep the last known scheduling condition once the pod is gone (e.g. after it finished), and the publication's.
  const prevScheduled = previous('Scheduled');
  if (!o.scheduled && prevScheduled) conditions.push(prevScheduled);
  // Likewise Kueue's last word once its Workload has finished or gone.
  const prevAdmitted = previous(KUEUE_ADMITTED);
  if (!o.admitted && prevAdmitted) conditions.push(prevAdmitted);
  const prevPublished = previous(ADAPTER_PUBLISHED);
  if (!extras.published && prevPublished) conditions.push(prevPublished);
  const published = conditions.some((c) => c.type === ADAPTER_PUBLISHED && c.status === 'True');
  return {
    ...prev,
    phase: o.phase,
    observedGeneration: ftj.metadata.generation,
    conditions,
    jobName,
    startTime: prev.startTime ?? o.startTime,
    completionTime: isTerminal(o.phase) ? (prev.completionTime ?? o.completionTime ?? now) : undefined,
    attempts: Math.max(o.attempts, prev.attempts ?? 0),
    // Kueue's count, kept once its Workload has finished or gone.
    ...(o.preemptions || prev.preemptions ? { preemptions: Math.max(o.preemptions ?? 0, prev.preemptions ?? 0) } : {}),
    message: o.message,
    checkpoint: o.checkpoint ?? prev.checkpoint,
    // Where Kueue admitted the Job while it is admitted; cleared when evicted or waiting again.
    admission: o.admitted ? o.admission : prev.admission,
    progress: extras.progress ?? (o.result ? finalProgress(prev.progress, o.result.metrics) : prev.progress),
    result: o.result
      ? { ...(published ? { adapter: ftj.spec.output.adapterName } : {}), uri: o.result.adapterUri, digest: o.result.digest, metrics: o.result.metrics }
      : prev.result,
  };
}

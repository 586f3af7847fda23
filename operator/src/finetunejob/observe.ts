// What the trainer Job and its pods say about a FineTuneJob: phase, a reason, and a message that
// names the cause (unschedulable and for which resource, image pull, OOMKilled, deadline, backoff).
import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import type { FineTuneJob, Phase } from '@loraplane/api/finetunejob';
import { TRAINER_EXIT, isPeerFailure, parseTrainerResult, type TrainerResult } from '@loraplane/api/trainer-contract';
import { s3Uri } from '@loraplane/storage/errors';
import { folderPrefix } from '@loraplane/storage/location';
import type { KueueView } from './kueue.js';
import { LABEL_KUEUE_QUEUE } from './naming.js';

export interface Observation {
  phase: Phase;
  /** CamelCase reason for the conditions and events. */
  reason: string;
  message: string;
  scheduled?: { status: 'True' | 'False'; reason: string; message: string };
  startTime?: string;
  completionTime?: string;
  attempts: number;
  result?: Extract<TrainerResult, { adapterUri: string }>;
  /** The newest checkpoint a finished or stopped trainer container reported. */
  checkpoint?: { step: number; uri: string };
  /** Kueue's decision for a queued Job: the Admitted condition, in Kueue's words. */
  admitted?: { status: 'True' | 'False'; reason: string; message: string };
  /** Where Kueue admitted it; undefined while it is not (with `admitted` set). */
  admission?: KueueView['admission'];
  /** Kueue's count of the Workload's preemptions. */
  preemptions?: number;
}

const IMAGE_PROBLEMS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_PROBLEMS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

const iso = (t: Date | string | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
const jobCondition = (job: V1Job, type: string): V1JobCondition | undefined => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');

const byCreation = (a: V1Pod, b: V1Pod) => new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime();

/** How one finished trainer container ended, in words. */
export function describeTermination(pod: V1Pod): string | undefined {
  const state = pod.status?.containerStatuses?.find((c) => c.name === 'trainer')?.state?.terminated;
  if (!state) return pod.status?.reason ? `pod ${pod.status.reason}: ${pod.status.message ?? ''}`.trim() : undefined;
  if (state.reason === 'OOMKilled') {
    const limit = pod.spec?.containers.find((c) => c.name === 'trainer')?.resources?.limits?.memory;
    return `trainer was OOMKilled${limit ? ` (memory limit ${limit})` : ''}`;
  }
  const result = parseTrainerResult(state.message);
  const detail = result && 'error' in result ? result.error : state.message?.trim().split('\n').slice(-3).join(' | ');
  return `trainer exited with code ${state.exitCode}${detail ? `: ${detail}` : ''}`;
}

function pendingCause(pod: V1Pod): Pick<Observation, 'reason' | 'message' | 'scheduled'> {
  const scheduledCond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduledCond?.status === 'False') {
    const message = `no node can run the trainer: ${scheduledCond.message ?? scheduledCond.reason ?? 'unschedulable'}`;
    const reason = scheduledCond.reason ?? 'Unschedulable';
    return { reason, message, scheduled: { status: 'False', reason, message } };
  }
  const scheduled = pod.spec?.nodeName
    ? { status: 'True' as const, reason: 'Scheduled', message: `trainer pod ${pod.metadata?.name} bound to node ${pod.spec.nodeName}` }
    : undefined;
  const waiting = pod.status?.containerStatuses?.find((c) => c.name === 'trainer')?.state?.waiting;
  if (waiting?.reason && IMAGE_PROBLEMS.has(waiting.reason)) {
    const image = pod.spec?.containers[0]?.image;
    return { reason: waiting.reason, message: `cannot pull trainer image ${image}: ${waiting.message ?? waiting.reason}`, scheduled };
  }
  if (waiting?.reason && CONFIG_PROBLEMS.has(waiting.reason)) {
    return { reason: waiting.reason, message: `cannot start the trainer container: ${waiting.message ?? waiting.reason}`, scheduled };
  }
  return { reason: 'PodStarting', message: `trainer pod ${pod.metadata?.name} is starting`, scheduled };
}

/** Where the trainer must have written the adapter: the spec's output location, as the uploader names it. */
export const outputUri = (ftj: FineTuneJob): string => s3Uri(ftj.spec.output.storage.s3.bucket, folderPrefix(ftj.spec.output.storage.s3.prefix));

const terminationMessage = (pod: V1Pod) => pod.status?.containerStatuses?.find((c) => c.name === 'trainer')?.state?.terminated?.message;

function newestCheckpoint(pods: V1Pod[]): Observation['checkpoint'] {
  const reported = pods.map((p) => parseTrainerResult(terminationMessage(p))?.checkpoint).filter((c) => c !== undefined);
  return reported.sort((a, b) => a.step - b.step).at(-1);
}

/** `kueue`: what Kueue decided about the Job (kueue.ts), when a Workload stands for it. */
export function observe(ftj: FineTuneJob, job: V1Job | undefined, pods: V1Pod[], kueue?: KueueView): Observation {
  let observation = observeJob(ftj, job, pods, kueue);
  if (kueue)
    observation = { ...observation, admitted: kueue.condition, admission: kueue.admission, ...(kueue.preemptions ? { preemptions: kueue.preemptions } : {}) };
  const checkpoint = newestCheckpoint(pods);
  return checkpoint ? { ...observation, checkpoint } : observation;
}

/**
 * The failed pod that says why: in a multi-pod group the rank that failed, not the peers that stopped
 * because of it (their collectives report the peer's failure).
 */
function lastFailure(sorted: V1Pod[]): V1Pod | undefined {
  const failed = sorted.filter((p) => p.status?.phase === 'Failed');
  return failed.findLast((p) => !isPeerFailure(describeTermination(p))) ?? failed.at(-1);
}

function observeJob(ftj: FineTuneJob, job: V1Job | undefined, pods: V1Pod[], kueue: KueueView | undefined): Observation {
  // An attempt runs every pod of the group: a multi-pod group's restart is one attempt, however many pods it took.
  const podCount = job ? (job.status?.active ?? 0) + (job.status?.failed ?? 0) + (job.status?.succeeded ?? 0) : 0;
  const attempts = Math.ceil(podCount / ftj.spec.resources.nodes);
  if (!job) return { phase: 'Pending', reason: 'JobCreating', message: 'creating the trainer Job', attempts };

  const sorted = [...pods].sort(byCreation);
  const startTime = iso(job.status?.startTime);
  const complete = jobCondition(job, 'Complete');
  if (complete) {
    // Rank 0 reports the result: the only pod, or pod 0 of a group (the others end without one).
    const succeeded = sorted.filter((p) => p.status?.phase === 'Succeeded');
    const succeededPod = succeeded.findLast((p) => parseTrainerResult(terminationMessage(p))) ?? succeeded.at(-1);
    const parsed = parseTrainerResult(succeededPod && terminationMessage(succeededPod));
    const result = parsed && 'adapterUri' in parsed ? parsed : undefined;
    const finished = { startTime, completionTime: iso(job.status?.completionTime ?? complete.lastTransitionTime), attempts };
    // Nothing is published on the trainer's word alone: it must have reported the spec's own output location.
    const expected = outputUri(ftj);
    if (!result)
      return {
        phase: 'Failed',
        reason: 'NoResult',
        message: 'the trainer exited 0 without a result in its termination message; nothing was published',
        ...finished,
      };
    if (result.adapterUri !== expected)
      return {
        phase: 'Failed',
        reason: 'ResultMismatch',
        message: `the trainer reported an adapter at ${result.adapterUri}, not at spec.output (${expected}); nothing was published`,
        ...finished,
      };
    return {
      phase: 'Succeeded',
      reason: 'TrainingSucceeded',
      message: `adapter written to ${result.adapterUri}`,
      ...finished,
      result,
    };
  }
  const failed = jobCondition(job, 'Failed');
  if (failed) {
    const lastFailed = lastFailure(sorted);
    const cause = lastFailed ? describeTermination(lastFailed) : undefined;
    const what =
      failed.reason === 'DeadlineExceeded'
        ? `exceeded activeDeadlineSeconds=${job.spec?.activeDeadlineSeconds}`
        : failed.reason === 'BackoffLimitExceeded'
          ? `failed ${job.status?.failed ?? 0} time(s), backoffLimit=${job.spec?.backoffLimit}`
          : failed.reason === 'PodFailurePolicy'
            ? `failed permanently and was not retried (exit code ${TRAINER_EXIT.permanent}: the same spec would fail the same way)`
            : (failed.message ?? 'failed');
    return {
      phase: 'Failed',
      reason: failed.reason ?? 'JobFailed',
      message: `trainer ${what}${cause ? `; last attempt: ${cause}` : ''}`,
      startTime,
      completionTime: iso(failed.lastTransitionTime),
      attempts,
    };
  }
  if (job.spec?.suspend) {
    if (ftj.spec.suspend) return { phase: 'Suspended', reason: 'Suspended', message: 'suspended by spec.suspend', startTime, attempts };
    // Kueue holds the Job: say why in its words (waiting for quota, evicted, preempted and by whom).
    if (kueue) return { phase: 'Queued', ...kueue.queued, startTime, attempts };
    return {
      phase: 'Queued',
      reason: 'WaitingForAdmission',
      message: `waiting for Kueue to admit the Job from queue ${ftj.spec.queueName ?? job.metadata?.labels?.[LABEL_KUEUE_QUEUE]}`,
      startTime,
      attempts,
    };
  }

  const live = sorted.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  const previousFailure = lastFailure(sorted);
  const retryNote = previousFailure ? ` (retrying; previous attempt: ${describeTermination(previousFailure)})` : '';
  const current = live.at(-1);
  if (current?.status?.phase === 'Running') {
    const running = live.filter((p) => p.status?.phase === 'Running');
    const where =
      running.length > 1
        ? `${running.length} trainer pods running: ${running.map((p) => `${p.metadata?.name} on ${p.spec?.nodeName}`).join(', ')}`
        : `trainer pod ${current.metadata?.name} running on ${current.spec?.nodeName}`;
    return {
      phase: 'Running',
      reason: 'TrainerRunning',
      message: `${where}${retryNote}`,
      scheduled: { status: 'True', reason: 'Scheduled', message: `bound to node ${current.spec?.nodeName}` },
      startTime: startTime ?? iso(current.status.startTime),
      attempts,
    };
  }
  const latest = sorted.at(-1);
  if (!current && latest?.status?.phase === 'Succeeded') {
    // The trainer exited 0; the Job controller has yet to mark the Job Complete.
    return { phase: 'Running', reason: 'TrainerFinished', message: `trainer pod ${latest.metadata?.name} finished; completing the Job`, startTime, attempts };
  }
  if (current) {
    const cause = pendingCause(current);
    return { phase: 'Pending', ...cause, message: cause.message + retryNote, startTime, attempts };
  }
  return {
    phase: 'Pending',
    reason: 'PodCreating',
    message: `waiting for the Job controller to create a trainer pod (kubectl describe job ${job.metadata?.name})${retryNote}`,
    startTime,
    attempts,
  };
}

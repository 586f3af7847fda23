// What Kueue decided about a trainer Job, read from the Workload Kueue keeps for it
// (kueue.x-k8s.io/v1beta2): waiting and why, quota reserved, admitted by which ClusterQueue with which
// flavors, evicted or preempted and by whom. Kueue alone suspends and unsuspends a queued Job and
// injects the flavor's node selectors into it; the operator writes one thing on a Workload: spec.active,
// Kueue's own switch, for the FineTuneJob's spec.suspend (reconciler.ts).
import type { V1Job } from '@kubernetes/client-node';

export const KUEUE_GROUP = 'kueue.x-k8s.io';
export const KUEUE_VERSION = 'v1beta2';
export const WORKLOADS = 'workloads';
/** Kueue labels each Workload with the uid of the Job it stands for. */
export const LABEL_KUEUE_JOB_UID = 'kueue.x-k8s.io/job-uid';
/**
 * Set on a Workload the operator deactivated (spec.active: false) for the FineTuneJob's spec.suspend:
 * only such a Workload is reactivated on resume, never one Kueue or an administrator deactivated.
 */
export const ANNOTATION_DEACTIVATED = 'loraplane.io/deactivated-by';
export const DEACTIVATED_BY_SPEC = 'spec.suspend';

export interface WorkloadCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

/** The parts of a Kueue Workload the operator reads. */
export interface Workload {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec?: { queueName?: string; active?: boolean };
  status?: {
    conditions?: WorkloadCondition[];
    admission?: { clusterQueue: string; podSetAssignments?: { name: string; flavors?: Record<string, string>; count?: number }[] };
    /** Kueue counts each eviction by reason (Preempted, PodsReadyTimeout...) and underlying cause. */
    schedulingStats?: { evictions?: { reason: string; underlyingCause?: string; count: number }[] };
  };
}

/** The Workload Kueue made for this Job: the one the Job controls (ownerReference), else the one labelled with its uid. */
export function workloadOf(job: V1Job, workloads: Iterable<Workload>): Workload | undefined {
  const uid = job.metadata?.uid;
  if (!uid) return undefined;
  let labelled: Workload | undefined;
  for (const wl of workloads) {
    if (wl.metadata?.ownerReferences?.some((o) => o.kind === 'Job' && o.uid === uid && o.controller)) return wl;
    if (wl.metadata?.labels?.[LABEL_KUEUE_JOB_UID] === uid) labelled ??= wl;
  }
  return labelled;
}

/** The Job a Workload stands for, by name, in the Workload's namespace. */
export function jobNameOf(wl: Workload): string | undefined {
  return wl.metadata?.ownerReferences?.find((o) => o.kind === 'Job' && o.controller)?.name;
}

export type KueueState = 'Pending' | 'QuotaReserved' | 'Admitted' | 'Evicted' | 'Finished';

export interface KueueDecision {
  /** The Workload's name (kubectl get workload -n <ns> <name>). */
  workload: string;
  state: KueueState;
  /** Kueue's reason: Pending, Inadmissible, Admitted, Preempted, InactiveWorkload, PodsReadyTimeout... */
  reason: string;
  /** Kueue's own words. */
  message: string;
  /** Set once quota is reserved: the ClusterQueue that admits it. */
  clusterQueue?: string;
  /** Resource → ResourceFlavor, over the Workload's pod sets. */
  flavors?: Record<string, string>;
  /** Kueue's Preempted reason (InClusterQueue, InCohortReclamation, InCohortFairSharing...) when evicted by preemption. */
  preemption?: string;
  /** The uid of the Job whose Workload preempted this one (from Kueue's message). */
  preemptorJobUid?: string;
  /** While evicted: why it is not admitted again yet (Kueue's QuotaReserved message). */
  waiting?: string;
  /** How many times Kueue has preempted the Workload (its schedulingStats), when it has. */
  preemptions?: number;
}

/** Kueue's own count of the Workload's preemptions (status.schedulingStats.evictions, reason Preempted). */
export function preemptionsOf(wl: Workload): number {
  return (wl.status?.schedulingStats?.evictions ?? []).filter((e) => e.reason === 'Preempted').reduce((n, e) => n + (e.count ?? 0), 0);
}

const cond = (wl: Workload, type: string) => wl.status?.conditions?.find((c) => c.type === type);
const isTrue = (wl: Workload, type: string) => cond(wl, type)?.status === 'True';

function flavorsOf(wl: Workload): Record<string, string> | undefined {
  const assignments = wl.status?.admission?.podSetAssignments ?? [];
  const flavors: Record<string, string> = {};
  for (const a of assignments) Object.assign(flavors, a.flavors ?? {});
  return Object.keys(flavors).length ? flavors : undefined;
}

/** "flavor h100 for cpu, memory, nvidia.com/gpu", or one clause per flavor when they differ. */
export function describeFlavors(flavors: Record<string, string> | undefined): string {
  if (!flavors) return '';
  const byFlavor = new Map<string, string[]>();
  for (const [resource, flavor] of Object.entries(flavors).sort(([a], [b]) => a.localeCompare(b))) {
    byFlavor.set(flavor, [...(byFlavor.get(flavor) ?? []), resource]);
  }
  return [...byFlavor].map(([flavor, resources]) => `flavor ${flavor} for ${resources.join(', ')}`).join('; ');
}

/** Kueue's "(UID: <workload uid>, JobUID: <job uid>)" in a preemption message. */
const PREEMPTOR = /\(UID: [^,)]+, JobUID: ([^)\s]+)\)/;

/** Where a Workload stands, in Kueue's words: its conditions, newest decision first. */
export function kueueDecision(wl: Workload): KueueDecision {
  const preemptions = preemptionsOf(wl);
  const decision = decide(wl);
  return preemptions ? { ...decision, preemptions } : decision;
}

function decide(wl: Workload): KueueDecision {
  const workload = wl.metadata?.name ?? '';
  const clusterQueue = wl.status?.admission?.clusterQueue;
  const flavors = flavorsOf(wl);
  const base = { workload, ...(clusterQueue ? { clusterQueue } : {}), ...(flavors ? { flavors } : {}) };
  const finished = cond(wl, 'Finished');
  if (finished?.status === 'True') return { ...base, state: 'Finished', reason: finished.reason ?? 'Finished', message: finished.message ?? '' };
  // Evicted stays True until the Workload gets quota again; Preempted names the preemption's kind.
  const evicted = cond(wl, 'Evicted');
  if (evicted?.status === 'True') {
    const preempted = cond(wl, 'Preempted');
    const message = evicted.message ?? preempted?.message ?? '';
    const preemptorJobUid = PREEMPTOR.exec(message)?.[1];
    const reserved = cond(wl, 'QuotaReserved');
    const waiting = reserved?.status === 'False' && reserved.message && reserved.message !== message ? reserved.message : undefined;
    return {
      workload,
      state: 'Evicted',
      reason: evicted.reason ?? 'Evicted',
      message,
      ...(preempted?.status === 'True' && preempted.reason ? { preemption: preempted.reason } : {}),
      ...(preemptorJobUid && preemptorJobUid !== 'UNKNOWN' ? { preemptorJobUid } : {}),
      ...(waiting ? { waiting } : {}),
    };
  }
  if (isTrue(wl, 'Admitted')) {
    const admitted = cond(wl, 'Admitted')!;
    return { ...base, state: 'Admitted', reason: admitted.reason ?? 'Admitted', message: admitted.message ?? '' };
  }
  if (isTrue(wl, 'QuotaReserved')) {
    const reserved = cond(wl, 'QuotaReserved')!;
    // Quota is held; admission checks (provisioning, MultiKueue...) decide the rest.
    const admitted = cond(wl, 'Admitted');
    return {
      ...base,
      state: 'QuotaReserved',
      reason: admitted?.reason ?? reserved.reason ?? 'QuotaReserved',
      message: admitted?.message || reserved.message || '',
    };
  }
  const pending = cond(wl, 'QuotaReserved');
  // A Workload Kueue's scheduler has not looked at yet has no QuotaReserved condition.
  if (!pending) return { workload, state: 'Pending', reason: 'WorkloadCreated', message: `Kueue has not yet considered Workload ${workload}` };
  return { workload, state: 'Pending', reason: pending.reason ?? 'Pending', message: pending.message ?? '' };
}

/** How the FineTuneJob's status says a decision: its Admitted condition, why a suspended Job waits, and where it is admitted. */
export interface KueueView {
  condition: { status: 'True' | 'False'; reason: string; message: string };
  /** Reason and message of phase Queued while Kueue holds the Job suspended. */
  queued: { reason: string; message: string };
  /** The ClusterQueue and flavors, while quota is reserved or the Workload admitted. */
  admission?: { workload: string; clusterQueue: string; flavors?: Record<string, string> };
  /** Kueue's count of the Workload's preemptions, when it has been preempted. */
  preemptions?: number;
}

/**
 * The decision in the FineTuneJob's terms, keeping Kueue's own reason and message. `preemptor` names the
 * FineTuneJob (namespace/name) whose Job preempted this one, when the operator knows it. A finished
 * Workload says nothing the Job does not: undefined.
 */
export function kueueView(d: KueueDecision, queueName: string | undefined, preemptor?: string): KueueView | undefined {
  const from = queueName ? ` from LocalQueue ${queueName}` : '';
  const where = (cq: string) => {
    const flavors = describeFlavors(d.flavors);
    return `ClusterQueue ${cq}${flavors ? ` (${flavors})` : ''}`;
  };
  const admission = d.clusterQueue ? { workload: d.workload, clusterQueue: d.clusterQueue, ...(d.flavors ? { flavors: d.flavors } : {}) } : undefined;
  const view = viewOf(d, from, where, admission, preemptor);
  return view && d.preemptions ? { ...view, preemptions: d.preemptions } : view;
}

function viewOf(
  d: KueueDecision,
  from: string,
  where: (cq: string) => string,
  admission: KueueView['admission'],
  preemptor: string | undefined,
): KueueView | undefined {
  // Admitted again after Kueue preempted it: the trainer resumes from its newest checkpoint.
  const again = d.preemptions ? ` again after ${d.preemptions === 1 ? 'a preemption' : `${d.preemptions} preemptions`}` : '';
  switch (d.state) {
    case 'Finished':
      return undefined;
    case 'Pending':
      return {
        condition: { status: 'False', reason: d.reason, message: d.message },
        // Kueue's "Pending" is the ordinary wait for quota; any other reason (Inadmissible...) is passed on.
        queued: { reason: d.reason === 'Pending' ? 'WaitingForAdmission' : d.reason, message: `waiting for Kueue to admit the Job${from}: ${d.message}` },
      };
    case 'QuotaReserved': {
      const message = `quota reserved in ${where(d.clusterQueue ?? 'unknown')}; waiting for admission checks${d.message ? `: ${d.message}` : ''}`;
      return { condition: { status: 'False', reason: d.reason, message }, queued: { reason: 'QuotaReserved', message }, admission };
    }
    case 'Admitted': {
      const message = `admitted${again} by ${where(d.clusterQueue ?? 'unknown')}`;
      return {
        condition: { status: 'True', reason: 'Admitted', message },
        queued: { reason: 'Admitted', message: `${message}; Kueue is starting the Job` },
        admission,
      };
    }
    case 'Evicted': {
      const message =
        d.reason === 'Preempted'
          ? `preempted${preemptor ? ` by FineTuneJob ${preemptor}` : ''}${d.preemption ? ` (${d.preemption})` : ''}: ${d.message}`
          : `evicted by Kueue (${d.reason}): ${d.message}`;
      return {
        condition: { status: 'False', reason: d.reason, message },
        queued: { reason: d.reason, message: `${message}; waiting to be admitted again${d.waiting ? `: ${d.waiting}` : ''}` },
      };
    }
  }
}

// Names and labels of what a FineTuneJob owns: pure functions of the FineTuneJob, so a restarted
// operator finds the Job it created instead of creating a second one.
import { createHash } from 'node:crypto';

export const LABEL_FINETUNEJOB = 'loraplane.io/finetunejob';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'loraplane-operator';
export const LABEL_KUEUE_QUEUE = 'kueue.x-k8s.io/queue-name';
/** Kueue's WorkloadPriorityClass label on a Job (sigs.k8s.io/kueue pkg/controller/constants: WorkloadPriorityClassLabel). */
export const LABEL_KUEUE_PRIORITY_CLASS = 'kueue.x-k8s.io/priority-class';
/** The Job controller labels the pods it creates with the Job's name. */
export const LABEL_JOB_NAME = 'batch.kubernetes.io/job-name';

/** The Job controller's annotation (and env JOB_COMPLETION_INDEX) with an Indexed Job pod's index. */
export const ANNOTATION_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';

/**
 * `<name>-<6 hex of the uid>`: unique per FineTuneJob incarnation, at most 63 characters (a label value).
 * With more than one pod the Job controller names each pod's host `<job>-<index>`, a DNS label: no
 * dots, and room left for the index.
 */
export function trainerJobName(name: string, uid: string, nodes = 1): string {
  const suffix = createHash('sha256').update(uid).digest('hex').slice(0, 6);
  const base = nodes > 1 ? name.replace(/\./g, '-').slice(0, 56 - `-${nodes - 1}`.length) : name.slice(0, 56);
  return `${base.replace(/[-.]+$/, '')}-${suffix}`;
}

/** The headless Service of a multi-pod trainer Job: a DNS-1035 label (a Service name starts with a letter). */
export const trainerServiceName = (jobName: string): string => (/^[a-z]/.test(jobName) ? jobName : `lp-${jobName}`);

/** Rank 0's address: pod 0's name under the headless Service, as cluster DNS serves it. */
export const rendezvousAddress = (jobName: string, namespace: string): string => `${jobName}-0.${trainerServiceName(jobName)}.${namespace}.svc`;

export function trainerLabels(ftjName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'loraplane-trainer',
    'app.kubernetes.io/instance': ftjName.slice(0, 63),
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_FINETUNEJOB]: ftjName.slice(0, 63),
  };
}

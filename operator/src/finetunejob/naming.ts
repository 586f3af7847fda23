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

/** `<name>-<6 hex of the uid>`: unique per FineTuneJob incarnation, at most 63 characters (a label value). */
export function trainerJobName(name: string, uid: string): string {
  const suffix = createHash('sha256').update(uid).digest('hex').slice(0, 6);
  return `${name.slice(0, 56).replace(/[-.]+$/, '')}-${suffix}`;
}

export function trainerLabels(ftjName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'loraplane-trainer',
    'app.kubernetes.io/instance': ftjName.slice(0, 63),
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_FINETUNEJOB]: ftjName.slice(0, 63),
  };
}

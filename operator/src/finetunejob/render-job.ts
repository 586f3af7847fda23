// FineTuneJob → batch/v1 Job for the trainer. Pure: same inputs, same Job.
import type { V1Affinity, V1EnvVar, V1Job, V1Service, V1Toleration } from '@kubernetes/client-node';
import { API_VERSION } from '@loraplane/api/group';
import type { FineTuneJob } from '@loraplane/api/finetunejob';
import {
  METRICS_PORT,
  RENDEZVOUS_ADDR_ENV,
  RENDEZVOUS_TIMEOUT_ENV,
  SCRATCH_PATH,
  SCRATCH_PATH_ENV,
  STORAGE_ROLES,
  TERMINATION_MESSAGE_ENV,
  TERMINATION_MESSAGE_PATH,
  TRAINER_CONFIG_ENV,
  TRAINER_EXIT,
  credentialEnv,
  pvcMountPath,
  secretKey,
  type CredentialPart,
  type StorageRole,
  trainerConfigOf,
} from '@loraplane/api/trainer-contract';
import {
  LABEL_JOB_NAME,
  LABEL_KUEUE_PRIORITY_CLASS,
  LABEL_KUEUE_QUEUE,
  rendezvousAddress,
  trainerJobName,
  trainerLabels,
  trainerServiceName,
} from './naming.js';

export interface TrainerDefaults {
  image: string;
  serviceAccountName: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** How long a multi-pod group's ranks wait for each other to join; the trainer's default (600) when unset. */
  rendezvousTimeoutSeconds?: number;
}

export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';
/** The taint GPU operators put on GPU nodes; the trainer must tolerate it. */
export const GPU_TOLERATION: V1Toleration = { key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' };

type Identified = FineTuneJob & { metadata: { namespace: string; uid: string } };

function secretNameFor(ftj: FineTuneJob, role: StorageRole): string | undefined {
  switch (role) {
    case 'baseModel':
      return ftj.spec.baseModel.source.s3?.credentialsSecret?.name;
    case 'dataset':
      return ftj.spec.dataset.source.s3?.credentialsSecret?.name;
    case 'output':
      return ftj.spec.output.storage.s3.credentialsSecret?.name;
  }
}

/** S3 credentials reach the trainer only through secretKeyRef, never through the config. */
function credentialEnvVars(ftj: FineTuneJob): V1EnvVar[] {
  const parts: CredentialPart[] = ['accessKeyId', 'secretAccessKey', 'sessionToken'];
  return STORAGE_ROLES.flatMap((role) => {
    const secret = secretNameFor(ftj, role);
    if (!secret) return [];
    return parts.map((part) => ({
      name: credentialEnv(role, part),
      valueFrom: { secretKeyRef: { name: secret, key: secretKey(part), optional: part === 'sessionToken' } },
    }));
  });
}

function pvcVolumes(ftj: FineTuneJob) {
  const claims = new Set([ftj.spec.baseModel.source.pvc?.claimName, ftj.spec.dataset.source.pvc?.claimName].filter((c): c is string => !!c));
  return [...claims].map((claimName) => ({
    volume: { name: `pvc-${claimName}`.slice(0, 63), persistentVolumeClaim: { claimName, readOnly: true } },
    mount: { name: `pvc-${claimName}`.slice(0, 63), mountPath: pvcMountPath(claimName), readOnly: true },
  }));
}

const ownerOf = (ftj: Identified) => ({
  apiVersion: API_VERSION,
  kind: 'FineTuneJob',
  name: ftj.metadata.name,
  uid: ftj.metadata.uid,
  controller: true,
  blockOwnerDeletion: true,
});

/**
 * The headless Service of a multi-pod trainer Job: cluster DNS gives each pod the name
 * `<job>-<index>.<service>.<namespace>.svc`, and the other pods find rank 0 (pod 0) by its name. Its
 * addresses are published before the pods are ready: the ranks meet before any readiness could pass.
 */
export function renderTrainerService(ftj: Identified): V1Service {
  const jobName = trainerJobName(ftj.metadata.name, ftj.metadata.uid, ftj.spec.resources.nodes);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: trainerServiceName(jobName),
      namespace: ftj.metadata.namespace,
      labels: trainerLabels(ftj.metadata.name),
      ownerReferences: [ownerOf(ftj)],
    },
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { [LABEL_JOB_NAME]: jobName } },
  };
}

export function renderTrainerJob(ftj: Identified, defaults: TrainerDefaults): V1Job {
  const { spec, metadata } = ftj;
  const res = spec.resources;
  const jobName = trainerJobName(metadata.name, metadata.uid, res.nodes);
  // One pod per node of a multi-pod group: an Indexed Job (the pod's index is its node rank) under a headless Service.
  const multiPod = res.nodes > 1;
  const labels = { ...trainerLabels(metadata.name), ...(spec.queueName ? { [LABEL_KUEUE_QUEUE]: spec.queueName } : {}) };
  const limits: Record<string, string> = { [GPU_RESOURCE]: String(res.gpus) };
  const requests: Record<string, string> = { [GPU_RESOURCE]: String(res.gpus) };
  if (res.cpu) requests.cpu = res.cpu;
  if (res.memory) {
    requests.memory = res.memory;
    limits.memory = res.memory;
  }
  const nodeSelector = { ...(res.nodeSelector ?? {}), ...(res.gpuProduct ? { [GPU_PRODUCT_LABEL]: res.gpuProduct } : {}) };
  const pvcs = pvcVolumes(ftj);
  // The user's entries come first: the API server rejects reserved names, and since a $(VAR)
  // reference expands only from earlier entries, none of them can reach the credentials below.
  const env: V1EnvVar[] = [
    ...(spec.trainer?.env ?? []),
    {
      name: TRAINER_CONFIG_ENV,
      value: JSON.stringify(trainerConfigOf(ftj.spec, { namespace: ftj.metadata.namespace, name: ftj.metadata.name, uid: ftj.metadata.uid })),
    },
    { name: TERMINATION_MESSAGE_ENV, value: TERMINATION_MESSAGE_PATH },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: SCRATCH_PATH_ENV, value: SCRATCH_PATH },
    { name: 'HOME', value: SCRATCH_PATH },
    ...credentialEnvVars(ftj),
    ...(multiPod ? [{ name: RENDEZVOUS_ADDR_ENV, value: rendezvousAddress(jobName, metadata.namespace) }] : []),
    ...(multiPod && defaults.rendezvousTimeoutSeconds ? [{ name: RENDEZVOUS_TIMEOUT_ENV, value: String(defaults.rendezvousTimeoutSeconds) }] : []),
  ];

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName,
      namespace: metadata.namespace,
      // Kueue reads the WorkloadPriorityClass from the Job's own labels (not its pods').
      labels: { ...labels, ...(spec.queueName && spec.workloadPriorityClassName ? { [LABEL_KUEUE_PRIORITY_CLASS]: spec.workloadPriorityClassName } : {}) },
      ownerReferences: [ownerOf(ftj)],
    },
    spec: {
      // Kueue admits a queued Job by unsuspending it; without a queue, spec.suspend decides.
      suspend: spec.suspend || !!spec.queueName,
      backoffLimit: spec.backoffLimit,
      activeDeadlineSeconds: spec.activeDeadlineSeconds,
      ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished,
      // Kueue admits the pods of a multi-pod Job as one podSet of count `parallelism`: all or none.
      completions: res.nodes,
      parallelism: res.nodes,
      ...(multiPod ? { completionMode: 'Indexed' } : {}),
      // A preempted or evicted pod is not the trainer's fault; it resumes from its checkpoint. A
      // permanent failure (bad config or data, storage that refuses, diverged training) fails the
      // Job at once: another attempt would fail the same way. In a multi-pod group, a pod whose
      // ranks stopped because a peer pod was stopped (SIGTERM: evicted, deleted) checkpointed with
      // it and is not at fault either.
      podFailurePolicy: {
        rules: [
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          { action: 'FailJob', onExitCodes: { containerName: 'trainer', operator: 'In', values: [TRAINER_EXIT.permanent] } },
          ...(multiPod ? [{ action: 'Ignore', onExitCodes: { containerName: 'trainer', operator: 'In', values: [TRAINER_EXIT.stopped] } }] : []),
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // Indexed pods get the hostname <job>-<index>; with the headless Service as subdomain they resolve by name.
          subdomain: multiPod ? trainerServiceName(jobName) : undefined,
          serviceAccountName: spec.trainer?.serviceAccountName ?? defaults.serviceAccountName,
          // Progress is read from the trainer's /metrics; it needs no API access.
          automountServiceAccountToken: false,
          priorityClassName: res.priorityClassName,
          nodeSelector: Object.keys(nodeSelector).length ? nodeSelector : undefined,
          tolerations: [GPU_TOLERATION, ...(res.tolerations ?? [])],
          affinity: res.affinity as V1Affinity | undefined,
          terminationGracePeriodSeconds: 120,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'trainer',
              image: spec.trainer?.image ?? defaults.image,
              imagePullPolicy: defaults.imagePullPolicy,
              command: ['loraplane-trainer'],
              env,
              ports: [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
              resources: { limits, requests },
              volumeMounts: [{ name: 'scratch', mountPath: SCRATCH_PATH }, { name: 'dshm', mountPath: '/dev/shm' }, ...pvcs.map((p) => p.mount)],
              terminationMessagePath: TERMINATION_MESSAGE_PATH,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes: [
            { name: 'scratch', emptyDir: { sizeLimit: res.scratch } },
            { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: res.sharedMemory } },
            ...pvcs.map((p) => p.volume),
          ],
        },
      },
    },
  };
}

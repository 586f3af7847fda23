import { describe, expect, it } from 'vitest';
import { credentialEnv, RENDEZVOUS_ADDR_ENV, RENDEZVOUS_TIMEOUT_ENV, trainerConfig, TRAINER_CONFIG_ENV, TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import { trainerJobName, trainerServiceName } from './naming.js';
import { renderTrainerJob, renderTrainerService } from './render-job.js';

const defaults = { image: 'ghcr.io/loraplane/trainer:test', serviceAccountName: 'loraplane-trainer', imagePullPolicy: 'IfNotPresent' as const };

describe('renderTrainerJob', () => {
  const ftj = exampleFineTuneJob();
  const job = renderTrainerJob(ftj, defaults);
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('names the Job deterministically from name and uid, within 63 characters', () => {
    expect(job.metadata!.name).toBe(trainerJobName('support-assistant', ftj.metadata.uid));
    expect(renderTrainerJob(ftj, defaults)).toEqual(job);
    expect(trainerJobName('x'.repeat(253), 'u')).toHaveLength(63);
    expect(trainerJobName('a', 'uid-1')).not.toBe(trainerJobName('a', 'uid-2'));
  });

  it('is owned by the FineTuneJob so garbage collection removes it', () => {
    expect(job.metadata!.ownerReferences).toEqual([
      {
        apiVersion: 'loraplane.io/v1alpha1',
        kind: 'FineTuneJob',
        name: 'support-assistant',
        uid: ftj.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it('asks for the GPUs on the requested product and tolerates the GPU taint', () => {
    expect(container.resources!.limits).toEqual({ 'nvidia.com/gpu': '1', memory: '32Gi' });
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(pod.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    expect(pod.restartPolicy).toBe('Never');
  });

  it('passes S3 credentials only through secretKeyRef and never in the config', () => {
    const env = container.env!;
    const keyId = env.find((e) => e.name === credentialEnv('output', 'accessKeyId'));
    expect(keyId?.valueFrom?.secretKeyRef).toEqual({ name: 's3-credentials', key: 'AWS_ACCESS_KEY_ID', optional: false });
    const config = env.find((e) => e.name === TRAINER_CONFIG_ENV)!.value!;
    expect(config).not.toContain('loraplane-secret');
    expect(trainerConfig.parse(JSON.parse(config)).spec.training.epochs).toBe(3);
    expect(env.every((e) => e.value === undefined || !/secret/i.test(e.value) || e.name === TRAINER_CONFIG_ENV)).toBe(true);
  });

  it("puts the user's env first, so a $(VAR) in it can name none of the operator's variables", () => {
    const withEnv = renderTrainerJob(
      { ...ftj, spec: { ...ftj.spec, trainer: { env: [{ name: 'LEAK', value: `$(${credentialEnv('output', 'secretAccessKey')})` }] } } },
      defaults,
    );
    const names = withEnv.spec!.template.spec!.containers[0]!.env!.map((e) => e.name);
    expect(names[0]).toBe('LEAK');
    expect(names.indexOf(credentialEnv('output', 'secretAccessKey'))).toBeGreaterThan(0);
  });

  it("fails the Job at once on the trainer's permanent-failure exit code, and ignores disruptions", () => {
    expect(job.spec!.podFailurePolicy!.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'FailJob', onExitCodes: { containerName: 'trainer', operator: 'In', values: [TRAINER_EXIT.permanent] } },
    ]);
  });

  it('runs restricted, with scratch and in-memory /dev/shm and the termination message path', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.volumes).toContainEqual({ name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '8Gi' } });
    expect(container.volumeMounts!.map((m) => m.mountPath)).toEqual(['/scratch', '/dev/shm']);
    expect(container.terminationMessagePath).toBe('/dev/termination-log');
    expect(container.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('creates the Job suspended with the Kueue label when a queue is named, and on spec.suspend', () => {
    expect(job.spec!.suspend).toBe(false);
    const queued = renderTrainerJob({ ...ftj, spec: { ...ftj.spec, queueName: 'gpu-queue' } }, defaults);
    expect(queued.spec!.suspend).toBe(true);
    expect(queued.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
    expect(queued.spec!.template.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
    expect(renderTrainerJob({ ...ftj, spec: { ...ftj.spec, suspend: true } }, defaults).spec!.suspend).toBe(true);
  });

  it("labels the Job with spec.workloadPriorityClassName as Kueue's priority class, only with a queue", () => {
    expect(job.metadata!.labels!['kueue.x-k8s.io/priority-class']).toBeUndefined();
    const prioritized = renderTrainerJob({ ...ftj, spec: { ...ftj.spec, queueName: 'gpu-queue', workloadPriorityClassName: 'research-high' } }, defaults);
    expect(prioritized.metadata!.labels!['kueue.x-k8s.io/priority-class']).toBe('research-high');
    expect(prioritized.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
    // Kueue reads it from the Job; the pods keep only the queue label and the pod PriorityClass is untouched.
    expect(prioritized.spec!.template.metadata!.labels!['kueue.x-k8s.io/priority-class']).toBeUndefined();
    expect(prioritized.spec!.template.spec!.priorityClassName).toBe(job.spec!.template.spec!.priorityClassName);
    // Without a queue (the API refuses it; a stale object could still carry it) there is no Kueue to read it.
    const unqueued = renderTrainerJob({ ...ftj, spec: { ...ftj.spec, workloadPriorityClassName: 'research-high' } }, defaults);
    expect(unqueued.metadata!.labels!['kueue.x-k8s.io/priority-class']).toBeUndefined();
  });

  it('carries priority class, extra tolerations, node selector and deadlines', () => {
    const custom = renderTrainerJob(
      {
        ...ftj,
        spec: {
          ...ftj.spec,
          activeDeadlineSeconds: 3600,
          backoffLimit: 1,
          resources: {
            ...ftj.spec.resources,
            gpus: 4,
            priorityClassName: 'training-high',
            nodeSelector: { pool: 'a' },
            tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
          },
        },
      },
      defaults,
    );
    const spec = custom.spec!.template.spec!;
    expect(spec.priorityClassName).toBe('training-high');
    expect(spec.nodeSelector).toEqual({ pool: 'a', 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(spec.tolerations).toHaveLength(2);
    expect(spec.containers[0]!.resources!.limits!['nvidia.com/gpu']).toBe('4');
    expect(custom.spec!.activeDeadlineSeconds).toBe(3600);
    expect(custom.spec!.backoffLimit).toBe(1);
  });
});

describe('renderTrainerJob with spec.resources.nodes > 1', () => {
  const base = exampleFineTuneJob();
  const ftj = { ...base, spec: { ...base.spec, resources: { ...base.spec.resources, gpus: 2, nodes: 2 } } };
  const job = renderTrainerJob(ftj, { ...defaults, rendezvousTimeoutSeconds: 120 });
  const service = renderTrainerService(ftj);
  const pod = job.spec!.template.spec!;
  const env = pod.containers[0]!.env!;

  it('is an Indexed Job of one pod per node, Kueue counting them as one podSet', () => {
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2 });
    expect(pod.containers[0]!.resources!.limits!['nvidia.com/gpu']).toBe('2');
  });

  it('puts the pods under a headless Service owned by the FineTuneJob, and points every pod at pod 0', () => {
    const jobName = job.metadata!.name!;
    expect(service.spec).toEqual({ clusterIP: 'None', publishNotReadyAddresses: true, selector: { 'batch.kubernetes.io/job-name': jobName } });
    expect(service.metadata!.ownerReferences).toEqual(job.metadata!.ownerReferences);
    expect(pod.subdomain).toBe(service.metadata!.name);
    expect(env.find((e) => e.name === RENDEZVOUS_ADDR_ENV)?.value).toBe(`${jobName}-0.${service.metadata!.name}.team-a.svc`);
    // A group the cluster cannot place whole gives up after the operator's rendezvous timeout.
    expect(env.find((e) => e.name === RENDEZVOUS_TIMEOUT_ENV)?.value).toBe('120');
  });

  it('does not count a pod that stopped with its group (SIGTERM) against backoffLimit', () => {
    expect(job.spec!.podFailurePolicy!.rules).toContainEqual({
      action: 'Ignore',
      onExitCodes: { containerName: 'trainer', operator: 'In', values: [TRAINER_EXIT.stopped] },
    });
  });

  it('names the Job so that every pod hostname <job>-<index> is a DNS label, and the Service starts with a letter', () => {
    const name = trainerJobName(`7.${'x'.repeat(250)}`, 'u', 64);
    expect(`${name}-63`.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(trainerServiceName(name)).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(trainerServiceName(name).length).toBeLessThanOrEqual(63);
  });

  it('keeps a one-pod Job as it was: not indexed, no subdomain, no rendezvous address', () => {
    const single = renderTrainerJob(base, { ...defaults, rendezvousTimeoutSeconds: 120 });
    expect(single.spec).toMatchObject({ completions: 1, parallelism: 1 });
    expect(single.spec!.completionMode).toBeUndefined();
    expect(single.spec!.template.spec!.subdomain).toBeUndefined();
    expect(single.spec!.template.spec!.containers[0]!.env!.some((e) => e.name === RENDEZVOUS_ADDR_ENV || e.name === RENDEZVOUS_TIMEOUT_ENV)).toBe(false);
  });
});

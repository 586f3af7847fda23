// Proves the e2e harness: a real apiserver, controller manager and scheduler, and the node agent
// playing the kubelet for fake GPU nodes (nodes.yaml).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createNamespace, kubeconfigPath, kubectl, loadKubeConfig, podDir, waitFor } from './cluster.js';

const TRAINER_IMAGE = 'ghcr.io/loraplane/trainer-standin:v0.0.0-test';
const GPU_TOLERATION: k8s.V1Toleration = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };

let core: k8s.CoreV1Api;
let coordination: k8s.CoordinationV1Api;
let ns: string;

beforeAll(async () => {
  const kc = loadKubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  ns = await createNamespace(core, 'harness');
});

const trainerPod = (name: string, container: Partial<k8s.V1Container>, spec: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
  metadata: { name, namespace: ns },
  spec: {
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: 5,
    ...spec,
    containers: [{ name: 'trainer', image: TRAINER_IMAGE, command: ['loraplane-trainer'], ...container }],
  },
});

const readPod = (name: string): Promise<k8s.V1Pod> => core.readNamespacedPod({ name, namespace: ns });
const state = (pod: k8s.V1Pod): k8s.V1ContainerState | undefined => pod.status?.containerStatuses?.[0]?.state;

async function waitForPhase(name: string, phase: string, timeoutMs = 60_000): Promise<k8s.V1Pod> {
  return waitFor(
    async () => {
      const pod = await readPod(name);
      return pod.status?.phase === phase ? pod : false;
    },
    { timeoutMs, intervalMs: 100, description: `pod ${ns}/${name} in phase ${phase}` },
  );
}

describe('test cluster', () => {
  it('publishes its kubeconfig to the tests', () => {
    expect(inject('kubeconfig')).toBe(kubeconfigPath());
    expect(readFileSync(kubeconfigPath(), 'utf8')).toMatch(/server: https:\/\/127\.0\.0\.1:\d+/);
  });

  it('has three Ready nodes with the GPU capacity, labels and taints of nodes.yaml', async () => {
    const nodes = new Map((await core.listNode()).items.map((n) => [n.metadata?.name, n]));
    const expected = [
      { name: 'gpu-h100-0', gpus: '8', product: 'NVIDIA-H100-80GB-HBM3' },
      { name: 'gpu-a100-0', gpus: '4', product: 'NVIDIA-A100-SXM4-80GB' },
      { name: 'cpu-0', gpus: undefined, product: undefined },
    ];
    expect([...nodes.keys()].sort()).toEqual(expected.map((e) => e.name).sort());
    for (const e of expected) {
      const node = nodes.get(e.name);
      const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
      expect(ready?.status, `${e.name} Ready`).toBe('True');
      expect(node?.status?.allocatable?.['nvidia.com/gpu']).toBe(e.gpus);
      expect(node?.status?.capacity?.pods).toBe('110');
      expect(node?.metadata?.labels?.['nvidia.com/gpu.product']).toBe(e.product);
      expect(node?.metadata?.labels?.['nvidia.com/gpu.count']).toBe(e.gpus);
      expect(node?.status?.nodeInfo?.kubeletVersion).toBe('v1.34.4');
      const taints = (node?.spec?.taints ?? []).map((t) => `${t.key}=${t.value}:${t.effect}`);
      expect(taints).toEqual(e.gpus === undefined ? [] : ['nvidia.com/gpu=present:NoSchedule']);
      const lease = await coordination.readNamespacedLease({ name: e.name, namespace: 'kube-node-lease' });
      expect(lease.spec?.holderIdentity).toBe(e.name);
      expect(Date.now() - new Date(lease.spec?.renewTime ?? 0).getTime()).toBeLessThan(30_000);
    }
  });

  it('schedules a GPU trainer pod onto a GPU node and runs it to Succeeded with its result', async () => {
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'adapter-store' }, stringData: { uri: 's3://adapters/harness/demo' } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod(
        'gpu-trainer',
        {
          env: [
            { name: 'STANDIN_ADAPTER_URI', valueFrom: { secretKeyRef: { name: 'adapter-store', key: 'uri' } } },
            { name: 'STANDIN_DURATION_SECONDS', value: '3' },
            { name: 'STANDIN_WRITE_DIR', value: '/workspace/adapter' },
            { name: 'LORAPLANE_TERMINATION_MESSAGE_PATH', value: '/dev/termination-log' },
            { name: 'LORAPLANE_TRAINER_CONFIG', value: JSON.stringify({ lora: { r: 8, alpha: 16 } }) },
          ],
          resources: { limits: { 'nvidia.com/gpu': '2', memory: '1Gi' } },
          volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
        },
        { tolerations: [GPU_TOLERATION], volumes: [{ name: 'workspace', emptyDir: {} }] },
      ),
    });

    const running = await waitForPhase('gpu-trainer', 'Running');
    expect(['gpu-h100-0', 'gpu-a100-0']).toContain(running.spec?.nodeName);
    expect(running.status?.podIP).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(running.status?.podIP).not.toBe('127.0.0.1');
    expect(running.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    expect(running.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(state(running)?.running?.startedAt).toBeDefined();
    expect(running.status?.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);

    const done = await waitForPhase('gpu-trainer', 'Succeeded');
    const terminated = state(done)?.terminated;
    expect(terminated?.exitCode).toBe(0);
    expect(terminated?.reason).toBe('Completed');
    const result = JSON.parse(terminated?.message ?? '{}') as { adapterUri: string; digest: string; metrics: object };
    expect(result.adapterUri).toBe('s3://adapters/harness/demo');
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.metrics).toEqual({ trainLoss: 1.23 });
    expect(done.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('PodCompleted');

    // The emptyDir mount and the env value under it both landed in the pod's host directory.
    const dir = podDir(ns, 'gpu-trainer', done.metadata?.uid ?? '');
    expect(JSON.parse(readFileSync(join(dir, 'volumes/workspace/adapter/result.json'), 'utf8'))).toEqual(result);
    expect(JSON.parse(readFileSync(join(dir, 'volumes/workspace/adapter/adapter_config.json'), 'utf8'))).toMatchObject({ r: 8 });
    expect(readFileSync(join(dir, 'container.log'), 'utf8')).toContain('stand-in trainer starting');
  });

  it('waits with CreateContainerConfigError for a missing Secret and starts once it exists', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod('late-secret', {
        env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'late', key: 'token' } } }],
      }),
    });
    const waiting = await waitFor(async () => state(await readPod('late-secret'))?.waiting, {
      description: 'late-secret waiting',
    });
    expect(waiting).toEqual({ reason: 'CreateContainerConfigError', message: 'secret "late" not found' });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'late' }, stringData: { token: 't' } } });
    const done = await waitForPhase('late-secret', 'Succeeded');
    expect(state(done)?.terminated?.exitCode).toBe(0);
  });

  it('OOM-kills a container over its memory limit', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod('oom', {
        env: [
          { name: 'STANDIN_ALLOCATE_MB', value: '512' },
          { name: 'STANDIN_DURATION_SECONDS', value: '30' },
        ],
        resources: { limits: { memory: '128Mi' } },
      }),
    });
    const failed = await waitForPhase('oom', 'Failed');
    expect(state(failed)?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(failed.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('PodFailed');
  });

  it('reports ImagePullBackOff for an image the nodes do not have, and keeps the pod Pending', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod('bad-image', { image: 'registry.invalid/nothing:1' }),
    });
    const waiting = await waitFor(
      async () => {
        const w = state(await readPod('bad-image'))?.waiting;
        return w?.reason === 'ImagePullBackOff' ? w : false;
      },
      { description: 'bad-image in ImagePullBackOff' },
    );
    expect(waiting.message).toBe('Back-off pulling image "registry.invalid/nothing:1"');
    expect((await readPod('bad-image')).status?.phase).toBe('Pending');
  });

  it('leaves a pod asking for 16 GPUs Pending with the scheduler saying why', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod('too-many-gpus', { resources: { limits: { 'nvidia.com/gpu': '16' } } }, { tolerations: [GPU_TOLERATION] }),
    });
    const scheduled = await waitFor(
      async () => {
        const c = (await readPod('too-many-gpus')).status?.conditions?.find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' ? c : false;
      },
      { description: 'too-many-gpus to be marked unschedulable' },
    );
    expect(scheduled.reason).toBe('Unschedulable');
    expect(scheduled.message).toContain('Insufficient nvidia.com/gpu');
    const pod = await readPod('too-many-gpus');
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.phase).toBe('Pending');
  });

  it('stops a running pod on deletion with SIGTERM and removes it', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: trainerPod('deleted', { env: [{ name: 'STANDIN_DURATION_SECONDS', value: '300' }] }),
    });
    const running = await waitForPhase('deleted', 'Running');
    const logFile = join(podDir(ns, 'deleted', running.metadata?.uid ?? ''), 'container.log');
    // Running is reported at spawn; the stand-in handles SIGTERM once it has logged that it started.
    await waitFor(() => readFileSync(logFile, 'utf8').includes('stand-in trainer starting'), {
      timeoutMs: 10_000,
      description: 'the stand-in to start',
    });
    const started = Date.now();
    await core.deleteNamespacedPod({ name: 'deleted', namespace: ns });
    await waitFor(
      async () => {
        try {
          await readPod('deleted');
          return false;
        } catch {
          return true;
        }
      },
      { timeoutMs: 20_000, description: 'pod deleted to disappear' },
    );
    // Well inside the 5 s grace period: the stand-in exits on SIGTERM.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(readFileSync(logFile, 'utf8')).toContain('received SIGTERM');
  });

  it('resolves a pod of a headless Service by its DNS name from another pod, as cluster DNS would', async () => {
    // An Indexed Job's pods look like this: hostname <job>-<index>, subdomain the headless Service.
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'group' }, spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'group' } } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'member-0', namespace: ns, labels: { app: 'group' } },
        spec: {
          hostname: 'member-0',
          subdomain: 'group',
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'c', image: 'busybox', command: ['sleep', '60'] }],
        },
      },
    });
    const member = await waitForPhase('member-0', 'Running');
    const names = [`member-0.group.${ns}.svc`, `member-0.group.${ns}.svc.cluster.local`];
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'resolver', namespace: ns },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', names.map((n) => `getent hosts ${n}`).join(' && ')] }],
        },
      },
    });
    const done = await waitForPhase('resolver', 'Succeeded');
    const log = readFileSync(join(podDir(ns, 'resolver', done.metadata?.uid ?? ''), 'container.log'), 'utf8');
    for (const name of names) expect(log).toMatch(new RegExp(`^${member.status?.podIP?.replace(/\./g, '\\.')}\\s+.*\\b${name.replace(/\./g, '\\.')}\\b`, 'm'));
    await core.deleteNamespacedPod({ name: 'member-0', namespace: ns });
  });

  it('makes client identities for RBAC tests with make-user.sh', async () => {
    const run = promisify(execFile);
    const script = fileURLToPath(new URL('make-user.sh', import.meta.url));
    const alice = (await run('bash', [script, 'alice', 'loraplane:testers'])).stdout.trim();
    const denied = await kubectl(['get', 'pods', '-n', ns], { kubeconfig: alice });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('User "alice" cannot list resource "pods"');
    const root = (await run('bash', [script, 'root', 'system:masters'])).stdout.trim();
    const allowed = await kubectl(['get', 'pods', '-n', ns, '-o', 'name'], { kubeconfig: root });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('pod/gpu-trainer');
  });
});

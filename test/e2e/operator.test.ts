// The operator against a real control plane: etcd, kube-apiserver, kube-controller-manager (Job
// controller, garbage collector), kube-scheduler, and the test node agent that runs trainer pods
// bound to the fake GPU nodes as local processes (the stand-in trainer until the real one lands).
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { recordPhases } from './support/phases.js';
import { exampleDocs, fineTuneJobEventsOnce, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Ftj = { metadata: { uid: string; name: string }; spec: Json; status?: Json & { phase?: string; message?: string; conditions?: Json[] } };
type Job = {
  metadata: { name: string; ownerReferences: Json[]; labels: Record<string, string> };
  spec: Json & { suspend?: boolean; template: { spec: Json } };
};
type Pod = { metadata: { name: string }; spec: { nodeName?: string }; status: { phase: string } };

const EXAMPLE = new URL('../../examples/finetune.yaml', import.meta.url).pathname;
const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let kc: KubeConfig;
let operator: OperatorProcess;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
const ftjFrom = (name: string, edit: (spec: Spec) => void = () => {}): Json => {
  const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
  edit(ftj.spec);
  return { ...ftj, metadata: { name } };
};
const withTrainerEnv = (env: Record<string, string>) => (s: Spec) => {
  s.trainer = { env: Object.entries(env).map(([name, value]) => ({ name, value })) };
};
const getFtj = (ns: string, name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
const condition = (ftj: Ftj, type: string) => ftj.status?.conditions?.find((c) => c.type === type) as Json | undefined;
const jobsOf = async (ns: string, name: string) => (await getJson<{ items: Job[] }>(['get', 'jobs', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items;
const podsOf = async (ns: string, name: string) => (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items;

async function applyInFreshNamespace(prefix: string, ftj: Json): Promise<string> {
  const ns = await freshNamespace(prefix);
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(exampleDocs().secret));
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(ftj));
  return ns;
}

async function waitForPhase(ns: string, name: string, phase: string, timeoutMs = 60_000): Promise<Ftj> {
  return waitFor(
    async () => {
      const ftj = await getFtj(ns, name);
      return ftj.status?.phase === phase ? ftj : undefined;
    },
    { timeoutMs, description: `FineTuneJob ${ns}/${name} phase ${phase}` },
  );
}

beforeAll(async () => {
  kc = loadKubeConfig();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  operator = await startOperator(kubeconfig(), 'operator-e2e');
});

afterAll(async () => {
  await operator?.stop();
});

describe('FineTuneJob → trainer Job on a GPU node', () => {
  it('kubectl apply -f examples/finetune.yaml: Job created, pod bound to the H100 node, Pending → Running → Succeeded', async () => {
    const ns = await freshNamespace('example');
    const recorder = await recordPhases(kc, ns, 'support-assistant');
    await mustKubectl(['apply', '-n', ns, '-f', EXAMPLE]);

    const [job] = await waitFor(async () => ((await jobsOf(ns, 'support-assistant')).length ? jobsOf(ns, 'support-assistant') : undefined), {
      timeoutMs: 20_000,
      description: 'trainer Job',
    });
    const ftj = await getFtj(ns, 'support-assistant');
    expect(job!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'FineTuneJob', uid: ftj.metadata.uid, controller: true })]);
    const container = (job!.spec.template.spec.containers as Json[])[0] as Json & { resources: { limits: Json } };
    expect(container.resources.limits['nvidia.com/gpu']).toBe('1');

    const pod = await waitFor(async () => (await podsOf(ns, 'support-assistant')).find((p) => p.spec.nodeName), {
      timeoutMs: 30_000,
      description: 'trainer pod bound by the scheduler',
    });
    expect(pod.spec.nodeName).toBe('gpu-h100-0');

    const done = await waitForPhase(ns, 'support-assistant', 'Succeeded');
    recorder.stop();
    expect(recorder.phases).toEqual(['Pending', 'Running', 'Succeeded']);
    expect(done.status).toMatchObject({ jobName: job!.metadata.name, attempts: 1, observedGeneration: 1 });
    expect(done.status!.startTime).toBeTruthy();
    expect(done.status!.completionTime).toBeTruthy();
    expect((done.status!.result as Json).digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'TrainingSucceeded', observedGeneration: 1 });
    expect(condition(done, 'Scheduled')).toMatchObject({ status: 'True' });

    const events = await fineTuneJobEventsOnce(ns, 'support-assistant', 'TrainingSucceeded');
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['JobCreated', 'TrainerRunning', 'TrainingSucceeded']));

    const table = await mustKubectl(['get', 'ftj', '-n', ns]);
    expect(table).toMatch(/NAME\s+PHASE\s+PROGRESS\s+LOSS\s+ADAPTER\s+AGE/);
    expect(table).toMatch(/support-assistant\s+Succeeded/);
  });

  it('stays Pending with a condition naming the GPU shortage when no node has enough GPUs', async () => {
    const ns = await applyInFreshNamespace(
      'too-big',
      ftjFrom('too-big', (s) => (s.resources.gpus = 16)),
    );
    const ftj = await waitFor(
      async () => {
        const f = await getFtj(ns, 'too-big');
        return condition(f, 'Scheduled')?.status === 'False' ? f : undefined;
      },
      { timeoutMs: 30_000, description: 'Scheduled=False' },
    );
    expect(ftj.status!.phase).toBe('Pending');
    expect(condition(ftj, 'Scheduled')).toMatchObject({ reason: 'Unschedulable', message: expect.stringContaining('Insufficient nvidia.com/gpu') });
    expect(condition(ftj, 'Ready')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(condition(ftj, 'Reconciling')).toMatchObject({ status: 'True' });
  });

  it('fails with the trainer exit code and its error after the backoff limit', async () => {
    const ftj = ftjFrom('exits-1', (s) => {
      withTrainerEnv({ STANDIN_EXIT_CODE: '1', STANDIN_DURATION_SECONDS: '0' })(s);
      s.backoffLimit = 1;
    });
    const ns = await applyInFreshNamespace('exit', ftj);
    const failed = await waitForPhase(ns, 'exits-1', 'Failed', 90_000);
    expect(failed.status!.message).toMatch(/^trainer failed 2 time\(s\), backoffLimit=1; last attempt: trainer exited with code 1/);
    expect(failed.status!.attempts).toBe(2);
    expect(condition(failed, 'Stalled')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded' });
  });

  it('names OOMKilled when the trainer exceeds its memory limit', async () => {
    const ftj = ftjFrom('oom', (s) => {
      withTrainerEnv({ STANDIN_ALLOCATE_MB: '400', STANDIN_DURATION_SECONDS: '20' })(s);
      s.resources.memory = '200Mi';
      s.backoffLimit = 0;
    });
    const ns = await applyInFreshNamespace('oom', ftj);
    const failed = await waitForPhase(ns, 'oom', 'Failed', 60_000);
    expect(failed.status!.message).toContain('trainer was OOMKilled (memory limit 200Mi)');
  });

  it('names the deadline when activeDeadlineSeconds passes', async () => {
    const ftj = ftjFrom('deadline', (s) => {
      withTrainerEnv({ STANDIN_DURATION_SECONDS: '120' })(s);
      s.activeDeadlineSeconds = 3;
    });
    const ns = await applyInFreshNamespace('deadline', ftj);
    const failed = await waitForPhase(ns, 'deadline', 'Failed', 60_000);
    expect(condition(failed, 'Ready')).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(failed.status!.message).toContain('exceeded activeDeadlineSeconds=3');
  });

  it('reports an image that cannot be pulled', async () => {
    const ns = await applyInFreshNamespace(
      'image',
      ftjFrom('bad-image', (s) => (s.trainer = { image: 'registry.invalid/loraplane/nope:1' })),
    );
    const ftj = await waitFor(
      async () => {
        const f = await getFtj(ns, 'bad-image');
        return /ErrImagePull|ImagePullBackOff/.test(String(condition(f, 'Ready')?.reason)) ? f : undefined;
      },
      { timeoutMs: 30_000, description: 'image pull failure in status' },
    );
    expect(ftj.status!.phase).toBe('Pending');
    expect(ftj.status!.message).toContain('cannot pull trainer image registry.invalid/loraplane/nope:1');
  });

  it('suspends and resumes through spec.suspend', async () => {
    const ftj = ftjFrom('pausable', (s) => {
      s.suspend = true;
      withTrainerEnv({ STANDIN_DURATION_SECONDS: '1' })(s);
    });
    const ns = await applyInFreshNamespace('suspend', ftj);
    const suspended = await waitForPhase(ns, 'pausable', 'Suspended');
    expect(condition(suspended, 'Suspended')).toMatchObject({ status: 'True' });
    expect((await jobsOf(ns, 'pausable'))[0]!.spec.suspend).toBe(true);
    expect(await podsOf(ns, 'pausable')).toEqual([]);

    await mustKubectl(['patch', 'ftj', 'pausable', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    await waitForPhase(ns, 'pausable', 'Succeeded');
    expect((await jobsOf(ns, 'pausable'))[0]!.spec.suspend).toBe(false);
  });

  it('creates the Job suspended with the Kueue queue label when a queue is named', async () => {
    const ns = await applyInFreshNamespace(
      'kueue',
      ftjFrom('queued', (s) => (s.queueName = 'gpu-queue')),
    );
    const ftj = await waitForPhase(ns, 'queued', 'Queued');
    expect(condition(ftj, 'Suspended')).toMatchObject({ status: 'True', reason: 'WaitingForAdmission' });
    const [job] = await jobsOf(ns, 'queued');
    expect(job!.spec.suspend).toBe(true);
    expect(job!.metadata.labels['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
  });

  it('deleting a FineTuneJob removes its Job and pods (garbage collection)', async () => {
    const ns = await applyInFreshNamespace('gc', ftjFrom('short-lived', withTrainerEnv({ STANDIN_DURATION_SECONDS: '120' })));
    await waitForPhase(ns, 'short-lived', 'Running', 60_000);
    expect(await jobsOf(ns, 'short-lived')).toHaveLength(1);
    await mustKubectl(['delete', 'ftj', 'short-lived', '-n', ns, '--wait=true']);
    await waitFor(async () => ((await jobsOf(ns, 'short-lived')).length === 0 ? true : undefined), { timeoutMs: 30_000, description: 'Job deleted' });
    await waitFor(async () => ((await podsOf(ns, 'short-lived')).length === 0 ? true : undefined), { timeoutMs: 60_000, description: 'pods deleted' });
  });

  it('exposes reconcile metrics and FineTuneJobs by phase', async () => {
    expect(await operator.metric('loraplane_operator_reconcile_total', 'result="success"')).toBeGreaterThan(0);
    expect(await operator.metric('loraplane_operator_reconcile_duration_seconds_count')).toBeGreaterThan(0);
    expect(await operator.metric('loraplane_finetunejobs', 'phase="Succeeded"')).toBeGreaterThanOrEqual(1);
    expect(await operator.metric('loraplane_operator_leader')).toBe(1);
    expect(await operator.metrics()).toContain('loraplane_operator_workqueue_depth');
    const ready = await fetch(`http://127.0.0.1:${operator.port}/readyz`);
    expect(ready.status).toBe(200);
  });
});

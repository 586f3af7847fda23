// Status that tells the truth, on the real control plane (issue 10, findings 6, 8, 9, 10): a Job
// the API server refuses or whose pods the Job controller cannot create shows in status and events,
// mutable fields reach the Job, a whole-number validationSplit is accepted, and a permanent trainer
// failure fails the job at once instead of burning its retries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import {
  exampleDocs,
  fineTuneJobEvents,
  fineTuneJobEventsOnce,
  freshNamespace,
  getJson,
  installCrds,
  mustKubectl,
  toYaml,
  type Json,
} from './support/resources.js';

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let operator: OperatorProcess;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
type Ftj = {
  status?: Json & { phase?: string; message?: string; attempts?: number; conditions?: { type: string; status: string; reason: string; message: string }[] };
};
type Job = { metadata: { name: string }; spec: { backoffLimit?: number; activeDeadlineSeconds?: number; ttlSecondsAfterFinished?: number } };

const ftjFrom = (name: string, edit: (spec: Spec) => void = () => {}): Json => {
  const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
  edit(ftj.spec);
  return { ...ftj, metadata: { name } };
};
const standinEnv = (env: Record<string, string>) => (s: Spec) => {
  s.trainer = { image: 'ghcr.io/loraplane/trainer-standin:0.1.0', env: Object.entries(env).map(([name, value]) => ({ name, value })) };
};

async function applyIn(ns: string, doc: Json): Promise<void> {
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(exampleDocs().secret));
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(doc));
}

function waitForFtj(ns: string, name: string, done: (f: Ftj) => boolean, description: string, timeoutMs = 60_000): Promise<Ftj> {
  return waitFor(
    async () => {
      const f = await getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
      return done(f) ? f : undefined;
    },
    { timeoutMs, description: `FineTuneJob ${ns}/${name}: ${description}` },
  );
}
const ready = (f: Ftj) => f.status?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  operator = await startOperator(kubeconfig(), 'operator-truth');
});

afterAll(async () => {
  await operator?.stop();
});

describe('a Job that cannot be created', () => {
  it("a Job the API server refuses (a platform's admission policy) fails the FineTuneJob with the server's words and an event", async () => {
    const ns = await freshNamespace('refused');
    const policy = `no-h100-${ns}`;
    const docs = [
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['jobs'] }] },
          validations: [
            {
              expression: "object.spec.template.spec.nodeSelector['nvidia.com/gpu.product'] != 'NVIDIA-H100-80GB-HBM3'",
              message: 'team quota: no H100 jobs in this namespace',
              reason: 'Invalid',
            },
          ],
        },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
        },
      },
    ];
    for (const doc of docs) await mustKubectl(['apply', '-f', '-'], toYaml(doc));
    // The policy takes effect once the API server has compiled it: probe with a dry run until it denies.
    const probe = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'probe' },
      spec: {
        template: {
          spec: { restartPolicy: 'Never', nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' }, containers: [{ name: 'c', image: 'busybox' }] },
        },
      },
    };
    await waitFor(async () => (await kubectl(['create', '--dry-run=server', '-n', ns, '-f', '-'], { input: toYaml(probe) })).code !== 0, {
      timeoutMs: 30_000,
      description: 'the admission policy in force',
    });
    try {
      await applyIn(ns, ftjFrom('h100'));
      const failed = await waitForFtj(ns, 'h100', (f) => f.status?.phase === 'Failed', 'Failed');
      expect(ready(failed)).toMatchObject({ status: 'False', reason: 'JobRejected' });
      expect(failed.status!.message).toContain('the API server refused the trainer Job: ');
      expect(failed.status!.message).toContain('team quota: no H100 jobs in this namespace');
      expect((await fineTuneJobEventsOnce(ns, 'h100', 'JobRejected')).find((e) => e.reason === 'JobRejected')?.type).toBe('Warning');
    } finally {
      await mustKubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, '--ignore-not-found']);
    }
  });

  it("the Job controller's FailedCreate (a missing PriorityClass) shows in status and an event instead of waiting forever", async () => {
    const ns = await freshNamespace('failedcreate');
    await applyIn(
      ns,
      ftjFrom('prio', (s) => (s.resources.priorityClassName = 'does-not-exist')),
    );
    const stuck = await waitForFtj(ns, 'prio', (f) => ready(f)?.reason === 'FailedCreate', 'Ready reason FailedCreate');
    expect(stuck.status!.phase).toBe('Pending');
    expect(stuck.status!.message).toMatch(/^the Job controller cannot create the trainer pod: .*no PriorityClass with name does-not-exist was found/);
    await waitFor(async () => (await fineTuneJobEvents(ns, 'prio')).find((e) => e.reason === 'FailedCreate' && e.type === 'Warning'), {
      timeoutMs: 10_000,
      description: 'a FailedCreate warning on the FineTuneJob',
    });
  });
});

describe('spec fields', () => {
  it('backoffLimit, activeDeadlineSeconds and ttlSecondsAfterFinished reach the Job when patched', async () => {
    const ns = await freshNamespace('mutable');
    await applyIn(
      ns,
      ftjFrom('held', (s) => (s.suspend = true)),
    );
    await waitForFtj(ns, 'held', (f) => f.status?.phase === 'Suspended', 'Suspended');
    const patch = { spec: { backoffLimit: 5, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 60 } };
    await mustKubectl(['patch', 'ftj', 'held', '-n', ns, '--type', 'merge', '-p', JSON.stringify(patch)]);
    const job = await waitFor(
      async () => {
        const [j] = (await getJson<{ items: Job[] }>(['get', 'jobs', '-n', ns, '-l', 'loraplane.io/finetunejob=held'])).items;
        return j?.spec.backoffLimit === 5 ? j : undefined;
      },
      { timeoutMs: 20_000, description: 'the Job patched' },
    );
    expect(job.spec).toMatchObject(patch.spec);
    const dropped = { spec: { activeDeadlineSeconds: null } };
    await mustKubectl(['patch', 'ftj', 'held', '-n', ns, '--type', 'merge', '-p', JSON.stringify(dropped)]);
    await waitFor(
      async () =>
        (await getJson<{ items: Job[] }>(['get', 'jobs', '-n', ns, '-l', 'loraplane.io/finetunejob=held'])).items[0]?.spec.activeDeadlineSeconds === undefined,
      { timeoutMs: 20_000, description: 'activeDeadlineSeconds cleared on the Job' },
    );
  });

  it('accepts validationSplit: 0 (a whole number against the exclusive bound 0.5) and rejects 0.5', async () => {
    const ns = await freshNamespace('split');
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(ftjFrom('zero', (s) => (s.dataset.validationSplit = 0))));
    const half = await kubectl(['apply', '-n', ns, '-f', '-'], { input: toYaml(ftjFrom('half', (s) => (s.dataset.validationSplit = 0.5))) });
    expect(half.code).not.toBe(0);
    expect(half.stderr).toContain('spec.dataset.validationSplit');
    expect(half.stderr).toContain('must be less than 0.5');
  });
});

describe('permanent failures', () => {
  it('a permanent trainer failure (exit 3) fails the job after one attempt; a retryable one (exit 1) is retried', async () => {
    const ns = await freshNamespace('permanent');
    await applyIn(ns, ftjFrom('bad-config', standinEnv({ STANDIN_EXIT_CODE: '3', STANDIN_ERROR: 'dataset s3://datasets/x: NoSuchKey' })));
    await applyIn(
      ns,
      ftjFrom('flaky', (s) => {
        standinEnv({ STANDIN_EXIT_CODE: '1', STANDIN_ERROR: 'connection reset' })(s);
        s.backoffLimit = 1;
      }),
    );
    const permanent = await waitForFtj(ns, 'bad-config', (f) => f.status?.phase === 'Failed', 'Failed');
    expect(permanent.status!.attempts).toBe(1);
    expect(permanent.status!.message).toBe(
      'trainer failed permanently and was not retried (exit code 3: the same spec would fail the same way); last attempt: trainer exited with code 3: dataset s3://datasets/x: NoSuchKey',
    );
    const retried = await waitForFtj(ns, 'flaky', (f) => f.status?.phase === 'Failed', 'Failed', 90_000);
    expect(retried.status!.attempts).toBe(2);
  }, 120_000);
});

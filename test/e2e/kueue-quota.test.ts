// Platform teams share the GPUs through the real Kueue (test/kueue: built from its pinned Go module,
// installed from its own manifests, its webhooks called by the API server): with 4 GPUs of quota, two
// 2-GPU FineTuneJobs run, a third stays Queued with Kueue's reason in its status, and it runs when one
// finishes. The operator reads Kueue's Workload and never touches what Kueue owns on the Job.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { H100, names, type Platform } from '../kueue/fixtures.js';
import { applyPlatform, deletePlatform } from '../kueue/platform.js';
import { startKueue, type KueueProcess } from '../kueue/kueue.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { recordPhases } from './support/phases.js';
import { exampleDocs, fineTuneJobEventsOnce, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Condition = { type: string; status: string; reason: string; message: string };
type Ftj = { metadata: { name: string; uid: string }; status?: { phase?: string; message?: string; conditions?: Condition[]; admission?: Json } };
type Job = { metadata: { name: string; uid: string }; spec: { suspend?: boolean; template: { spec: { nodeSelector?: Record<string, string> } } } };
type Pod = { spec: { nodeName?: string }; status: { phase: string } };
type Workload = { metadata: { name: string }; status?: { conditions?: Condition[]; admission?: { clusterQueue: string } } };

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let kc: KubeConfig;
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
let platform: Platform;
let teamA: string;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
/** A FineTuneJob from examples/finetune.yaml on `gpus` GPUs in the team's LocalQueue, its stand-in trainer running `seconds`. */
function queuedFtj(name: string, gpus: number, seconds: number, queueName = names(platform).localQueue): Json {
  const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
  ftj.spec.queueName = queueName;
  ftj.spec.resources.gpus = gpus;
  // No GPU product: the ResourceFlavor Kueue assigns decides where the trainer lands.
  delete ftj.spec.resources.gpuProduct;
  ftj.spec.trainer = { env: [{ name: 'STANDIN_DURATION_SECONDS', value: String(seconds) }] };
  // Each job its own adapter.
  ftj.spec.output.adapterName = name;
  ftj.spec.output.storage.s3.prefix = `kueue-quota/${name}`;
  return { ...ftj, metadata: { name } };
}

const getFtj = (ns: string, name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
const condition = (ftj: Ftj, type: string) => ftj.status?.conditions?.find((c) => c.type === type);
const jobOf = async (ns: string, name: string) =>
  (await getJson<{ items: Job[] }>(['get', 'jobs', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items[0];
const podsOf = async (ns: string, name: string) => (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items;

function waitForFtj(ns: string, name: string, what: string, ok: (f: Ftj) => boolean, timeoutMs = 60_000): Promise<Ftj> {
  return waitFor(
    async () => {
      const f = await getFtj(ns, name);
      return ok(f) ? f : undefined;
    },
    { timeoutMs, description: `FineTuneJob ${ns}/${name}: ${what}` },
  );
}

beforeAll(async () => {
  kc = loadKubeConfig();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  kueue = await startKueue();
  teamA = await freshNamespace('team-a');
  const teamB = await freshNamespace('team-b');
  platform = {
    prefix: `quota-${process.pid % 10000}-${Date.now() % 100000}`,
    teams: [
      // No borrowing for team A: its 4 GPUs are all it gets, though team B's sit idle.
      { name: 'team-a', namespace: teamA, gpus: 4 },
      { name: 'team-b', namespace: teamB, gpus: 4 },
    ],
  };
  await applyPlatform(platform);
  await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(exampleDocs().secret));
  operator = await startOperator(kubeconfig(), 'operator-kueue');
});

afterAll(async () => {
  await operator?.stop();
  if (platform)
    await deletePlatform(
      platform,
      platform.teams.map((t) => t.namespace),
    );
  await kueue?.stop();
});

describe('FineTuneJobs in a Kueue ClusterQueue with 4 GPUs', () => {
  it("two 2-GPU jobs run, a third stays Queued with Kueue's message, and runs when the first finishes", async () => {
    const n = names(platform);
    const clusterQueue = n.clusterQueue(platform.teams[0]!);
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('first', 2, 20)));
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('second', 2, 300)));

    for (const name of ['first', 'second']) {
      const running = await waitForFtj(teamA, name, 'Running', (f) => f.status?.phase === 'Running');
      // Admitted by Kueue, in the status: which ClusterQueue, which flavor.
      expect(condition(running, 'Admitted')).toMatchObject({
        status: 'True',
        reason: 'Admitted',
        message: `admitted by ClusterQueue ${clusterQueue} (flavor ${n.flavor} for memory, nvidia.com/gpu)`,
      });
      expect(running.status!.admission).toMatchObject({ clusterQueue, flavors: { 'nvidia.com/gpu': n.flavor } });
      // Kueue unsuspended the Job and put the flavor's node labels on its pods; the operator left both alone.
      const job = (await jobOf(teamA, name))!;
      expect(job.spec.suspend).toBe(false);
      expect(job.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': H100.product });
      const pods = await podsOf(teamA, name);
      expect(pods.map((p) => p.spec.nodeName)).toEqual(['gpu-h100-0']);
    }

    const recorder = await recordPhases(kc, teamA, 'third');
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('third', 2, 1)));
    const insufficient = new RegExp(
      `^couldn't assign flavors to pod set main: insufficient unused quota for nvidia\\.com/gpu in flavor ${n.flavor}, 2 more needed`,
    );
    const queued = await waitForFtj(
      teamA,
      'third',
      "Queued with Kueue's reason",
      (f) => f.status?.phase === 'Queued' && insufficient.test(condition(f, 'Admitted')?.message ?? ''),
    );
    expect(condition(queued, 'Admitted')).toMatchObject({ status: 'False', reason: 'Pending', message: expect.stringMatching(insufficient) });
    expect(queued.status!.message).toMatch(
      new RegExp(`^waiting for Kueue to admit the Job from LocalQueue ${n.localQueue}: couldn't assign flavors to pod set main: insufficient unused quota`),
    );
    expect(condition(queued, 'Suspended')).toMatchObject({ status: 'True', reason: 'WaitingForAdmission' });
    expect(queued.status!.admission).toBeUndefined();
    // The status says what Kueue's own Workload says.
    const thirdJob = (await jobOf(teamA, 'third'))!;
    expect(thirdJob.spec.suspend).toBe(true);
    expect(await podsOf(teamA, 'third')).toEqual([]);
    const workloads = await getJson<{ items: Workload[] }>(['get', 'workloads.kueue.x-k8s.io', '-n', teamA]);
    const workload = workloads.items.find((w) => w.metadata.name.includes(thirdJob.metadata.name))!;
    expect(workload.status?.conditions?.find((c) => c.type === 'QuotaReserved')?.message).toBe(condition(queued, 'Admitted')!.message);

    // The first finishes; Kueue gives its quota to the third, which runs to the end.
    await waitForFtj(teamA, 'first', 'Succeeded', (f) => f.status?.phase === 'Succeeded', 90_000);
    const done = await waitForFtj(teamA, 'third', 'Succeeded', (f) => f.status?.phase === 'Succeeded', 90_000);
    recorder.stop();
    expect(recorder.phases[0]).toBe('Queued');
    expect(recorder.phases).toContain('Running');
    expect(recorder.phases.at(-1)).toBe('Succeeded');
    expect(condition(done, 'Admitted')).toMatchObject({ status: 'True', message: expect.stringContaining(`ClusterQueue ${clusterQueue}`) });
    // The second ran throughout, untouched.
    expect((await getFtj(teamA, 'second')).status!.phase).toBe('Running');
  }, 240_000);

  it('spec.suspend beside Kueue: the operator deactivates the Workload, Kueue suspends the Job, and resuming re-admits it', async () => {
    // Two of the four GPUs are free (the second job holds the others).
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('pausable', 2, 60)));
    await waitForFtj(teamA, 'pausable', 'Running', (f) => f.status?.phase === 'Running');
    const job = (await jobOf(teamA, 'pausable'))!;
    const workloadOf = async () =>
      (await getJson<{ items: (Workload & { spec: { active?: boolean } })[] }>(['get', 'workloads.kueue.x-k8s.io', '-n', teamA])).items.find((w) =>
        w.metadata.name.includes(job.metadata.name),
      )!;

    await mustKubectl(['patch', 'ftj', 'pausable', '-n', teamA, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    const suspended = await waitForFtj(teamA, 'pausable', 'Suspended', (f) => f.status?.phase === 'Suspended');
    expect(suspended.status!.message).toBe('suspended by spec.suspend');
    expect(condition(suspended, 'Admitted')).toMatchObject({ status: 'False', reason: 'Deactivated' });
    expect(suspended.status!.admission).toBeUndefined();
    expect((await workloadOf()).spec.active).toBe(false);
    await waitFor(async () => ((await podsOf(teamA, 'pausable')).length === 0 ? true : undefined), { timeoutMs: 60_000, description: 'trainer pods gone' });
    // Kueue and the operator agree: the Job stays suspended, with one suspension, not a tug of war.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await jobOf(teamA, 'pausable'))!.spec.suspend).toBe(true);
    const events = await getJson<{ items: { reason: string; involvedObject: { name: string } }[] }>([
      'get',
      'events',
      '-n',
      teamA,
      '--field-selector',
      'involvedObject.kind=FineTuneJob',
    ]);
    expect(events.items.filter((e) => e.involvedObject.name === 'pausable' && e.reason === 'Suspending')).toHaveLength(1);

    await mustKubectl(['patch', 'ftj', 'pausable', '-n', teamA, '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    const resumed = await waitForFtj(teamA, 'pausable', 'Running again', (f) => f.status?.phase === 'Running');
    expect(condition(resumed, 'Admitted')).toMatchObject({ status: 'True' });
    expect(resumed.status!.admission).toMatchObject({ clusterQueue: names(platform).clusterQueue(platform.teams[0]!) });
    expect((await workloadOf()).spec.active).toBe(true);
    expect((await jobOf(teamA, 'pausable'))!.spec.suspend).toBe(false);
  }, 180_000);

  it("names Kueue's reason when the LocalQueue does not exist", async () => {
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('nowhere', 1, 1, 'no-such-queue')));
    const ftj = await waitForFtj(teamA, 'nowhere', 'Inadmissible', (f) => f.status?.phase === 'Queued' && condition(f, 'Admitted')?.reason === 'Inadmissible');
    expect(ftj.status!.message).toBe("waiting for Kueue to admit the Job from LocalQueue no-such-queue: LocalQueue no-such-queue doesn't exist");
    expect(condition(ftj, 'Suspended')).toMatchObject({ status: 'True', reason: 'Inadmissible' });
    expect(await fineTuneJobEventsOnce(teamA, 'nowhere', 'Inadmissible')).toContainEqual(
      expect.objectContaining({ type: 'Warning', reason: 'Inadmissible', message: expect.stringContaining("LocalQueue no-such-queue doesn't exist") }),
    );
  });

  it('Kueue logged no errors', () => {
    // Kueue logs at error level that this cluster has no ProvisioningRequest API (no cluster autoscaler); nothing else is expected.
    expect(kueue!.errors([/Provisioning Requests not supported/])).toEqual([]);
  });
});

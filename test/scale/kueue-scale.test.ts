// The operator at scale with the real Kueue in the loop: 1,000 FineTuneJobs across 20 namespaces and 4
// ClusterQueues (one per team, five namespaces each) with 2 GPUs each, so 8 trainers run (the stand-in,
// cheap) and the rest queue. Every FineTuneJob gets exactly one Job, owned by it, and one Workload; each
// ends Running (admitted by its own team's ClusterQueue) or Queued with Kueue's own reason and message.
// `npm test` runs it beside the e2e files on the same cluster (8 minutes in .ci/run here); `npm run test:scale` runs
// it alone; LORAPLANE_SCALE_FTJS sets another count.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { names, platformObjects, type Platform } from '../kueue/fixtures.js';
import { deletePlatform } from '../kueue/platform.js';
import { startKueue, type KueueProcess } from '../kueue/kueue.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from '../e2e/support/operator-process.js';
import { exampleDocs, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from '../e2e/support/resources.js';

const TOTAL = Number(process.env.LORAPLANE_SCALE_FTJS ?? 1000);
const TEAMS = 4;
const NAMESPACES_PER_TEAM = 5;
const GPUS_PER_TEAM = 2;
const CONCURRENCY = 16;
// Kueue admits at its own pace (50 QPS to the API server): 1,000 settled after 640 s here with the machine loaded.
const SETTLE_TIMEOUT_MS = 240_000 + TOTAL * 900;

type Condition = { type: string; status: string; reason: string; message: string };
type Owner = { kind: string; name: string; uid: string; controller?: boolean };
type Ftj = {
  metadata: { name: string; namespace: string; uid: string };
  status?: { phase?: string; message?: string; jobName?: string; conditions?: Condition[]; admission?: { clusterQueue: string } };
};
type Job = { metadata: { name: string; namespace: string; uid: string; ownerReferences?: Owner[] } };
type Workload = { metadata: { namespace: string; ownerReferences?: Owner[] } };

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let kc: KubeConfig;
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
let platform: Platform;
/** Each namespace's team (index into platform.teams). */
const teamOf = new Map<string, number>();

const condition = (f: Ftj, type: string) => f.status?.conditions?.find((c) => c.type === type);
/** Running, or Queued once Kueue has looked at the Workload (its reason, not the operator's WorkloadCreated placeholder). */
const settled = (f: Ftj) =>
  f.status?.phase === 'Running' ||
  (f.status?.phase === 'Queued' && condition(f, 'Admitted')?.status === 'False' && condition(f, 'Admitted')?.reason !== 'WorkloadCreated');

async function listAll<T>(args: string[]): Promise<T[]> {
  const out: T[] = [];
  for (const ns of teamOf.keys()) out.push(...(await getJson<{ items: T[] }>([...args, '-n', ns])).items);
  return out;
}

type GpuPod = {
  metadata: { name: string; namespace: string };
  spec: { nodeName?: string; containers: { resources?: { limits?: Record<string, string> } }[] };
  status?: { phase?: string };
};

/**
 * Kueue's quota counts GPUs, the scheduler places pods on the nodes that have them: a pod an earlier test file
 * left running on a GPU node would leave an admitted job Pending for want of a GPU. Waits for them to end.
 */
async function gpuNodesIdle(): Promise<void> {
  let busy: string[] = [];
  await waitFor(
    async () => {
      const { items } = await getJson<{ items: GpuPod[] }>(['get', 'pods', '-A']);
      busy = items
        .filter((p) => p.spec.nodeName && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
        .filter((p) => p.spec.containers.some((c) => c.resources?.limits?.['nvidia.com/gpu']))
        .map((p) => `${p.metadata.namespace}/${p.metadata.name} on ${p.spec.nodeName}`);
      return busy.length === 0 || undefined;
    },
    { timeoutMs: 240_000, intervalMs: 2_000, description: 'the GPU nodes free of pods left by earlier test files' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${busy.join(', ')}`);
  });
}

beforeAll(async () => {
  kc = loadKubeConfig();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  kueue = await startKueue();
  await gpuNodesIdle();
  const prefix = `scale-${process.pid % 10000}-${Date.now() % 100000}`;
  const teams = [];
  for (let t = 0; t < TEAMS; t++) {
    const namespaces: string[] = [];
    for (let i = 0; i < NAMESPACES_PER_TEAM; i++) {
      const ns = await freshNamespace(`scale-t${t}`);
      namespaces.push(ns);
      teamOf.set(ns, t);
    }
    teams.push({ name: `team-${t}`, namespace: namespaces[0]!, gpus: GPUS_PER_TEAM, namespaces });
  }
  platform = { prefix, teams };
  // The fixtures' platform with each ClusterQueue open to all five of its team's namespaces, a LocalQueue in each.
  const objects = platformObjects(platform) as (Json & { kind: string; metadata: { name: string; namespace?: string }; spec: Json })[];
  for (const team of teams) {
    const cq = objects.find((o) => o.kind === 'ClusterQueue' && o.metadata.name === names(platform).clusterQueue(team))!;
    cq.spec.namespaceSelector = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: team.namespaces }] };
    const lq = objects.find((o) => o.kind === 'LocalQueue' && o.metadata.namespace === team.namespace)!;
    for (const ns of team.namespaces.slice(1)) objects.push({ ...structuredClone(lq), metadata: { ...lq.metadata, namespace: ns } });
  }
  await mustKubectl(['apply', '-f', '-'], objects.map((o) => toYaml(o)).join('---\n'));
  for (const team of teams) await mustKubectl(['wait', '--for=condition=Active', '--timeout=60s', `clusterqueue/${names(platform).clusterQueue(team)}`]);
  const secret = toYaml(exampleDocs().secret);
  for (const ns of teamOf.keys()) await mustKubectl(['apply', '-n', ns, '-f', '-'], secret);
  operator = await startOperator(kubeconfig(), 'operator-kueue-scale');
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  // A thousand Jobs, pods and Workloads take the garbage collector minutes on two cores: the namespaces must be gone
  // while Kueue still runs (it removes its finalizers from their Workloads), or they stay Terminating for good.
  const namespaces = [...teamOf.keys()];
  if (namespaces.length) await kubectl(['delete', 'namespace', ...namespaces, '--wait=true', '--timeout=900s'], { timeoutMs: 910_000 });
  if (platform) await deletePlatform(platform, namespaces);
  await kueue?.stop();
}, 1_000_000);

describe(`${TOTAL} FineTuneJobs, ${TEAMS * NAMESPACES_PER_TEAM} namespaces, ${TEAMS} ClusterQueues of ${GPUS_PER_TEAM} GPUs`, () => {
  it(
    "one Job and one Workload per FineTuneJob; each Running in its team's ClusterQueue or Queued with Kueue's reason",
    async () => {
      const custom = kc.makeApiClient(CustomObjectsApi);
      const namespaces = [...teamOf.keys()];
      const template = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Json & { resources: Json; output: Json & { storage: { s3: Json } } } };
      delete template.spec.resources.gpuProduct;
      template.spec.queueName = names(platform).localQueue;
      // Trainers that keep their GPU for the whole test.
      template.spec.trainer = { env: [{ name: 'STANDIN_DURATION_SECONDS', value: '1800' }] };
      const items = Array.from({ length: TOTAL }, (_, i) => ({ ns: namespaces[i % namespaces.length]!, name: `ftj-${i}` }));
      const t0 = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < items.length) {
            const { ns, name } = items[next++]!;
            const spec = {
              ...template.spec,
              output: { ...template.spec.output, adapterName: name, storage: { s3: { ...template.spec.output.storage.s3, prefix: `kueue-scale/${name}` } } },
            };
            await custom.createNamespacedCustomObject({
              group: 'loraplane.io',
              version: 'v1alpha1',
              plural: 'finetunejobs',
              namespace: ns,
              body: { ...template, metadata: { name }, spec },
            });
          }
        }),
      );
      const createdMs = Date.now() - t0;

      let progress = '';
      const ftjs = await waitFor(
        async () => {
          const all = await listAll<Ftj>(['get', 'ftj']);
          const unsettled = all.filter((f) => !settled(f)).slice(0, 5);
          progress = `${all.length - unsettled.length} of ${all.length} settled; e.g. ${unsettled.map((f) => `${f.metadata.namespace}/${f.metadata.name}: ${f.status?.phase} ${condition(f, 'Admitted')?.reason}: ${f.status?.message}`).join('; ')}`;
          return all.length === TOTAL && all.every(settled) ? all : undefined;
        },
        { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 5_000, description: `${TOTAL} FineTuneJobs Running or Queued with Kueue's reason` },
      ).catch((err: Error) => {
        throw new Error(`${err.message} (${progress})`);
      });
      const settledMs = Date.now() - t0;
      console.log(`[kueue-scale] ${TOTAL} FineTuneJobs created in ${createdMs} ms, all settled after ${settledMs} ms`);

      // Exactly one Job per FineTuneJob, controlled by it; no Job without its FineTuneJob.
      const jobs = await listAll<Job>(['get', 'jobs', '-l', 'loraplane.io/finetunejob']);
      const byOwner = new Map<string, Job[]>();
      for (const job of jobs) {
        const owner = job.metadata.ownerReferences?.find((o) => o.kind === 'FineTuneJob' && o.controller);
        expect(owner, `Job ${job.metadata.namespace}/${job.metadata.name} has a controlling FineTuneJob`).toBeDefined();
        byOwner.set(owner!.uid, [...(byOwner.get(owner!.uid) ?? []), job]);
      }
      expect(jobs).toHaveLength(TOTAL);
      const duplicated = ftjs.filter((f) => (byOwner.get(f.metadata.uid) ?? []).length !== 1).map((f) => `${f.metadata.namespace}/${f.metadata.name}`);
      expect(duplicated).toEqual([]);
      for (const f of ftjs) expect(f.status!.jobName).toBe(byOwner.get(f.metadata.uid)![0]!.metadata.name);

      // Exactly one Workload per Job.
      const workloads = await listAll<Workload>(['get', 'workloads.kueue.x-k8s.io']);
      const jobUids = new Set(jobs.map((j) => j.metadata.uid));
      const workloadOwners = workloads.map((w) => w.metadata.ownerReferences?.find((o) => o.kind === 'Job' && o.controller)?.uid);
      expect(workloadOwners.filter((uid) => uid && jobUids.has(uid))).toHaveLength(TOTAL);
      expect(new Set(workloadOwners).size).toBe(TOTAL);

      // Running: admitted by the team's own ClusterQueue, within its quota. Queued: Kueue's reason and message.
      const running = ftjs.filter((f) => f.status!.phase === 'Running');
      const queued = ftjs.filter((f) => f.status!.phase === 'Queued');
      expect(running.length + queued.length).toBe(TOTAL);
      const perQueue = new Map<string, number>();
      for (const f of running) {
        const cq = names(platform).clusterQueue(platform.teams[teamOf.get(f.metadata.namespace)!]!);
        expect(condition(f, 'Admitted')).toMatchObject({ status: 'True', reason: 'Admitted', message: expect.stringContaining(`ClusterQueue ${cq}`) });
        expect(f.status!.admission?.clusterQueue).toBe(cq);
        perQueue.set(cq, (perQueue.get(cq) ?? 0) + 1);
      }
      expect([...perQueue.values()].every((n) => n <= GPUS_PER_TEAM)).toBe(true);
      expect(running.length).toBe(Math.min(TOTAL, TEAMS * GPUS_PER_TEAM));
      const unexpected = queued.filter(
        (f) =>
          !(
            condition(f, 'Admitted')?.reason === 'Pending' &&
            /insufficient unused quota for nvidia\.com\/gpu/.test(condition(f, 'Admitted')!.message) &&
            condition(f, 'Suspended')?.reason === 'WaitingForAdmission' &&
            f.status!.message?.startsWith(`waiting for Kueue to admit the Job from LocalQueue ${names(platform).localQueue}: `) &&
            f.status!.admission === undefined
          ),
      );
      expect(
        unexpected.map((f) => ({ name: `${f.metadata.namespace}/${f.metadata.name}`, message: f.status!.message, admitted: condition(f, 'Admitted') })),
      ).toEqual([]);
      expect(await operator!.metric('loraplane_operator_reconcile_total', 'result="terminal_error"')).toBe(0);
    },
    SETTLE_TIMEOUT_MS + 300_000,
  );

  it('Kueue logged no errors', () => {
    expect(kueue!.errors([/Provisioning Requests not supported/])).toEqual([]);
  });
});

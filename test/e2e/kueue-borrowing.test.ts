// Borrowing and reclaim in a Kueue cohort (the real Kueue, test/kueue): team A's FineTuneJob needs more
// GPUs than A's nominal quota and runs on team B's idle quota; when team B submits, Kueue reclaims its
// quota by preempting A's borrowing job, and A's FineTuneJob says so, naming B's job; once B's job is
// done, A's is admitted again (borrowing again) and finishes. Stand-in trainers throughout.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { names, type Platform } from '../kueue/fixtures.js';
import { applyPlatform, deletePlatform } from '../kueue/platform.js';
import { startKueue, type KueueProcess } from '../kueue/kueue.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { recordPhases } from './support/phases.js';
import { exampleDocs, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Condition = { type: string; status: string; reason: string; message: string };
type Ftj = { status?: { phase?: string; message?: string; conditions?: Condition[]; admission?: Json; preemptions?: number } };
type FlavorUsage = { name: string; resources: { name: string; total: string; borrowed?: string }[] };
type ClusterQueue = { status?: { flavorsReservation?: FlavorUsage[]; admittedWorkloads?: number } };

let kc: KubeConfig;
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
let platform: Platform;
let teamA: string;
let teamB: string;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
/** examples/finetune.yaml on `gpus` GPUs in the namespace's LocalQueue, its stand-in trainer running `seconds`. */
function queuedFtj(name: string, gpus: number, seconds: number): Json {
  const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
  ftj.spec.queueName = names(platform).localQueue;
  ftj.spec.resources.gpus = gpus;
  delete ftj.spec.resources.gpuProduct;
  ftj.spec.trainer = { env: [{ name: 'STANDIN_DURATION_SECONDS', value: String(seconds) }] };
  ftj.spec.output.adapterName = name;
  ftj.spec.output.storage.s3.prefix = `kueue-borrowing/${name}`;
  return { ...ftj, metadata: { name } };
}

const getFtj = (ns: string, name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
const condition = (ftj: Ftj, type: string) => ftj.status?.conditions?.find((c) => c.type === type);
const gpuUsage = async (clusterQueue: string) => {
  const cq = await getJson<ClusterQueue>(['get', 'clusterqueue', clusterQueue]);
  const gpu = cq.status?.flavorsReservation?.flatMap((f) => f.resources).find((r) => r.name === 'nvidia.com/gpu');
  return { total: gpu?.total ?? '0', borrowed: gpu?.borrowed ?? '0' };
};

function waitForFtj(ns: string, name: string, what: string, ok: (f: Ftj) => boolean, timeoutMs = 60_000): Promise<Ftj> {
  return waitFor(
    async () => {
      const f = await getFtj(ns, name);
      if (f.status?.phase === 'Failed') throw new Error(`FineTuneJob ${ns}/${name} failed: ${JSON.stringify(f.status)}`);
      return ok(f) ? f : undefined;
    },
    { timeoutMs, intervalMs: 500, description: `FineTuneJob ${ns}/${name}: ${what}` },
  );
}

beforeAll(async () => {
  kc = loadKubeConfig();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  kueue = await startKueue();
  teamA = await freshNamespace('team-a');
  teamB = await freshNamespace('team-b');
  platform = {
    prefix: `borrow-${process.pid % 10000}-${Date.now() % 100000}`,
    teams: [
      // Team A may borrow up to 2 GPUs of the cohort's idle quota; team B lends all of its own.
      { name: 'team-a', namespace: teamA, gpus: 2, borrowingLimit: 2 },
      { name: 'team-b', namespace: teamB, gpus: 2 },
    ],
  };
  await applyPlatform(platform);
  for (const ns of [teamA, teamB]) await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(exampleDocs().secret));
  operator = await startOperator(process.env.LORAPLANE_E2E_KUBECONFIG!, 'operator-kueue-borrowing');
});

afterAll(async () => {
  await operator?.stop();
  if (platform) await deletePlatform(platform, [teamA, teamB]);
  await kueue?.stop();
});

describe('borrowing idle quota in a Kueue cohort', () => {
  it("team A's job borrows team B's idle GPUs, Kueue reclaims them when B submits, and A's job runs again when B's is done", async () => {
    const n = names(platform);
    const [a, b] = platform.teams as [Platform['teams'][0], Platform['teams'][0]];
    const cqA = n.clusterQueue(a);

    // 3 GPUs: one more than team A's nominal quota, borrowed from team B's idle 2.
    const recorder = await recordPhases(kc, teamA, 'big');
    await mustKubectl(['apply', '-n', teamA, '-f', '-'], toYaml(queuedFtj('big', 3, 20)));
    const borrowing = await waitForFtj(teamA, 'big', 'Running on borrowed quota', (f) => f.status?.phase === 'Running');
    expect(condition(borrowing, 'Admitted')).toMatchObject({
      status: 'True',
      message: `admitted by ClusterQueue ${cqA} (flavor ${n.flavor} for memory, nvidia.com/gpu)`,
    });
    // Kueue's own account (its ClusterQueue status, written shortly after admission): 3 GPUs reserved, 1 borrowed.
    await waitFor(
      async () => {
        const u = await gpuUsage(cqA);
        return u.total === '3' && u.borrowed === '1' ? u : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500, description: `ClusterQueue ${cqA} reserving 3 GPUs, 1 of them borrowed` },
    );

    // Team B wants 2 of its GPUs: only 1 is idle, so Kueue takes back what team A borrowed.
    await mustKubectl(['apply', '-n', teamB, '-f', '-'], toYaml(queuedFtj('own', 2, 3)));
    const reclaimed = await waitForFtj(
      teamA,
      'big',
      'preempted by reclaim',
      (f) => f.status?.phase === 'Queued' && condition(f, 'Admitted')?.reason === 'Preempted',
    );
    const byB = `preempted by FineTuneJob ${teamB}/own (InCohortReclamation): Preempted to accommodate a workload`;
    expect(condition(reclaimed, 'Admitted')).toMatchObject({ status: 'False', reason: 'Preempted', message: expect.stringContaining(byB) });
    expect(condition(reclaimed, 'Admitted')!.message).toMatch(/due to reclamation within the cohort; preemptor path: \/[^/]+\/[^;]+; preemptee path: /);
    expect(reclaimed.status!.message).toContain('; waiting to be admitted again');
    expect(condition(reclaimed, 'Suspended')).toMatchObject({ status: 'True', reason: 'Preempted' });
    expect(reclaimed.status!.preemptions).toBe(1);
    expect(reclaimed.status!.admission).toBeUndefined();

    // Team B's job runs on its own quota and finishes; team A's borrows again and finishes.
    const own = await waitForFtj(teamB, 'own', 'Succeeded', (f) => f.status?.phase === 'Succeeded', 60_000);
    expect(condition(own, 'Admitted')).toMatchObject({ status: 'True', message: expect.stringContaining(`ClusterQueue ${n.clusterQueue(b)}`) });
    const done = await waitForFtj(teamA, 'big', 'Succeeded', (f) => f.status?.phase === 'Succeeded', 90_000);
    recorder.stop();
    expect(condition(done, 'Admitted')).toMatchObject({
      status: 'True',
      message: `admitted again after a preemption by ClusterQueue ${cqA} (flavor ${n.flavor} for memory, nvidia.com/gpu)`,
    });
    expect(done.status!.preemptions).toBe(1);
    // Running, Queued (reclaimed), Running again (after Pending while its new pod starts), Succeeded.
    const runs = recorder.phases.filter((p) => p !== 'Pending').filter((p, i, all) => p !== all[i - 1]);
    expect(runs.slice(runs.indexOf('Running')), JSON.stringify(recorder.phases)).toEqual(['Running', 'Queued', 'Running', 'Succeeded']);
  }, 180_000);

  it('Kueue logged no errors', () => {
    expect(kueue!.errors([/Provisioning Requests not supported/])).toEqual([]);
  });
});

// Gang admission on the real Kueue (test/kueue): a FineTuneJob on 2 pods of 2 GPUs is one Kueue podSet
// of count 2 (the Indexed Job's parallelism), so a ClusterQueue with quota for only one pod's GPUs admits
// none of it: no pod is created, and the FineTuneJob says Queued in Kueue's words. With quota for both,
// Kueue admits the whole group at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { names, type Platform } from '../kueue/fixtures.js';
import { applyPlatform, deletePlatform } from '../kueue/platform.js';
import { startKueue, type KueueProcess } from '../kueue/kueue.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { exampleDocs, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Condition = { type: string; status: string; reason: string; message: string };
type Ftj = { status?: { phase?: string; message?: string; conditions?: Condition[] } };
type Workload = { metadata: { name: string }; spec: { podSets: { name: string; count: number }[] } };

let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
let platform: Platform;
let team: string;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of the example document
type Spec = Record<string, any>;

const getFtj = (name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', team]);
const condition = (ftj: Ftj, type: string) => ftj.status?.conditions?.find((c) => c.type === type);
const podsOf = async (name: string) => (await getJson<{ items: Json[] }>(['get', 'pods', '-n', team, '-l', `loraplane.io/finetunejob=${name}`])).items;

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  kueue = await startKueue();
  team = await freshNamespace('team-g');
  // Quota for one 2-GPU pod.
  platform = { prefix: `gang-${process.pid % 10000}-${Date.now() % 100000}`, teams: [{ name: 'team-g', namespace: team, gpus: 2 }] };
  await applyPlatform(platform);
  await mustKubectl(['apply', '-n', team, '-f', '-'], toYaml(exampleDocs().secret));
  operator = await startOperator(process.env.LORAPLANE_E2E_KUBECONFIG!, 'operator-kueue-gang');
});

afterAll(async () => {
  await operator?.stop();
  if (platform) await deletePlatform(platform, [team]);
  await kueue?.stop();
});

describe('a 2-pod FineTuneJob under Kueue', () => {
  it('is not started at all while the quota holds only one pod, and starts whole once it holds both', async () => {
    const n = names(platform);
    const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
    ftj.spec.queueName = n.localQueue;
    ftj.spec.resources.gpus = 2;
    ftj.spec.resources.nodes = 2;
    delete ftj.spec.resources.gpuProduct;
    ftj.spec.trainer = { env: [{ name: 'STANDIN_DURATION_SECONDS', value: '2' }] };
    ftj.spec.output.storage.s3.prefix = 'kueue-gang/pair';
    await mustKubectl(['apply', '-n', team, '-f', '-'], toYaml({ ...ftj, metadata: { name: 'pair' } }));

    const queued = await waitFor(
      async () => {
        const f = await getFtj('pair');
        return f.status?.phase === 'Queued' && condition(f, 'Admitted')?.status === 'False' ? f : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'pair Queued with Kueue’s reason' },
    );
    const admitted = condition(queued, 'Admitted')!;
    console.log(`pair: ${queued.status?.message}`);
    // Kueue's words: the pod set of 2 pods x 2 GPUs does not fit the 2 GPUs of quota.
    expect(admitted.message).toMatch(new RegExp(`couldn't assign flavors to pod set main: .*quota for nvidia\\.com/gpu in flavor ${n.flavor}`));
    expect(queued.status!.message).toContain(admitted.message);
    // Kueue sees one podSet whose count is the number of pods.
    const workloads = (await getJson<{ items: Workload[] }>(['get', 'workloads.kueue.x-k8s.io', '-n', team])).items;
    expect(workloads).toHaveLength(1);
    expect(workloads[0]!.spec.podSets).toEqual([expect.objectContaining({ name: 'main', count: 2 })]);
    // Not one pod, though one would fit: a few seconds more to be sure nothing starts.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await podsOf('pair')).toEqual([]);
    expect((await getFtj('pair')).status?.phase).toBe('Queued');

    // Quota for both pods: Kueue admits the whole group, and both pods are created.
    await applyPlatform({ ...platform, teams: [{ ...platform.teams[0]!, gpus: 4 }] });
    await waitFor(async () => ((await podsOf('pair')).length === 2 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'both pods of pair created once admitted',
    });
    const running = await getFtj('pair');
    expect(condition(running, 'Admitted')?.status).toBe('True');
  }, 180_000);
});

// Two operator replicas: one leads and reconciles, the other stands by; a killed operator,
// restarted mid-burst, creates no second Job for any FineTuneJob.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Watch } from '@kubernetes/client-node';
import { kubectl, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { exampleDocs, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
const running: OperatorProcess[] = [];
const start = async (identity: string, env: Record<string, string> = {}) => {
  const p = await startOperator(kubeconfig(), identity, env);
  running.push(p);
  return p;
};

const leaseHolder = async (lease: string) =>
  (await getJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', lease, '-n', OPERATOR_NAMESPACE])).spec.holderIdentity;

const fineTuneJobs = (names: string[]) =>
  names
    .map((name) => {
      const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Json };
      // Keep the trainers waiting: this test is about Jobs, not training.
      ftj.spec.suspend = true;
      return toYaml({ ...ftj, metadata: { name } });
    })
    .join('---\n');

async function jobsPerOwner(ns: string): Promise<Map<string, number>> {
  const jobs = await getJson<{ items: { metadata: { labels: Record<string, string> } }[] }>(['get', 'jobs', '-n', ns]);
  const counts = new Map<string, number>();
  for (const j of jobs.items) {
    const owner = j.metadata.labels['loraplane.io/finetunejob']!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});

describe('leader election', () => {
  it('with two replicas only the leader reconciles; the standby takes over when the leader dies', async () => {
    const lease = `le-test-${Date.now()}`;
    const a = await start('replica-a', { LEASE_NAME: lease });
    await waitFor(async () => ((await leaseHolder(lease).catch(() => undefined)) === 'replica-a' ? true : undefined), {
      timeoutMs: 15_000,
      description: 'replica-a holds the lease',
    });
    const b = await start('replica-b', { LEASE_NAME: lease });

    const ns = await freshNamespace('leader');
    await mustKubectl(['apply', '-n', ns, '-f', '-'], fineTuneJobs(['one', 'two', 'three']));
    await waitFor(async () => ((await jobsPerOwner(ns)).size === 3 ? true : undefined), { timeoutMs: 30_000, description: '3 Jobs' });

    expect(await a.metric('loraplane_operator_leader')).toBe(1);
    expect(await b.metric('loraplane_operator_leader')).toBe(0);
    expect(await a.metric('loraplane_operator_reconcile_total')).toBeGreaterThan(0);
    expect(await b.metric('loraplane_operator_reconcile_total')).toBe(0);
    expect((await fetch(`http://127.0.0.1:${b.port}/readyz`)).status).toBe(200);

    await a.kill();
    await waitFor(async () => ((await leaseHolder(lease)) === 'replica-b' ? true : undefined), {
      timeoutMs: 20_000,
      description: 'replica-b takes the lease after it expires',
    });
    await mustKubectl(['apply', '-n', ns, '-f', '-'], fineTuneJobs(['four']));
    await waitFor(async () => ((await jobsPerOwner(ns)).get('four') === 1 ? true : undefined), { timeoutMs: 30_000, description: 'Job for four' });
    expect(await b.metric('loraplane_operator_reconcile_total')).toBeGreaterThan(0);
    expect([...(await jobsPerOwner(ns)).values()]).toEqual([1, 1, 1, 1]);
  });

  it('a leader stopped with SIGTERM hands the lease over at once', async () => {
    const lease = `le-handover-${Date.now()}`;
    const a = await start('handover-a', { LEASE_NAME: lease, LEASE_DURATION_SECONDS: '60' });
    await waitFor(async () => ((await leaseHolder(lease).catch(() => undefined)) === 'handover-a' ? true : undefined), {
      timeoutMs: 15_000,
      description: 'handover-a leads',
    });
    await start('handover-b', { LEASE_NAME: lease, LEASE_DURATION_SECONDS: '60' });
    expect(await a.stop()).toBe(0);
    // Far sooner than the 60 s lease would take to expire.
    await waitFor(async () => ((await leaseHolder(lease)) === 'handover-b' ? true : undefined), {
      timeoutMs: 10_000,
      description: 'handover-b leads right after the release',
    });
  });

  it('an operator killed mid-reconcile and restarted creates no second Job', async () => {
    const lease = `le-crash-${Date.now()}`;
    const ns = await freshNamespace('crash');
    const names = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    await mustKubectl(['apply', '-n', ns, '-f', '-'], fineTuneJobs(names));

    // A watch sees the first Job the moment it is created; one worker keeps the rest in the queue.
    let first: OperatorProcess | undefined;
    let killed: Promise<number | null> | undefined;
    const firstJob = new Promise<void>((resolve) => {
      void new Watch(loadKubeConfig()).watch(
        `/apis/batch/v1/namespaces/${ns}/jobs`,
        {},
        (type: string) => {
          if (type !== 'ADDED') return;
          if (first && !killed) killed = first.kill();
          resolve();
        },
        () => {},
      );
    });
    first = await start('crashy', { LEASE_NAME: lease, MAX_CONCURRENT_RECONCILES: '1' });
    await firstJob;
    killed ??= first.kill();
    await killed;
    const createdBeforeCrash = (await jobsPerOwner(ns)).size;

    // Same identity, as a restarted pod keeps its name: it takes its own lease back at once.
    await start('crashy', { LEASE_NAME: lease });
    await waitFor(async () => ((await jobsPerOwner(ns)).size === names.length ? true : undefined), { timeoutMs: 60_000, description: 'all Jobs' });
    const counts = await jobsPerOwner(ns);
    expect(createdBeforeCrash).toBeLessThan(names.length);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.size).toBe(names.length);
  });
});

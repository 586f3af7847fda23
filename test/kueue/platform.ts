// Setting a platform's Kueue objects up on the test cluster and taking them down again, for the
// test files that each bring their own (fixtures.ts).
import { kubectl } from '../cluster/cluster.js';
import { mustKubectl, toYaml } from '../e2e/support/resources.js';
import { names, platformObjects, platformYaml, type Platform } from './fixtures.js';

/** Applies the objects through Kueue's validating webhooks, as a platform team's kubectl apply would, and waits until every ClusterQueue is Active. */
export async function applyPlatform(p: Platform): Promise<void> {
  await mustKubectl(['apply', '-f', '-'], platformYaml(p));
  for (const team of p.teams) await mustKubectl(['wait', '--for=condition=Active', '--timeout=60s', `clusterqueue/${names(p).clusterQueue(team)}`]);
}

/**
 * Deletes the namespaces, then the platform's cluster-scoped objects; while Kueue still runs, so it
 * removes its finalizers from the Workloads that go with the namespaces and from the ClusterQueues
 * once nothing uses them.
 */
export async function deletePlatform(p: Platform, namespaces: string[]): Promise<void> {
  await kubectl(['delete', 'namespace', ...namespaces, '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
  const cluster = platformObjects(p).filter((o) => !(o.metadata as { namespace?: string }).namespace);
  await kubectl(['delete', '--ignore-not-found', '--wait=true', '--timeout=60s', '-f', '-'], { input: cluster.map((o) => toYaml(o)).join('---\n') });
}

// Kueue objects as a platform team sharing one GPU cluster writes them: a ResourceFlavor per GPU model
// (the labels and taint the GPU operator puts on the nodes, test/cluster/nodes.yaml), one ClusterQueue
// per team, all in one cohort so idle quota can be lent, a LocalQueue in each team's namespace, and
// WorkloadPriorityClasses. The trainer Job requests nvidia.com/gpu, and cpu and memory when the
// FineTuneJob sets them (operator/src/finetunejob/render-job.ts): Kueue admits a Job only when its
// ClusterQueue covers every resource the pods request, so each team's queue covers all three.
// Cluster-scoped names carry a prefix, so test files (or a platform's environments) do not collide.
import { stringify } from 'yaml';

export const KUEUE_API = 'kueue.x-k8s.io/v1beta2';

export interface Team {
  /** The team's name: its ClusterQueue is `<prefix>-<name>`. */
  name: string;
  /** The namespace its users run FineTuneJobs in; it gets the LocalQueue. */
  namespace: string;
  /** Nominal quota in GPUs on the H100 flavor. */
  gpus: number;
  /** How many GPUs beyond its nominal quota it may borrow from the cohort's idle quota (default: none). */
  borrowingLimit?: number;
  /** How many of its GPUs it lends to the cohort (default: all). */
  lendingLimit?: number;
}

export interface Platform {
  prefix: string;
  teams: Team[];
  /** The LocalQueue name in each team namespace (what FineTuneJobs name in spec.queueName). */
  localQueue?: string;
}

export const H100 = { product: 'NVIDIA-H100-80GB-HBM3' };
/** CPU and memory quota per GPU: generous, so GPUs are what runs out (an H100 node: 192 CPUs, 2 TiB for 8 GPUs). */
const PER_GPU = { cpu: 24, memoryGi: 256 };

export const names = (p: Platform) => ({
  cohort: `${p.prefix}-gpu`,
  flavor: `${p.prefix}-h100`,
  clusterQueue: (team: Team) => `${p.prefix}-${team.name}`,
  localQueue: p.localQueue ?? 'gpu',
  priority: { high: `${p.prefix}-high`, normal: `${p.prefix}-normal`, low: `${p.prefix}-low` },
});

export function platformObjects(p: Platform): Record<string, unknown>[] {
  const n = names(p);
  const flavor = {
    apiVersion: KUEUE_API,
    kind: 'ResourceFlavor',
    metadata: { name: n.flavor },
    spec: {
      // Kueue puts these on an admitted Job's pods, so they land on the nodes whose quota they hold.
      nodeLabels: { 'nvidia.com/gpu.product': H100.product },
      // The nodes' taint: only pods that tolerate it (the trainer does) are admitted to this flavor.
      nodeTaints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
    },
  };
  const quota = (name: string, nominal: number | string, team: Team, scale: (x: number) => number | string) => ({
    name,
    nominalQuota: nominal,
    borrowingLimit: scale(team.borrowingLimit ?? 0),
    ...(team.lendingLimit === undefined ? {} : { lendingLimit: scale(team.lendingLimit) }),
  });
  const clusterQueues = p.teams.map((team) => ({
    apiVersion: KUEUE_API,
    kind: 'ClusterQueue',
    metadata: { name: n.clusterQueue(team) },
    spec: {
      cohortName: n.cohort,
      // Only the team's own namespace may submit to its queue.
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': team.namespace } },
      queueingStrategy: 'BestEffortFIFO',
      resourceGroups: [
        {
          coveredResources: ['nvidia.com/gpu', 'cpu', 'memory'],
          flavors: [
            {
              name: n.flavor,
              resources: [
                quota('nvidia.com/gpu', team.gpus, team, (x) => x),
                quota('cpu', team.gpus * PER_GPU.cpu, team, (x) => x * PER_GPU.cpu),
                quota('memory', `${team.gpus * PER_GPU.memoryGi}Gi`, team, (x) => `${x * PER_GPU.memoryGi}Gi`),
              ],
            },
          ],
        },
      ],
      preemption: {
        // A team gets its nominal quota back from borrowers, and a higher-priority job may preempt a
        // lower-priority one of the same team.
        reclaimWithinCohort: 'Any',
        withinClusterQueue: 'LowerPriority',
      },
    },
  }));
  const localQueues = p.teams.map((team) => ({
    apiVersion: KUEUE_API,
    kind: 'LocalQueue',
    metadata: { name: n.localQueue, namespace: team.namespace },
    spec: { clusterQueue: n.clusterQueue(team) },
  }));
  const priorities = [
    { name: n.priority.high, value: 10_000, description: 'Deadline-bound fine-tunes: may preempt lower-priority jobs of the same team.' },
    { name: n.priority.normal, value: 1_000, description: 'The default for interactive fine-tuning.' },
    { name: n.priority.low, value: 100, description: 'Sweeps and experiments: preempted first, resumed from their checkpoint.' },
  ].map(({ name, value, description }) => ({ apiVersion: KUEUE_API, kind: 'WorkloadPriorityClass', metadata: { name }, value, description }));
  return [flavor, ...priorities, ...clusterQueues, ...localQueues];
}

export const platformYaml = (p: Platform): string =>
  platformObjects(p)
    .map((o) => stringify(o))
    .join('---\n');

// What the operator needs from the API, by the code that needs it: the chart's RBAC must grant
// exactly this (chart.test.ts), and the operator must run on it (install.e2e.test.ts).
export interface Permission {
  apiGroup: string;
  resource: string;
  verbs: string[];
  /** Limited to these names (RBAC cannot limit `create` this way). */
  resourceNames?: string[];
  why: string;
}

/** In every served namespace. */
export const SERVED_NAMESPACE_PERMISSIONS: Permission[] = [
  { apiGroup: 'loraplane.io', resource: 'finetunejobs', verbs: ['list', 'watch'], why: 'operator.ts: the FineTuneJob informer' },
  { apiGroup: 'loraplane.io', resource: 'finetunejobs/status', verbs: ['patch'], why: 'finetunejob/reconciler.ts: patchNamespacedCustomObjectStatus' },
  {
    apiGroup: 'loraplane.io',
    resource: 'finetunejobs/finalizers',
    verbs: ['update'],
    why: 'finetunejob/render-job.ts: the Job ownerReference sets blockOwnerDeletion (OwnerReferencesPermissionEnforcement)',
  },
  {
    apiGroup: 'loraplane.io',
    resource: 'loraadapters',
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
    why: 'the LoraAdapter reconciler: informer, adapter made from a FineTuneJob, its finalizer',
  },
  { apiGroup: 'loraplane.io', resource: 'loraadapters/status', verbs: ['update', 'patch'], why: 'the LoraAdapter reconciler: verified status' },
  { apiGroup: 'loraplane.io', resource: 'loraadapters/finalizers', verbs: ['update'], why: 'LoraAdapter ownerReferences with blockOwnerDeletion' },
  {
    apiGroup: 'batch',
    resource: 'jobs',
    verbs: ['list', 'watch', 'create', 'patch'],
    why: 'operator.ts informer; reconciler.ts createNamespacedJob, patchNamespacedJob (suspend)',
  },
  { apiGroup: '', resource: 'pods', verbs: ['get', 'list', 'watch'], why: 'operator.ts informer; trainer progress from the pod' },
  { apiGroup: '', resource: 'secrets', verbs: ['get'], why: 'S3 credentials named by credentialsSecret, to verify adapters' },
  { apiGroup: '', resource: 'serviceaccounts', verbs: ['create'], why: 'finetunejob/service-account.ts: createNamespacedServiceAccount' },
  {
    apiGroup: '',
    resource: 'services',
    verbs: ['create'],
    why: "finetunejob/controller.ts: createNamespacedService (a multi-pod trainer Job's headless Service)",
  },
  {
    apiGroup: 'kueue.x-k8s.io',
    resource: 'workloads',
    verbs: ['list', 'watch', 'patch'],
    why: 'operator.ts: the Workload informer (when the cluster serves Kueue); reconciler.ts: spec.active for spec.suspend (patchNamespacedCustomObject)',
  },
  {
    apiGroup: '',
    resource: 'events',
    verbs: ['create', 'list', 'watch'],
    why: "kube/events.ts: createNamespacedEvent; finetunejob/controller.ts: the informer of the Job controller's FailedCreate events",
  },
];

/** In the release namespace only. */
export const leaderElectionPermissions = (leaseName: string): Permission[] => [
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['create'], why: 'ops/leader-election.ts: the first replica creates the Lease' },
  {
    apiGroup: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['get', 'update'],
    resourceNames: [leaseName],
    why: 'ops/leader-election.ts: read, renew and hand over (replaceNamespacedCustomObject)',
  },
];

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

/** Rules as a sorted list of `group/resource[names]:verb` grants, so rule layout does not matter. */
export function grants(rules: (PolicyRule | Permission)[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    const groups = 'apiGroup' in r ? [r.apiGroup] : (r.apiGroups ?? []);
    const resources = 'resource' in r ? [r.resource] : (r.resources ?? []);
    const names = r.resourceNames?.length ? `[${[...r.resourceNames].sort().join(',')}]` : '';
    for (const g of groups) for (const res of resources) for (const v of r.verbs ?? []) out.add(`${g}/${res}${names}:${v}`);
  }
  return [...out].sort();
}

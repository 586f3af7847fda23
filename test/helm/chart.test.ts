// The chart as helm renders it, against the code it deploys: env names from operator/src/config.ts,
// RBAC equal to what the code needs (operator-permissions.ts), values.schema.json enforced by helm.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Deployment } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV_NAMES, loadConfig } from '@loraplane/operator/config';
import { LABEL_MANAGED_BY, MANAGED_BY, trainerLabels } from '@loraplane/operator/finetunejob/naming';
import { createAdapterMetrics } from '@loraplane/operator/loraadapter/metrics';
import { createOperatorMetrics } from '@loraplane/operator/ops/metrics';
import { createTrainerMetrics } from '@loraplane/trainer/metrics';
import { containerEnv } from './container-env.js';
import { CHART_DIR, helm, helmBinary } from './helm.js';
import { grants, leaderElectionPermissions, SERVED_NAMESPACE_PERMISSIONS } from './operator-permissions.js';
import { only, RELEASE_NAMESPACE, renderChart, type K8sObject } from './render.js';

const repo = join(import.meta.dirname, '../..');
const SERVED = ['team-a', 'team-b'];
const PORT = 8080;

type Rules = { rules: { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }[] };
type Binding = { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };

const USER_ROLES = 'user-roles';
const deploymentOf = (objects: K8sObject[]) => only(objects, 'Deployment') as unknown as V1Deployment;
const containerOf = (objects: K8sObject[]): V1Container => deploymentOf(objects).spec!.template.spec!.containers[0]!;
const envOf = (objects: K8sObject[]) => containerEnv(deploymentOf(objects), 'operator', { podName: 'lp-0', podNamespace: RELEASE_NAMESPACE });
const rbac = (objects: K8sObject[]) => objects.filter((o) => o.apiVersion === 'rbac.authorization.k8s.io/v1');

/** Environment variables read in operator/src outside config.ts (the logger's). */
function directlyReadEnv(): string[] {
  const names = new Set<string>();
  const dir = join(repo, 'operator/src');
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)) names.add(m[1]!);
  }
  return [...names];
}

let defaults: K8sObject[];
let namespaced: K8sObject[];

beforeAll(async () => {
  await helmBinary();
  [defaults, namespaced] = await Promise.all([renderChart(), renderChart({ watchNamespaces: SERVED })]);
}, 600_000);

describe('helm lint', () => {
  it.each([
    ['default values', []],
    [
      'served namespaces, monitors on, one replica',
      [
        '--set',
        `watchNamespaces={${SERVED.join(',')}}`,
        '--set',
        'metrics.serviceMonitor.enabled=true',
        '--set',
        'metrics.podMonitor.enabled=true',
        '--set',
        'replicaCount=1',
      ],
    ],
    ['the dashboard on, the user roles off', ['--set', 'grafanaDashboard.enabled=true', '--set', 'rbac.aggregateClusterRoles=false']],
  ])('passes --strict with %s', async (_, args) => {
    const r = await helm(['lint', '--strict', CHART_DIR, ...args]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

describe('CRDs', () => {
  it('charts/loraplane/crds/ is crds/ (npm run generate:crds writes both)', () => {
    const files = readdirSync(join(repo, 'crds')).sort();
    expect(readdirSync(join(CHART_DIR, 'crds')).sort()).toEqual(files);
    for (const f of files) {
      expect(readFileSync(join(CHART_DIR, 'crds', f), 'utf8'), `charts/loraplane/crds/${f} differs from crds/${f}`).toBe(
        readFileSync(join(repo, 'crds', f), 'utf8'),
      );
    }
  });
});

describe('operator Deployment', () => {
  it('runs 2 replicas with leader election', () => {
    expect(deploymentOf(defaults).spec!.replicas).toBe(2);
    const cfg = loadConfig(envOf(defaults));
    expect(cfg.LEADER_ELECT).toBe(true);
    expect(cfg.LEASE_NAME).toBe('lp-loraplane-leader');
  });

  it('sets exactly the variables the operator reads, each valid for operator/src/config.ts', () => {
    const names = (containerOf(defaults).env ?? []).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...new Set([...CONFIG_ENV_NAMES, ...directlyReadEnv()])].sort());

    const cfg = loadConfig(envOf(defaults));
    expect(cfg).toMatchObject({
      WATCH_NAMESPACES: [],
      POD_NAME: 'lp-0',
      POD_NAMESPACE: RELEASE_NAMESPACE,
      HTTP_HOST: '0.0.0.0',
      HTTP_PORT: PORT,
      TRAINER_IMAGE: 'ghcr.io/loraplane/trainer:0.1.0',
      TRAINER_SERVICE_ACCOUNT: 'loraplane-trainer',
    });
    expect(loadConfig(envOf(namespaced)).WATCH_NAMESPACES).toEqual(SERVED);
  });

  it('takes the pod name and namespace from the downward API', () => {
    const env = containerOf(defaults).env ?? [];
    expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
  });

  it('probes /healthz and /readyz on HTTP_PORT', () => {
    const c = containerOf(defaults);
    expect(c.ports).toEqual([{ name: 'http', containerPort: PORT, protocol: 'TCP' }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const moved = renderChart({ http: { host: '0.0.0.0', port: 9443 } }).then((o) => [
      containerOf(o).ports?.[0]?.containerPort,
      loadConfig(envOf(o)).HTTP_PORT,
    ]);
    return expect(moved).resolves.toEqual([9443, 9443]);
  });

  it('meets the restricted Pod Security Standard and has resources', () => {
    const pod = deploymentOf(defaults).spec!.template.spec!;
    const c = containerOf(defaults);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources?.limits).toMatchObject({ memory: expect.any(String) });
    expect(pod.serviceAccountName).toBe(only(defaults, 'ServiceAccount').metadata.name);
  });

  it('keeps one replica through drains (PodDisruptionBudget), none with a single replica', async () => {
    expect(only(defaults, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1, selector: deploymentOf(defaults).spec!.selector });
    expect((await renderChart({ replicaCount: 1 })).filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
  });

  it('refuses a shutdown timeout the grace period would cut short', async () => {
    const r = await helm(['template', 'lp', CHART_DIR, '--set', 'shutdownTimeoutMs=30000']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('shutdownTimeoutMs must be shorter than terminationGracePeriodSeconds');
  });
});

describe('RBAC', () => {
  const sa = () => only(defaults, 'ServiceAccount').metadata.name;
  const leaseName = (objects: K8sObject[]) => loadConfig(envOf(objects)).LEASE_NAME;

  it('all namespaces: a ClusterRole with exactly what the code needs, bound to the operator ServiceAccount', () => {
    const role = only(defaults, 'ClusterRole', 'lp-loraplane') as K8sObject & Rules;
    expect(grants(role.rules)).toEqual(grants(SERVED_NAMESPACE_PERMISSIONS));
    const binding = only(defaults, 'ClusterRoleBinding') as K8sObject & Binding;
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa(), namespace: RELEASE_NAMESPACE }]);
  });

  it('Leases only in the release namespace, get and update only on the operator Lease', () => {
    for (const objects of [defaults, namespaced]) {
      const leaseRoles = rbac(objects).filter((o) => o.kind === 'Role' && grants((o as K8sObject & Rules).rules).some((g) => g.includes('leases')));
      expect(leaseRoles.map((r) => r.metadata.namespace)).toEqual([RELEASE_NAMESPACE]);
      expect(grants((leaseRoles[0] as K8sObject & Rules).rules)).toEqual(grants(leaderElectionPermissions(leaseName(objects))));
    }
    const off = renderChart({ leaderElection: { enabled: false, leaseName: '', leaseDurationSeconds: 15, renewDeadlineMs: 10000, retryPeriodMs: 2000 } });
    return expect(off.then((o) => [loadConfig(envOf(o)).LEADER_ELECT, rbac(o).filter((r) => r.kind === 'Role').length])).resolves.toEqual([false, 0]);
  });

  it('served namespaces: a Role and RoleBinding in each, no cluster-wide rights', () => {
    // The only cluster-scoped RBAC: the user roles, which nothing in the chart binds.
    expect(rbac(namespaced).filter((o) => o.kind.startsWith('Cluster') && o.metadata.labels?.['app.kubernetes.io/component'] !== USER_ROLES)).toEqual([]);
    for (const ns of SERVED) {
      const role = rbac(namespaced).find((o) => o.kind === 'Role' && o.metadata.namespace === ns) as K8sObject & Rules;
      expect(grants(role.rules)).toEqual(grants(SERVED_NAMESPACE_PERMISSIONS));
      const binding = rbac(namespaced).find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === ns) as K8sObject & Binding;
      expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa(), namespace: RELEASE_NAMESPACE }]);
    }
  });

  it('no wildcards; Secrets only read, one by one', () => {
    for (const objects of [defaults, namespaced]) {
      const all = rbac(objects).flatMap((o) => grants((o as Partial<Rules>).rules ?? []));
      expect(all.filter((g) => g.includes('*'))).toEqual([]);
      expect([...new Set(all.filter((g) => g.startsWith('/secrets')))]).toEqual(['/secrets:get']);
    }
  });

  it('the trainer ServiceAccount in each served namespace: no token, bound to nothing', () => {
    const trainers = namespaced.filter((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'loraplane-trainer');
    expect(trainers.map((o) => [o.metadata.namespace, o.automountServiceAccountToken])).toEqual(SERVED.map((ns) => [ns, false]));
    const subjects = rbac(namespaced).flatMap((o) => (o as Partial<Binding>).subjects ?? []);
    expect(subjects.filter((s) => s.name === 'loraplane-trainer')).toEqual([]);
    // All namespaces served: the operator makes it where a trainer runs (service-account.ts).
    expect(defaults.filter((o) => o.metadata.name === 'loraplane-trainer')).toEqual([]);
  });
});

describe('metrics', () => {
  it('a Service in front of the probes port; monitors only when asked for', async () => {
    const svc = only(defaults, 'Service') as K8sObject & { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } };
    expect(svc.spec.selector).toEqual(deploymentOf(defaults).spec!.selector.matchLabels);
    expect(svc.spec.ports[0]!.targetPort).toBe('http');
    expect(defaults.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1')).toEqual([]);

    const on = await renderChart({
      watchNamespaces: SERVED,
      metrics: {
        service: { type: 'ClusterIP', port: PORT },
        serviceMonitor: { enabled: true, interval: '30s', scrapeTimeout: '10s', labels: { release: 'prom' } },
        podMonitor: { enabled: true, interval: '15s', scrapeTimeout: '10s', labels: {} },
      },
    });
    const sm = only(on, 'ServiceMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    };
    expect(sm.metadata.labels?.release).toBe('prom');
    // A ServiceMonitor selects Services by their labels.
    expect(only(on, 'Service').metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    const pm = only(on, 'PodMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: unknown } };
    // The labels the operator puts on trainer pods select them.
    expect(trainerLabels('any-job')).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.selector.matchLabels[LABEL_MANAGED_BY]).toBe(MANAGED_BY);
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: SERVED });
  });
});

describe('user roles', () => {
  const AGGREGATE = 'rbac.authorization.k8s.io/aggregate-to-';
  const userRoles = (objects: K8sObject[]) => rbac(objects).filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === USER_ROLES);
  const aggregatedTo = (o: K8sObject) =>
    Object.entries(o.metadata.labels ?? {})
      .filter(([k, v]) => k.startsWith(AGGREGATE) && v === 'true')
      .map(([k]) => k.slice(AGGREGATE.length))
      .sort();
  /** What a RoleBinding to the built-in role would add: every user role aggregated into it. */
  const grantedBy = (objects: K8sObject[], builtIn: 'view' | 'edit' | 'admin') =>
    [
      ...new Set(
        userRoles(objects)
          .filter((o) => aggregatedTo(o).includes(builtIn))
          .flatMap((o) => grants((o as K8sObject & Rules).rules)),
      ),
    ].sort();
  const on = (resources: string[], verbs: string[]) => resources.flatMap((r) => verbs.map((v) => `loraplane.io/${r}:${v}`)).sort();

  it('ClusterRoles aggregated into view, edit and admin, whatever namespaces are served', () => {
    for (const objects of [defaults, namespaced]) {
      const roles = userRoles(objects);
      expect(roles.map((o) => [o.kind, o.metadata.name, aggregatedTo(o)])).toEqual([
        ['ClusterRole', 'lp-loraplane-view', ['admin', 'edit', 'view']],
        ['ClusterRole', 'lp-loraplane-edit', ['admin', 'edit']],
      ]);
    }
  });

  it('view reads FineTuneJobs and LoraAdapters and their status; edit and admin also write the objects, never status', () => {
    const objects = ['finetunejobs', 'loraadapters'];
    const reads = on([...objects, 'finetunejobs/status', 'loraadapters/status'], ['get', 'list', 'watch']);
    expect(grantedBy(defaults, 'view')).toEqual(reads);
    const writes = on(objects, ['create', 'update', 'patch', 'delete', 'deletecollection']);
    expect(grantedBy(defaults, 'edit')).toEqual([...reads, ...writes].sort());
    expect(grantedBy(defaults, 'admin')).toEqual(grantedBy(defaults, 'edit'));
    for (const role of userRoles(defaults)) {
      const g = grants((role as K8sObject & Rules).rules);
      expect(
        g.filter((x) => /\/status:(?!get|list|watch)/.test(x) || x.includes('/finalizers') || x.includes('*')),
        role.metadata.name,
      ).toEqual([]);
    }
  });

  it('the chart binds nobody to them; rbac.aggregateClusterRoles=false or rbac.create=false leaves them out', async () => {
    const bound = rbac(defaults).flatMap((o) => ((o as Partial<Binding>).roleRef ? [(o as K8sObject & Binding).roleRef.name] : []));
    for (const r of userRoles(defaults)) expect(bound).not.toContain(r.metadata.name);
    expect(userRoles(await renderChart({ rbac: { create: true, aggregateClusterRoles: false } }))).toEqual([]);
    expect(userRoles(await renderChart({ rbac: { create: false, aggregateClusterRoles: true } }))).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  type Target = { expr: string; refId: string; datasource: { uid: string } };
  type Panel = { type: string; title: string; targets?: Target[]; datasource?: { uid: string } };
  type Dashboard = { uid: string; panels: Panel[]; templating: { list: { name: string; query: unknown }[] } };
  const file = join(CHART_DIR, 'dashboards/loraplane.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
  const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

  it('off by default; on, a ConfigMap with the sidecar label holding charts/loraplane/dashboards/loraplane.json', async () => {
    expect(defaults.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
    const on = await renderChart({
      grafanaDashboard: { enabled: true, namespace: '', labels: { grafana_dashboard: '1' }, annotations: { grafana_folder: 'GPU' } },
    });
    const cm = only(on, 'ConfigMap') as K8sObject & { metadata: { annotations?: Record<string, string> }; data: Record<string, string> };
    expect(cm.metadata).toMatchObject({
      name: 'lp-loraplane-dashboard',
      namespace: RELEASE_NAMESPACE,
      labels: { grafana_dashboard: '1' },
      annotations: { grafana_folder: 'GPU' },
    });
    expect(Object.keys(cm.data)).toEqual(['loraplane.json']);
    expect(JSON.parse(cm.data['loraplane.json']!)).toEqual(dashboard);

    const elsewhere = await renderChart({ grafanaDashboard: { enabled: true, namespace: 'monitoring', labels: { dashboards: 'grafana' }, annotations: {} } });
    expect(only(elsewhere, 'ConfigMap').metadata).toMatchObject({ namespace: 'monitoring', labels: { dashboards: 'grafana' } });
  });

  it('every panel queries the chosen Prometheus data source and filters by the namespace and queue variables', () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'queue']);
    expect(targets.length).toBeGreaterThan(10);
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refs = p.targets!.map((t) => t.refId);
      expect(new Set(refs).size, p.title).toBe(refs.length);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own template-variable syntax, matched literally
      for (const t of p.targets!) expect(t.datasource.uid, p.title).toBe('${datasource}');
    }
    // loraplane's own series follow the variables; Kueue's (per ClusterQueue) cannot.
    for (const t of targets.filter((x) => /loraplane_/.test(x.expr))) expect(t.expr, `${t.panel} ${t.refId}`).toMatch(/namespace=~"\$namespace"/);
  });

  it('names only metrics the operator and the trainer export (and Kueue)', async () => {
    const operator = createOperatorMetrics(() => []);
    createAdapterMetrics(operator.registry, () => []);
    const trainer = createTrainerMetrics({ namespace: 'n', finetunejob: 'j' });
    const families = [...(await operator.registry.getMetricsAsJSON()), ...(await trainer.registry.getMetricsAsJSON())];
    const series = new Set(families.flatMap((f) => (String(f.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => f.name + s) : [f.name])));
    const used = new Set(targets.flatMap((t) => t.expr.match(/\b(loraplane|kueue)_[a-z_]+/g) ?? []));
    expect([...used].filter((m) => m.startsWith('loraplane_') && !series.has(m))).toEqual([]);
    expect([...used].filter((m) => m.startsWith('kueue_')).sort()).toEqual([
      'kueue_cluster_queue_borrowing_limit',
      'kueue_cluster_queue_nominal_quota',
      'kueue_cluster_queue_resource_usage',
      'kueue_preempted_workloads_total',
    ]);
  });
});

describe('values.schema.json', () => {
  it.each([
    ['replicaCount=two', "at '/replicaCount': got string, want integer"],
    ['watchNamespaces[0]=Team_A', "at '/watchNamespaces/0'"],
    ['trainer.image.pullPolicy=Sometimes', "at '/trainer/image/pullPolicy'"],
    ['replicas=2', "additional properties 'replicas' not allowed"],
    ['rbac.aggregateClusterRoles=yes', "at '/rbac/aggregateClusterRoles': got string, want boolean"],
    ['grafanaDashboard.label=x', "additional properties 'label' not allowed"],
  ])('helm refuses %s', async (set, message) => {
    const r = await helm(['template', 'lp', CHART_DIR, '--set-string', set]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toContain(message);
  });
});

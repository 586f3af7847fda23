// The chart installed by helm into the test control plane, serving one namespace: its CRDs are
// served, its RBAC lets the operator do its work there and nowhere else, the trainer's ServiceAccount
// can do nothing, and the operator run with the installed env and ServiceAccount reconciles a
// FineTuneJob into a trainer Job.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigPath, kubectl, waitFor } from '../cluster/cluster.js';
import { startOperator, TRAINER_STANDIN_IMAGE, type OperatorProcess } from '../e2e/support/operator-process.js';
import { exampleDocs, freshNamespace, getJson, mustKubectl, toYaml, type Json } from '../e2e/support/resources.js';
import { CHART_DIR, helmBinary, mustHelm } from './helm.js';
import { installedOperator, type InstalledOperator } from './installed-operator.js';

const RELEASE = 'lp';
const TRAINER_SA = 'loraplane-trainer';
/** What every authenticated user may do (system:basic-user): review its own access. */
const SELF_REVIEWS = [
  'selfsubjectaccessreviews.authorization.k8s.io',
  'selfsubjectreviews.authentication.k8s.io',
  'selfsubjectrulesreviews.authorization.k8s.io',
];

let releaseNs: string;
let served: string;
let unserved: string;
let installed: InstalledOperator;
let operator: OperatorProcess | undefined;

const as = (namespace: string, sa: string) => `--as=system:serviceaccount:${namespace}:${sa}`;
const operatorSa = () => as(releaseNs, installed.serviceAccount);
/** `kubectl auth can-i` as that identity: true for "yes", false for "no". */
async function can(identity: string, verb: string, resource: string, namespace: string): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', verb, resource, '-n', namespace, identity]);
  if (r.code !== 0 && r.stdout.trim() !== 'no') throw new Error(`kubectl auth can-i failed (${r.code}): ${r.stderr}`);
  return r.code === 0;
}
/** The rows of `kubectl auth can-i --list`: resource, non-resource URLs, resource names, verbs. */
async function rulesOf(identity: string, namespace: string): Promise<string[]> {
  const out = await mustKubectl(['auth', 'can-i', '--list', '-n', namespace, identity]);
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean)
    .sort();
}

beforeAll(async () => {
  await helmBinary();
  [releaseNs, served, unserved] = [await freshNamespace('lp-helm'), await freshNamespace('served'), await freshNamespace('unserved')];
  const [repository, tag] = TRAINER_STANDIN_IMAGE.split(':');
  await mustHelm(
    [
      'install',
      RELEASE,
      CHART_DIR,
      '--namespace',
      releaseNs,
      '--set',
      `watchNamespaces={${served}}`,
      '--set',
      `trainer.image.repository=${repository}`,
      '--set',
      `trainer.image.tag=${tag}`,
    ],
    { kubeconfig: kubeconfigPath() },
  );
  installed = await installedOperator({ release: RELEASE, namespace: releaseNs, podName: 'helm-operator-0' });
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  if (releaseNs !== undefined) await mustHelm(['uninstall', RELEASE, '--namespace', releaseNs, '--wait'], { kubeconfig: kubeconfigPath() });
  for (const ns of [releaseNs, served, unserved]) if (ns !== undefined) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('helm install', () => {
  it('serves the CRDs and creates the operator Deployment', async () => {
    await mustKubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/finetunejobs.loraplane.io', 'crd/loraadapters.loraplane.io']);
    expect(installed.deployment.spec?.replicas).toBe(2);
    const status = JSON.parse(await mustHelm(['status', RELEASE, '--namespace', releaseNs, '-o', 'json'], { kubeconfig: kubeconfigPath() })) as {
      info: { status: string };
    };
    expect(status.info.status).toBe('deployed');
  });
});

describe('RBAC on the control plane', () => {
  it('the operator reads Secrets in the served namespace, not elsewhere', async () => {
    expect(await can(operatorSa(), 'get', 'secrets', served)).toBe(true);
    expect(await can(operatorSa(), 'get', 'secrets', unserved)).toBe(false);
    expect(await can(operatorSa(), 'get', 'secrets', releaseNs)).toBe(false);
    expect(await can(operatorSa(), 'list', 'secrets', served)).toBe(false);
    expect(await can(operatorSa(), 'list', 'finetunejobs.loraplane.io', unserved)).toBe(false);
  });

  it('the operator creates Jobs, not Pods or Secrets, and deletes nothing', async () => {
    expect(await can(operatorSa(), 'create', 'jobs.batch', served)).toBe(true);
    expect(await can(operatorSa(), 'create', 'pods', served)).toBe(false);
    expect(await can(operatorSa(), 'create', 'secrets', served)).toBe(false);
    for (const resource of ['jobs.batch', 'pods', 'finetunejobs.loraplane.io', 'loraadapters.loraplane.io']) {
      expect(await can(operatorSa(), 'delete', resource, served), `delete ${resource}`).toBe(false);
    }
  });

  it('the operator holds its own Lease in the release namespace only', async () => {
    const lease = installed.env.LEASE_NAME!;
    expect(await can(operatorSa(), 'update', `leases.coordination.k8s.io/${lease}`, releaseNs)).toBe(true);
    expect(await can(operatorSa(), 'update', 'leases.coordination.k8s.io/someone-elses', releaseNs)).toBe(false);
    expect(await can(operatorSa(), 'create', 'leases.coordination.k8s.io', served)).toBe(false);
  });

  it('the trainer ServiceAccount can do nothing beyond what every ServiceAccount may', async () => {
    const trainer = as(served, TRAINER_SA);
    const sa = await getJson<{ automountServiceAccountToken?: boolean }>(['get', 'serviceaccount', TRAINER_SA, '-n', served]);
    expect(sa.automountServiceAccountToken).toBe(false);
    const rules = await rulesOf(trainer, served);
    // Same list as the namespace's default ServiceAccount, which nothing is bound to.
    expect(rules).toEqual(await rulesOf(as(served, 'default'), served));
    const resources = rules.map((r) => r.split(' ')[0]!).filter((r) => !r.startsWith('['));
    expect(resources.sort()).toEqual(SELF_REVIEWS);
    for (const [verb, resource] of [
      ['get', 'secrets'],
      ['get', 'pods'],
      ['get', 'configmaps'],
      ['patch', 'finetunejobs.loraplane.io/status'],
      ['create', 'pods'],
    ] as const) {
      expect(await can(trainer, verb, resource, served), `${verb} ${resource}`).toBe(false);
    }
  });
});

describe('the operator as installed', () => {
  it('runs on the chart’s env and ServiceAccount: leads, and reconciles a FineTuneJob into a Job, only where served', async () => {
    operator = await startOperator(installed.kubeconfig, 'helm-operator-0', installed.localEnv);
    const lease = await waitFor(
      async () =>
        (await getJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', installed.env.LEASE_NAME!, '-n', releaseNs])).spec.holderIdentity ===
        'helm-operator-0',
      { timeoutMs: 30_000, description: `Lease ${releaseNs}/${installed.env.LEASE_NAME} held by the operator` },
    );
    expect(lease).toBe(true);

    const { secret, fineTuneJob } = exampleDocs();
    for (const ns of [served, unserved]) {
      await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(secret));
      await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(fineTuneJob));
    }
    const name = (fineTuneJob as { metadata: { name: string } }).metadata.name;
    type Job = { metadata: { ownerReferences: Json[] }; spec: { template: { spec: { serviceAccountName: string; containers: { image: string }[] } } } };
    const jobs = (ns: string) => getJson<{ items: Job[] }>(['get', 'jobs', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`]).then((l) => l.items);
    const [job] = await waitFor(async () => ((await jobs(served)).length > 0 ? jobs(served) : undefined), {
      timeoutMs: 30_000,
      description: `trainer Job in ${served}`,
    });
    expect(job!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'FineTuneJob', name, blockOwnerDeletion: true })]);
    expect(job!.spec.template.spec.serviceAccountName).toBe(TRAINER_SA);
    expect(job!.spec.template.spec.containers[0]!.image).toBe(installed.env.TRAINER_IMAGE);

    const ftj = await waitFor(
      async () => {
        const f = await getJson<{ status?: { phase?: string } }>(['get', 'ftj', name, '-n', served]);
        return f.status?.phase === 'Succeeded' ? f : undefined;
      },
      { timeoutMs: 60_000, description: `FineTuneJob ${served}/${name} Succeeded` },
    );
    expect(ftj.status?.phase).toBe('Succeeded');

    // Nothing outside the served namespace was touched, and nothing the operator tried was refused.
    expect(await jobs(unserved)).toEqual([]);
    expect((await getJson<{ status?: unknown }>(['get', 'ftj', name, '-n', unserved])).status).toBeUndefined();
    const refused = readFileSync(operator.logFile, 'utf8')
      .split('\n')
      .filter((l) => /HTTP-Code: 403|forbidden/i.test(l));
    expect(refused).toEqual([]);
  });
});

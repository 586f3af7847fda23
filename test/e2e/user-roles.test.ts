// The chart's user roles (templates/rbac-user-roles.yaml) on the real control plane: rendered by helm
// with the chart's defaults and applied; kube-controller-manager aggregates them into the built-in
// `view`, `edit` and `admin` ClusterRoles. Users made with test/cluster/make-user.sh, each bound with a
// RoleBinding to a built-in role in one namespace, are checked with `kubectl auth can-i` and with real
// requests: editors write FineTuneJobs and LoraAdapters but never their status, viewers only read, and
// nobody gets anything in another namespace.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { CHART_DIR, helmBinary, mustHelm } from '../helm/helm.js';
import { exampleDocs, freshNamespace, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

// Cluster-scoped names of their own: a run that died before its cleanup leaves nothing in the next one's way.
const RELEASE = `roles-${randomBytes(3).toString('hex')}`;
const FTJ = 'finetunejobs.loraplane.io';
const LORA = 'loraadapters.loraplane.io';
const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const READ_VERBS = ['get', 'list', 'watch'];

let team: string;
let other: string;
let roleNames: string[] = [];
const users: Record<'viewer' | 'editor' | 'admin', string> = { viewer: '', editor: '', admin: '' };

/** `kubectl auth can-i` as a make-user.sh identity: true for "yes", false for "no". */
async function can(user: string, verb: string, resource: string, namespace: string, subresource?: string): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', verb, resource, '-n', namespace, ...(subresource ? [`--subresource=${subresource}`] : [])], { kubeconfig: user });
  if (r.code !== 0 && r.stdout.trim() !== 'no') throw new Error(`kubectl auth can-i failed (${r.code}): ${r.stderr}`);
  return r.code === 0;
}

async function makeUser(name: string): Promise<string> {
  const script = new URL('../cluster/make-user.sh', import.meta.url).pathname;
  return (await promisify(execFile)('bash', [script, name])).stdout.trim();
}

const roleBinding = (name: string, clusterRole: string, user: string): Json => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
  subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
});

beforeAll(async () => {
  await helmBinary();
  await installCrds();
  [team, other] = [await freshNamespace('roles-team'), await freshNamespace('roles-other')];

  // What the chart ships by default, as helm renders it.
  const rendered = await mustHelm(['template', RELEASE, CHART_DIR, '--namespace', 'loraplane-system', '--show-only', 'templates/rbac-user-roles.yaml']);
  roleNames = parseAllDocuments(rendered).flatMap((d) => {
    const o = d.toJS() as { kind?: string; metadata?: { name: string } } | null;
    return o?.kind === 'ClusterRole' ? [o.metadata!.name] : [];
  });
  expect(roleNames).toEqual([`${RELEASE}-loraplane-view`, `${RELEASE}-loraplane-edit`]);
  await mustKubectl(['apply', '-f', '-'], rendered);

  for (const [who, builtIn] of [
    ['viewer', 'view'],
    ['editor', 'edit'],
    ['admin', 'admin'],
  ] as const) {
    const name = `${team}-${who}`;
    users[who] = await makeUser(name);
    await mustKubectl(['apply', '-n', team, '-f', '-'], toYaml(roleBinding(`${who}s`, builtIn, name)));
  }
  // The aggregation controller copies the rules into the built-in roles shortly after they appear.
  await waitFor(
    async () =>
      (await can(users.viewer, 'list', FTJ, team)) && (await can(users.editor, 'create', LORA, team)) && (await can(users.admin, 'create', FTJ, team)),
    {
      timeoutMs: 30_000,
      description: 'the user roles aggregated into view, edit and admin',
    },
  );
}, 120_000);

afterAll(async () => {
  if (roleNames.length) await kubectl(['delete', 'clusterrole', ...roleNames, '--ignore-not-found']);
  for (const ns of [team, other]) if (ns !== undefined) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a user bound to the built-in edit role in one namespace', () => {
  it('creates, changes and deletes FineTuneJobs and LoraAdapters there, and reads them', async () => {
    for (const resource of [FTJ, LORA]) {
      for (const verb of [...WRITE_VERBS, ...READ_VERBS]) expect(await can(users.editor, verb, resource, team), `${verb} ${resource}`).toBe(true);
    }
  });

  it('never writes their status', async () => {
    for (const resource of [FTJ, LORA]) {
      for (const verb of ['update', 'patch']) expect(await can(users.editor, verb, resource, team, 'status'), `${verb} ${resource}/status`).toBe(false);
      expect(await can(users.editor, 'get', resource, team, 'status'), `get ${resource}/status`).toBe(true);
    }
  });

  it('has no rights on them in another namespace', async () => {
    for (const resource of [FTJ, LORA]) {
      for (const verb of ['create', 'delete', 'get', 'list'])
        expect(await can(users.editor, verb, resource, other), `${verb} ${resource} in ${other}`).toBe(false);
    }
  });

  it('as real requests: applies a FineTuneJob, is refused a status patch and anything in the other namespace', async () => {
    const { fineTuneJob } = exampleDocs();
    const name = (fineTuneJob as { metadata: { name: string } }).metadata.name;
    const asEditor = (args: string[], input?: string) => kubectl(args, { kubeconfig: users.editor, ...(input !== undefined ? { input } : {}) });

    const created = await asEditor(['apply', '-n', team, '-f', '-'], toYaml(fineTuneJob));
    expect(created.code, created.stderr).toBe(0);
    const statusPatch = await asEditor(['patch', 'ftj', name, '-n', team, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Succeeded"}}']);
    expect(statusPatch.code).not.toBe(0);
    expect(statusPatch.stderr).toMatch(/forbidden/i);
    const elsewhere = await asEditor(['apply', '-n', other, '-f', '-'], toYaml(fineTuneJob));
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toMatch(/forbidden/i);

    // The viewer reads it, status included, and can neither change nor delete it.
    const asViewer = (args: string[]) => kubectl(args, { kubeconfig: users.viewer });
    const read = await asViewer(['get', 'ftj', name, '-n', team, '-o', 'json']);
    expect(read.code, read.stderr).toBe(0);
    expect((await asViewer(['delete', 'ftj', name, '-n', team])).stderr).toMatch(/forbidden/i);

    const deleted = await asEditor(['delete', 'ftj', name, '-n', team]);
    expect(deleted.code, deleted.stderr).toBe(0);
  });
});

describe('a user bound to the built-in view role', () => {
  it('lists, gets and watches them, status included, and writes nothing', async () => {
    for (const resource of [FTJ, LORA]) {
      for (const verb of READ_VERBS) expect(await can(users.viewer, verb, resource, team), `${verb} ${resource}`).toBe(true);
      expect(await can(users.viewer, 'get', resource, team, 'status'), `get ${resource}/status`).toBe(true);
      for (const verb of WRITE_VERBS) expect(await can(users.viewer, verb, resource, team), `${verb} ${resource}`).toBe(false);
      expect(await can(users.viewer, 'patch', resource, team, 'status'), `patch ${resource}/status`).toBe(false);
      expect(await can(users.viewer, 'list', resource, other), `list ${resource} in ${other}`).toBe(false);
    }
  });
});

describe('a user bound to the built-in admin role', () => {
  it('gets what edit gets, still no status writes', async () => {
    for (const resource of [FTJ, LORA]) {
      for (const verb of [...WRITE_VERBS, ...READ_VERBS]) expect(await can(users.admin, verb, resource, team), `${verb} ${resource}`).toBe(true);
      expect(await can(users.admin, 'patch', resource, team, 'status'), `patch ${resource}/status`).toBe(false);
    }
  });
});

describe('the rights come from the chart', () => {
  it('without its ClusterRoles, edit and view grant nothing on loraplane.io', async () => {
    await mustKubectl(['delete', 'clusterrole', ...roleNames]);
    await waitFor(async () => !(await can(users.editor, 'create', FTJ, team)) && !(await can(users.viewer, 'list', FTJ, team)), {
      timeoutMs: 30_000,
      description: 'the aggregated rules gone from edit and view',
    });
    expect(await can(users.admin, 'get', LORA, team)).toBe(false);
  });
});

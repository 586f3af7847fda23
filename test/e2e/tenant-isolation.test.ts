// An adversarial tenant against the real control plane, S3 server and operator. Team B may create
// loraplane.io objects in its own namespace and nothing else (no Secrets, no Pods, no Jobs); team A
// keeps an adapter and a dataset in the same bucket. Every attack below was seen to work once
// (issue 10); each test holds one of them.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { client, freshBucket, location, server } from '../storage/storage.js';
import { OPERATOR_NAMESPACE, TRAINER_STANDIN_IMAGE, startOperator, type OperatorProcess } from './support/operator-process.js';
import {
  SECRET,
  adapterEventsOnce,
  applyAdapter,
  applySecret,
  condition,
  listKeys,
  s3At,
  uploadAdapter,
  waitForReady,
  writeAdapter,
} from './support/lora-adapters.js';
import { everythingWritten, leakForms } from './support/secret-grep.js';
import { exampleDocs, freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let operator: OperatorProcess;
let s3: S3Client;
let bucket: string;
let work: string;
let teamA: string;
let teamB: string;
/** kubectl as team B's user. */
let asTeamB: (args: string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
let victimAdapter: string[];
let victimDataset: string[];

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
const fineTuneJob = (name: string, edit: (spec: Spec) => void = () => {}): Json => {
  const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Spec };
  ftj.spec.output.storage.s3 = { ...location(bucket, `${teamB}/out/${name}`), credentialsSecret: { name: SECRET } };
  ftj.spec.trainer = { image: TRAINER_STANDIN_IMAGE };
  edit(ftj.spec);
  return { ...ftj, metadata: { name } };
};
type Ftj = {
  status?: Json & { phase?: string; message?: string; attempts?: number; result?: Json; conditions?: { type: string; reason: string; message: string }[] };
};
const getFtj = (name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', teamB]);
const waitForFtj = (name: string, phase: string, timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const f = await getFtj(name);
      return f.status?.phase === phase ? f : undefined;
    },
    { timeoutMs, description: `FineTuneJob ${teamB}/${name} ${phase}` },
  );

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  s3 = client();
  bucket = await freshBucket(s3, 'tenants');
  work = await mkdtemp(join(tmpdir(), 'e2e-tenants-'));
  [teamA, teamB] = [await freshNamespace('team-a'), await freshNamespace('team-b')];
  // The platform gives each team its own S3 Secret (here both hold the test server's keys).
  await applySecret(teamA);
  await applySecret(teamB);

  // Team A's data: a published adapter (manifest and all) and a dataset prefix that never held a manifest.
  const dir = join(work, 'victim');
  await writeAdapter(dir);
  const uploaded = await uploadAdapter(s3, bucket, `${teamA}/adapter`, dir);
  victimAdapter = [...uploaded.manifest.files.map((f) => `${teamA}/adapter/${f.path}`), `${teamA}/adapter/manifest.json`].sort();
  const dataDir = join(work, 'dataset');
  await writeAdapter(dataDir); // any two files: a prefix with objects and no manifest
  for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${teamA}/data/${f}`, Body: readFileSync(join(dataDir, f)) }));
  victimDataset = await listKeys(s3, bucket, `${teamA}/data/`);

  // Team B's user: everything on loraplane.io objects in its namespace, nothing else.
  const user = (await promisify(execFile)('bash', [new URL('../cluster/make-user.sh', import.meta.url).pathname, `${teamB}-user`])).stdout.trim();
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'loraplane-editor' },
    rules: [{ apiGroups: ['loraplane.io'], resources: ['finetunejobs', 'loraadapters'], verbs: ['*'] }],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'loraplane-editor' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'loraplane-editor' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `${teamB}-user` }],
  };
  for (const doc of [role, binding]) await mustKubectl(['apply', '-n', teamB, '-f', '-'], toYaml(doc));
  asTeamB = (args, input) => kubectl(['-n', teamB, ...args], { kubeconfig: user, ...(input !== undefined ? { input } : {}) });
  expect((await asTeamB(['get', 'secrets'])).code).not.toBe(0);

  operator = await startOperator(kubeconfig(), 'operator-tenants', { ADAPTER_VERIFY_PERIOD_SECONDS: '2' });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  s3?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

async function applyAsTeamB(doc: Json): Promise<{ code: number; stderr: string }> {
  return asTeamB(['apply', '-f', '-'], toYaml(doc));
}

const adapterDoc = (name: string, s3Location: Json, reclaimPolicy: 'Retain' | 'Delete' = 'Delete'): Json => ({
  apiVersion: 'loraplane.io/v1alpha1',
  kind: 'LoraAdapter',
  metadata: { name },
  spec: { baseModel: { name: 'meta-llama/Llama-3.2-3B-Instruct' }, source: { s3: s3Location }, reclaimPolicy },
});

describe('cross-prefix reclaim', () => {
  it("an adapter on team A's prefix without a Secret: the operator never touches that storage, and deleting it deletes nothing", async () => {
    const { credentialsSecret: _none, ...noSecret } = location(bucket, `${teamA}/adapter`);
    expect((await applyAsTeamB(adapterDoc('grab-adapter', noSecret))).code).toBe(0);
    const a = await waitForReady(teamB, 'grab-adapter', 'False', 'CredentialsRequired');
    expect(condition(a, 'Ready')!.message).toContain('never with its own identity');
    expect((await asTeamB(['delete', 'lora', 'grab-adapter', '--wait=true', '--timeout=60s'])).code).toBe(0);
    expect(await listKeys(s3, bucket, `${teamA}/adapter/`)).toEqual(victimAdapter);
    expect((await adapterEventsOnce(teamB, 'grab-adapter', 'NothingToReclaim')).map((e) => e.reason)).toContain('NothingToReclaim');
  });

  it("an adapter with team B's own Secret on team A's dataset prefix (no manifest, never verified): deleting it deletes nothing", async () => {
    expect((await applyAsTeamB(adapterDoc('grab-dataset', s3At(bucket, `${teamA}/data`) as unknown as Json))).code).toBe(0);
    await waitForReady(teamB, 'grab-dataset', 'False', 'ManifestMissing');
    expect((await asTeamB(['delete', 'lora', 'grab-dataset', '--wait=true', '--timeout=60s'])).code).toBe(0);
    expect(await listKeys(s3, bucket, `${teamA}/data/`)).toEqual(victimDataset);
  });

  it('reclaim deletes only the files the verified manifest lists, and leaves everything else under the prefix', async () => {
    const prefix = `${teamB}/own`;
    const dir = join(work, 'own');
    await writeAdapter(dir);
    const uploaded = await uploadAdapter(s3, bucket, prefix, dir);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/notes.txt`, Body: 'not the adapter' }));
    await applyAdapter(teamB, 'own', { s3: s3At(bucket, prefix) }, { reclaimPolicy: 'Delete' });
    await waitForReady(teamB, 'own', 'True', 'Verified');
    await mustKubectl(['delete', 'lora', 'own', '-n', teamB, '--wait=true', '--timeout=60s']);
    expect(await listKeys(s3, bucket, `${prefix}/`)).toEqual([`${prefix}/notes.txt`]);
    const reclaimed = (await adapterEventsOnce(teamB, 'own', 'Reclaimed')).find((e) => e.reason === 'Reclaimed');
    expect(reclaimed?.message).toBe(
      `deleted the adapter's ${uploaded.manifest.files.length + 1} objects under s3://${bucket}/${prefix}/: its manifest and the files it lists (reclaimPolicy Delete)`,
    );
  });
});

describe('env override', () => {
  it.each([
    'LORAPLANE_SCRATCH_PATH',
    'LORAPLANE_TRAINER_CONFIG',
    'LORAPLANE_TERMINATION_MESSAGE_PATH',
    'LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY',
    'AWS_ACCESS_KEY_ID',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'HOME',
    'POD_NAMESPACE',
  ])('the API server rejects spec.trainer.env %s', async (name) => {
    const out = await applyAsTeamB(fineTuneJob(`env-${name.toLowerCase().replaceAll('_', '-')}`, (s) => (s.trainer.env = [{ name, value: '/tmp/elsewhere' }])));
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('the operator sets this variable');
  });

  it('$(VAR) in a user entry cannot reach the credentials: the value stays literal and no secret reaches status or events', async () => {
    const ref = '/dev/null/$(LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY)';
    const out = await applyAsTeamB(
      fineTuneJob('expand', (s) => {
        s.trainer.env = [
          { name: 'STANDIN_EXIT_CODE', value: '3' },
          { name: 'STANDIN_ERROR', value: ref },
        ];
      }),
    );
    expect(out.code).toBe(0);
    const failed = await waitForFtj('expand', 'Failed');
    expect(failed.status!.message).toContain(ref);
    const events = await getJson<{ items: { message: string }[] }>(['get', 'events', '-n', teamB, '--field-selector', 'involvedObject.name=expand']);
    expect(JSON.stringify([failed, events])).not.toContain(server().secretAccessKey);
  });

  it('a result naming another location is not published, and the job fails saying so', async () => {
    const elsewhere = `s3://${bucket}/${teamA}/adapter/`;
    await applyAsTeamB(fineTuneJob('moved', (s) => (s.trainer.env = [{ name: 'STANDIN_ADAPTER_URI', value: elsewhere }])));
    const failed = await waitForFtj('moved', 'Failed');
    expect(failed.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'ResultMismatch' });
    expect(failed.status!.message).toBe(
      `the trainer reported an adapter at ${elsewhere}, not at spec.output (s3://${bucket}/${teamB}/out/moved/); nothing was published`,
    );
    expect((await kubectl(['get', 'lora', 'support-assistant-v1', '-n', teamB])).code).not.toBe(0);
  });
});

describe('path tricks', () => {
  const prefixes = ['team-a/../team-b/x', '/team-b/x', 'team-b//x', './x', 'x/.', 'x/..', 'x\u0001y'];
  it.each(prefixes)('the API server rejects the prefix %j in every location', async (prefix) => {
    const rejected = async (doc: Json) => {
      const out = await applyAsTeamB(doc);
      expect(out.code).not.toBe(0);
      expect(out.stderr).toContain('must be a relative path');
    };
    await rejected(fineTuneJob('paths', (s) => (s.output.storage.s3.prefix = prefix)));
    await rejected(fineTuneJob('paths', (s) => (s.dataset.source.s3.prefix = prefix)));
    await rejected(fineTuneJob('paths', (s) => (s.baseModel.source.s3.prefix = prefix)));
    await rejected(adapterDoc('paths', { ...location(bucket, prefix) }));
  });

  it('the API server rejects bucket names with adjacent dots', async () => {
    const out = await applyAsTeamB(adapterDoc('bucket-dots', { ...location('a..b', 'x') }));
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('spec.source.s3.bucket');
  });
});

describe('endpoint tricks', () => {
  let listener: Server;
  let connections = 0;
  beforeAll(async () => {
    listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => listener?.close());

  it.each([
    ['an endpoint the platform did not allow', () => `http://127.0.0.1:${(listener.address() as { port: number }).port}`, 'is not one the platform allows'],
    ['the cloud metadata address', () => 'http://169.254.169.254', 'link-local or metadata address'],
    ['a link-local IPv6 address', () => 'http://[fe80::1]:9000', 'link-local or metadata address'],
  ])('%s: the operator never connects, and says why', async (_what, endpoint, words) => {
    const name = `endpoint-${Math.random().toString(36).slice(2, 8)}`;
    expect((await applyAsTeamB(adapterDoc(name, { ...s3At(bucket, `${teamA}/adapter`), endpoint: endpoint() } as Json))).code).toBe(0);
    const a = await waitForReady(teamB, name, 'False', 'EndpointNotAllowed');
    expect(condition(a, 'Ready')!.message).toContain(words);
    expect((await asTeamB(['delete', 'lora', name, '--wait=true', '--timeout=60s'])).code).toBe(0);
    expect(connections).toBe(0);
    expect(await listKeys(s3, bucket, `${teamA}/adapter/`)).toEqual(victimAdapter);
  });
});

describe('secret grep', () => {
  it("no status, event or log line carries the Secret's values, after jobs and adapters that used them", async () => {
    // One that fails with the trainer's own error, one that succeeds; the adapters above were verified with the Secret.
    await applyAsTeamB(
      fineTuneJob('grep-fail', (s) => {
        s.trainer.env = [{ name: 'STANDIN_EXIT_CODE', value: '1' }];
        s.backoffLimit = 0;
      }),
    );
    await applyAsTeamB(fineTuneJob('grep-ok'));
    await waitForFtj('grep-ok', 'Succeeded');
    await waitForFtj('grep-fail', 'Failed');
    const everything = await everythingWritten([teamA, teamB], operator.logFile);
    expect(everything.length).toBeGreaterThan(10_000);
    for (const leak of leakForms(server().secretAccessKey)) expect(everything).not.toContain(leak);
  });
});

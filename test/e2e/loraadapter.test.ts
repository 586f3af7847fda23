// The LoraAdapter reconciler against the real control plane and the real S3 server (versitygw): a
// PEFT adapter uploaded with the storage layer becomes Ready with the digest of its weights; drift
// (an object deleted or rewritten) shows within a verify period and heals when the object is put
// back; wrong base model, missing credentials, an immutable source, a source through a FineTuneJob.
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { accessLog, client, freshBucket } from '../storage/storage.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import {
  BASE_MODEL,
  adapterEventsOnce,
  applyAdapter,
  applySecret,
  condition,
  declareAdapter,
  getAdapter,
  s3At,
  sha256,
  uploadAdapter,
  waitForReady,
  writeAdapter,
} from './support/lora-adapters.js';
import { exampleDocs, freshNamespace, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

const PERIOD_SECONDS = 2;
const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let operator: OperatorProcess;
let s3: S3Client;
let bucket: string;
let work: string;

const declared = (name: string, opts: { baseModel?: string } = {}) => declareAdapter({ s3, bucket, work }, name, opts);

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  s3 = client();
  bucket = await freshBucket(s3, 'lora');
  work = await mkdtemp(join(tmpdir(), 'e2e-lora-'));
  operator = await startOperator(kubeconfig(), 'operator-lora', { ADAPTER_VERIFY_PERIOD_SECONDS: String(PERIOD_SECONDS) });
});

afterAll(async () => {
  await operator?.stop();
  s3?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('LoraAdapter verification', () => {
  it('an uploaded PEFT adapter becomes Ready with the sha256 of its weights; later checks do not re-read unchanged weights', async () => {
    const { ns, prefix, weights, digest } = await declared('support-v1');
    const ready = await waitForReady(ns, 'support-v1', 'True', 'Verified');
    expect(ready.status).toMatchObject({
      phase: 'Ready',
      observedGeneration: 1,
      uri: `s3://${bucket}/${prefix}/`,
      digest,
      sizeBytes: weights.length,
      r: 16,
      alpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      baseModel: BASE_MODEL,
      verifiedObject: { key: `${prefix}/adapter_model.safetensors`, size: weights.length },
      formats: [
        {
          format: 'peft',
          files: [
            { path: 'adapter_config.json', sha256: expect.stringMatching(/^sha256:/), size: expect.any(Number) },
            { path: 'adapter_model.safetensors', sha256: digest, size: weights.length },
          ],
        },
      ],
    });
    expect(condition(ready, 'Reconciling')).toMatchObject({ status: 'False' });
    expect(condition(ready, 'Stalled')).toMatchObject({ status: 'False' });

    // Two more periods: verifiedAt moves on, the weights were read (hashed) once, as the server's access log shows.
    let verifiedAt = ready.status!.verifiedAt!;
    for (let i = 0; i < 2; i++) {
      const prev = verifiedAt;
      verifiedAt = await waitFor(
        async () => {
          const at = (await getAdapter(ns, 'support-v1')).status!.verifiedAt!;
          return at > prev ? at : undefined;
        },
        { timeoutMs: 20_000, description: `verifiedAt later than ${prev}` },
      );
    }
    const reads = accessLog(bucket).filter((r) => r.op === 's3_GetObject' && r.key === `${prefix}/adapter_model.safetensors`);
    expect(reads.map((r) => r.status)).toEqual([200]);
    expect(await operator.metric('loraplane_adapter_hashed_bytes_total')).toBeGreaterThanOrEqual(weights.length);
    const again = await getAdapter(ns, 'support-v1');
    expect(condition(again, 'Ready')!.lastTransitionTime).toBe(condition(ready, 'Ready')!.lastTransitionTime);

    const table = await mustKubectl(['get', 'lora', '-n', ns]);
    expect(table).toMatch(/NAME\s+PHASE\s+BASE-MODEL\s+DIGEST\s+AGE/);
    expect(table).toMatch(new RegExp(`support-v1\\s+Ready\\s+${BASE_MODEL.replace('.', '\\.')}\\s+${digest}`));
    expect((await adapterEventsOnce(ns, 'support-v1', 'Verified')).map((e) => [e.type, e.reason])).toEqual([['Normal', 'Verified']]);
    expect(await operator.metric('loraplane_adapters', 'phase="Ready"')).toBeGreaterThanOrEqual(1);
    expect(await operator.metric('loraplane_adapter_verifications_total', 'result="Verified"')).toBeGreaterThanOrEqual(3);
  });

  it('drift: a deleted weights object turns it ArtifactMissing within a period; putting it back makes it Ready again', async () => {
    const { ns, prefix, weights, digest } = await declared('drift');
    await waitForReady(ns, 'drift', 'True', 'Verified');
    const driftBefore = await operator.metric('loraplane_adapter_drift_total', 'reason="ArtifactMissing"');

    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}/adapter_model.safetensors` }));
    const t0 = Date.now();
    const missing = await waitForReady(ns, 'drift', 'False', 'ArtifactMissing');
    console.log(`[lora] deletion seen after ${Date.now() - t0} ms (verify period ${PERIOD_SECONDS} s)`);
    expect(missing.status!.phase).toBe('Failed');
    expect(condition(missing, 'Ready')!.message).toBe(`s3://${bucket}/${prefix}/adapter_model.safetensors is missing (manifest.json lists it)`);
    expect(condition(missing, 'Stalled')).toMatchObject({ status: 'True', reason: 'ArtifactMissing' });
    expect(missing.status!.digest).toBe(digest);
    expect(await operator.metric('loraplane_adapter_drift_total', 'reason="ArtifactMissing"')).toBe(driftBefore + 1);

    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/adapter_model.safetensors`, Body: weights }));
    const healed = await waitForReady(ns, 'drift', 'True', 'Verified');
    expect(healed.status).toMatchObject({ phase: 'Ready', digest });
    const events = await adapterEventsOnce(ns, 'drift', 'Verified', 2);
    expect(events.map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'Verified'],
      ['Normal', 'Verified'],
      ['Warning', 'ArtifactMissing'],
    ]);
    expect(events[2]!.message).toMatch(/^drift: /);
  });

  it('drift: rewritten weights are hashed again and fail with DigestMismatch', async () => {
    const { ns, prefix, weights, digest } = await declared('changed');
    await waitForReady(ns, 'changed', 'True', 'Verified');
    const changed = Buffer.from(weights);
    const last = changed.length - 1;
    changed.writeUInt8(changed.readUInt8(last) ^ 0xff, last);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/adapter_model.safetensors`, Body: changed }));
    const mismatch = await waitForReady(ns, 'changed', 'False', 'DigestMismatch');
    expect(condition(mismatch, 'Ready')!.message).toBe(
      `s3://${bucket}/${prefix}/adapter_model.safetensors hashes to ${sha256(changed)}, manifest.json says ${digest}`,
    );
    expect(mismatch.status!.phase).toBe('Failed');
  });

  it('a manifest written for other weights does not change the pinned digest: DigestMismatch', async () => {
    const { ns, prefix, digest } = await declared('republished');
    await waitForReady(ns, 'republished', 'True', 'Verified');
    // Re-uploading other weights writes a consistent new manifest; the adapter still wants the bytes it verified.
    const dir = join(work, ns, 'other');
    await writeAdapter(dir);
    const other = Buffer.alloc(1024, 7);
    await writeFile(join(dir, 'adapter_model.safetensors'), other);
    await uploadAdapter(s3, bucket, prefix, dir);
    const mismatch = await waitForReady(ns, 'republished', 'False', 'DigestMismatch');
    expect(condition(mismatch, 'Ready')!.message).toBe(
      `manifest.json gives adapter_model.safetensors ${sha256(other)}, expected ${digest} (status.digest, pinned when the adapter was first verified)`,
    );
  });

  it('an adapter trained on another base model fails with BaseModelMismatch', async () => {
    const { ns } = await declared('other-base', { baseModel: 'Qwen/Qwen2.5-7B-Instruct' });
    const a = await waitForReady(ns, 'other-base', 'False', 'BaseModelMismatch');
    expect(condition(a, 'Ready')!.message).toBe(
      `adapter_config.json was trained on base model "${BASE_MODEL}", spec.baseModel.name is "Qwen/Qwen2.5-7B-Instruct"`,
    );
    expect(a.status!.phase).toBe('Failed');
    expect((await adapterEventsOnce(ns, 'other-base', 'BaseModelMismatch')).map((e) => [e.type, e.reason])).toEqual([['Warning', 'BaseModelMismatch']]);
  });

  it('a prefix without manifest.json (an unfinished upload) is ManifestMissing', async () => {
    const ns = await freshNamespace('lora');
    await applySecret(ns);
    const prefix = `${ns}/half`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/adapter_model.safetensors`, Body: Buffer.alloc(16) }));
    await applyAdapter(ns, 'half', { s3: s3At(bucket, prefix) });
    const a = await waitForReady(ns, 'half', 'False', 'ManifestMissing');
    expect(condition(a, 'Ready')!.message).toContain(`no manifest.json under s3://${bucket}/${prefix}/`);
  });

  it('a missing credentials Secret is CredentialsMissing until the Secret exists', async () => {
    const ns = await freshNamespace('lora');
    const prefix = `${ns}/creds`;
    const dir = join(work, ns, 'creds');
    await writeAdapter(dir);
    await uploadAdapter(s3, bucket, prefix, dir);
    await applyAdapter(ns, 'creds', { s3: s3At(bucket, prefix, 'team-s3') });
    const a = await waitForReady(ns, 'creds', 'False', 'CredentialsMissing');
    expect(condition(a, 'Ready')!.message).toBe(`Secret ${ns}/team-s3 (the location's credentialsSecret) does not exist`);
    await applySecret(ns, 'team-s3');
    await waitForReady(ns, 'creds', 'True', 'Verified');
  });

  it('the API server rejects a change of spec.source', async () => {
    const { ns } = await declared('immutable');
    const r = await kubectl([
      'patch',
      'lora',
      'immutable',
      '-n',
      ns,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { source: { s3: { prefix: 'elsewhere' } } } }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.source is immutable; create a new object instead');
  });
});

describe('LoraAdapter with source.fineTuneJob', () => {
  it("waits for the job (AwaitingFineTuneJob), then checks the job's output against the digest the job reported", async () => {
    const ns = await freshNamespace('lora-ftj');
    await applySecret(ns);
    const prefix = `${ns}/out`;
    const ftj = structuredClone(exampleDocs().fineTuneJob) as Json & { spec: Json & { output: Json } };
    ftj.metadata = { name: 'tune' };
    ftj.spec.suspend = true;
    ftj.spec.output = { adapterName: 'tune-published', storage: { s3: s3At(bucket, prefix) } };
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(ftj));
    await applyAdapter(ns, 'from-job', { fineTuneJob: { name: 'tune' } });
    // The job's own status changes reach the adapter: Pending first, then Suspended.
    const waiting = await waitFor(
      async () => {
        const a = await getAdapter(ns, 'from-job');
        return condition(a, 'Reconciling')?.message === 'FineTuneJob tune is Suspended' ? a : undefined;
      },
      { timeoutMs: 30_000, description: 'the adapter waiting for a suspended job' },
    );
    expect(waiting.status!.phase).toBe('Pending');
    expect(condition(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'AwaitingFineTuneJob' });
    expect(condition(waiting, 'Reconciling')).toMatchObject({ status: 'True', reason: 'AwaitingFineTuneJob' });

    // The job's output is in place; the stand-in trainer reports a digest of its own making, not of these weights.
    const dir = join(work, ns, 'out');
    const { digest } = await writeAdapter(dir);
    await uploadAdapter(s3, bucket, prefix, dir);
    await mustKubectl(['patch', 'ftj', 'tune', '-n', ns, '--type', 'merge', '-p', '{"spec":{"suspend":false}}']);
    const checked = await waitForReady(ns, 'from-job', 'False', 'DigestMismatch', 60_000);
    const job = await getJsonFtj(ns);
    expect(condition(checked, 'Ready')!.message).toBe(
      `manifest.json gives adapter_model.safetensors ${digest}, expected ${job.status.result.digest} (the result of FineTuneJob tune)`,
    );
    expect(checked.status).toMatchObject({
      location: { bucket, prefix },
      provenance: { fineTuneJob: { name: 'tune', uid: job.metadata.uid } },
    });
  });
});

const getJsonFtj = async (ns: string) =>
  JSON.parse(await mustKubectl(['get', 'ftj', 'tune', '-n', ns, '-o', 'json'])) as { metadata: { uid: string }; status: { result: { digest: string } } };

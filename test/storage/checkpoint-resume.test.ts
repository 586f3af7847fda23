// A trainer pod preempted mid-run (SIGTERM) comes back as a new pod with an empty scratch volume:
// the real trainer (loraplane-trainer, base model and dataset in the real versitygw) finds its newest
// complete checkpoint in S3, resumes from it, and ends with the adapter an uninterrupted run with the
// same seed writes. At no point are more than saveTotalLimit checkpoints left in S3.
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainerConfig } from '@loraplane/api/trainer-contract';
import { readManifest } from '@loraplane/storage/manifest';
import { CheckpointStore } from '@loraplane/trainer/checkpoint-store';
import pino from 'pino';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { client, freshBucket, location } from './storage.js';
import { podConfig, stageTinyRun, trainerPod } from './trainer-pod.js';

let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'storage-resume-'));
  c = client();
  bucket = await freshBucket(c, 'resume');
  await stageTinyRun(c, bucket, work);
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

const at = (prefix: string) => location(bucket, prefix);
const pod = (config: TrainerConfig) => trainerPod(config, work);
const podConfigAt = (outputPrefix: string) => podConfig(at, outputPrefix);

const storeFor = (prefix: string) =>
  new CheckpointStore({ client: c, bucket, outputPrefix: prefix, stateDir: join(work, 'upload-state'), log: pino({ level: 'silent' }) });

const adapterSha = async (prefix: string) =>
  (await readManifest(c, bucket, prefix))?.manifest.files.find((f) => f.path === 'adapter_model.safetensors')?.sha256;

const stepMetric = async (port: number): Promise<number | undefined> => {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^loraplane_trainer_step\{[^}]*\} (\d+)$/m.exec(body);
  return m ? Number(m[1]) : undefined;
};

describe('trainer checkpoints in S3', () => {
  it('a pod stopped by SIGTERM resumes on an empty scratch volume from its checkpoint in S3 and ends with the uninterrupted adapter', async () => {
    const straight = pod(await podConfigAt('straight'));
    expect(await straight.run.exited, straight.run.output()).toBe(0);
    const done = straight.result();
    expect(done).toMatchObject({ adapterUri: `s3://${bucket}/straight/`, checkpoint: { step: 9, uri: `s3://${bucket}/straight/checkpoints/checkpoint-9/` } });
    expect(await storeFor('straight').list()).toEqual([
      { step: 6, complete: true },
      { step: 9, complete: true },
    ]);

    // Preempted once checkpoint-3 is in S3 and a later step has run: it checkpoints where it is and exits.
    const config = await podConfigAt('resumed');
    const first = pod(config);
    await waitFor(
      async () => (await storeFor('resumed').list()).some((k) => k.step === 3 && k.complete) && ((await stepMetric(config.metricsPort)) ?? 0) >= 4,
      {
        timeoutMs: 120_000,
        intervalMs: 20,
        description: 'checkpoint-3 in S3 and step 4 done',
      },
    );
    first.run.child.kill('SIGTERM');
    expect(await first.run.exited, first.run.output()).toBe(143);
    const stopped = first.result();
    expect(stopped && 'error' in stopped ? stopped.error : stopped).toMatch(/^stopped by SIGTERM at step \d+/);
    const at = stopped?.checkpoint?.step ?? 0;
    expect(at).toBeGreaterThanOrEqual(4);
    expect(at).toBeLessThan(12);
    expect(stopped?.checkpoint?.uri).toBe(`s3://${bucket}/resumed/checkpoints/checkpoint-${at}/`);
    const stored = await storeFor('resumed').list();
    expect(stored.length).toBeLessThanOrEqual(2);
    expect(stored.at(-1)).toEqual({ step: at, complete: true });

    // The new pod's scratch volume is empty: everything it resumes from comes from S3.
    const second = pod({ ...config, metricsPort: await freePort() });
    expect(await second.run.exited, second.run.output()).toBe(0);
    expect(second.run.output()).toMatch(
      new RegExp(`"step":${at},"uri":"s3://${bucket}/resumed/checkpoints/checkpoint-${at}/"\\},"msg":"restored the newest checkpoint from storage"`),
    );
    expect(second.run.output()).toMatch(/resuming from checkpoint/);
    const resumed = second.result();
    expect(resumed && 'digest' in resumed ? resumed.digest : resumed).toBe(done && 'digest' in done ? done.digest : done);
    expect(await adapterSha('resumed')).toBe(await adapterSha('straight'));
    expect((await storeFor('resumed').list()).length).toBeLessThanOrEqual(2);
  }, 300_000);
});

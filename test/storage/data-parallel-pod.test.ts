// The trainer pod with two GPUs (CPU ranks here, over Gloo): its entry supervises one process per rank,
// rank 0 alone writes checkpoints and the adapter to S3, and the adapter matches one GPU with twice the
// per-rank batch. A rank killed mid-run (SIGKILL) stops the group: the pod fails retryably, naming the
// rank, and a new pod resumes every rank from the newest checkpoint in S3 to the same adapter.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAINER_EXIT, type TrainerConfig } from '@loraplane/api/trainer-contract';
import { safetensorsRelativeError } from '@loraplane/native/golden.test-support';
import { CheckpointStore } from '@loraplane/trainer/checkpoint-store';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { client, freshBucket, location } from './storage.js';
import { podConfig, stageTinyRun, trainerPod } from './trainer-pod.js';

let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'storage-dp-'));
  c = client();
  bucket = await freshBucket(c, 'dp');
  await stageTinyRun(c, bucket, work);
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

/**
 * The tiny run on `gpus` ranks of batchSize rows each, without dropout (each rank draws its own masks)
 * and in fp32 (bf16 rounding turns last-bit GEMM differences between batch shapes into visible ones).
 */
async function configFor(prefix: string, gpus: number, batchSize: number): Promise<TrainerConfig> {
  const config = await podConfig((p) => location(bucket, p), prefix, {
    batchSize,
    gradientAccumulationSteps: 1,
    maxSteps: 12,
    saveSteps: 3,
    evalSteps: undefined,
  });
  const { spec } = config;
  return {
    ...config,
    spec: {
      ...spec,
      lora: { ...spec.lora, dropout: 0 },
      quantization: { ...spec.quantization, computeDtype: 'float32' },
      resources: { ...spec.resources, gpus },
    },
  };
}

/** The stored adapter's weights as a local file. */
async function storedAdapter(prefix: string): Promise<string> {
  const body = await c.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/adapter_model.safetensors` }));
  const file = join(mkdtempSync(join(work, 'adapter-')), 'adapter_model.safetensors');
  writeFileSync(file, await body.Body!.transformToByteArray());
  return file;
}

/** The largest weight difference between two stored adapters, relative to the largest weight. */
const difference = async (a: string, b: string) => safetensorsRelativeError(await storedAdapter(a), await storedAdapter(b));

/** The pid of a rank the pod's entry started (its children carry RANK in their environment). */
function rankPid(supervisor: number, rank: number): number | undefined {
  const children = execFileSync('pgrep', ['-P', String(supervisor)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return children.find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RANK=${rank}`));
}

describe('a trainer pod with 2 GPUs', () => {
  it('trains as 2 ranks to the adapter of 1 GPU with twice the batch, rank 0 alone writing', async () => {
    const one = trainerPod(await configFor('one-gpu', 1, 8), work);
    expect(await one.run.exited, one.run.output()).toBe(0);
    const two = trainerPod(await configFor('two-gpus', 2, 4), work);
    expect(await two.run.exited, two.run.output()).toBe(0);
    expect(two.run.output()).toMatch(/"worldSize":2,"globalBatchSize":8/);
    expect(two.result()).toMatchObject({ adapterUri: `s3://${bucket}/two-gpus/` });
    const d = await difference('two-gpus', 'one-gpu');
    console.log(`2 ranks vs 1 GPU: adapter difference ${d.toExponential(2)} (relative)`);
    expect(d).toBeLessThan(1e-4);
  }, 600_000);

  it('a rank killed mid-run stops the group; a new pod resumes from S3 and ends with the same adapter', async () => {
    const config = await configFor('killed', 2, 4);
    const store = new CheckpointStore({ client: c, bucket, outputPrefix: 'killed', stateDir: join(work, 'upload-state'), log: pino({ level: 'silent' }) });
    const first = trainerPod(config, work);
    await waitFor(async () => (await store.list()).some((k) => k.step === 6 && k.complete), {
      timeoutMs: 300_000,
      intervalMs: 50,
      description: 'checkpoint-6 in S3',
    });
    const pid = rankPid(first.run.child.pid!, 1);
    expect(pid, 'rank 1 is a child of the pod entry').toBeDefined();
    process.kill(pid!, 'SIGKILL');
    expect(await first.run.exited, first.run.output()).toBe(TRAINER_EXIT.retryable);
    const failed = first.result();
    expect(failed && 'error' in failed ? failed.error : failed).toMatch(
      /^rank 1 was killed by SIGKILL; the group stopped and restarts from the newest checkpoint/,
    );

    const second = trainerPod({ ...config, metricsPort: await freePort() }, work);
    expect(await second.run.exited, second.run.output()).toBe(0);
    expect(second.run.output()).toMatch(/restored the newest checkpoint from storage/);
    expect(await difference('killed', 'two-gpus')).toBeLessThan(1e-4);
  }, 600_000);
});

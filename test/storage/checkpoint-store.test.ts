// The trainer's checkpoint store against the real versitygw: checkpoints uploaded with their manifest
// last, rotation that deletes a checkpoint manifest first (and unfinished uploads too), and a restore
// onto an empty scratch volume that takes the newest complete checkpoint (skipping one whose files do
// not match its manifest) and the best one it names.
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix } from '@loraplane/storage/delete';
import { MANIFEST_NAME, inspectPrefix } from '@loraplane/storage/manifest';
import { listCheckpoints, type Checkpoint, type CheckpointState } from '@loraplane/trainer/checkpoint';
import { CheckpointStore } from '@loraplane/trainer/checkpoint-store';
import { accessLog, client, freshBucket } from './storage.js';

let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'storage-ckpt-'));
  c = client();
  bucket = await freshBucket(c, 'ckpt');
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

const log = pino({ level: 'silent' });
const store = (prefix: string) => new CheckpointStore({ client: c, bucket, outputPrefix: prefix, stateDir: join(work, 'upload-state'), log });

/** A checkpoint folder laid out as saveCheckpoint writes it (adapter, optimizer state, state.json, COMPLETE). */
function localCheckpoint(root: string, state: CheckpointState): Checkpoint {
  const dir = join(root, `checkpoint-${state.step}`);
  mkdirSync(join(dir, 'adapter'), { recursive: true });
  writeFileSync(join(dir, 'adapter', 'adapter_config.json'), JSON.stringify({ r: 8, step: state.step }));
  writeFileSync(join(dir, 'adapter', 'adapter_model.safetensors'), Buffer.alloc(4096, state.step));
  writeFileSync(join(dir, 'optimizer.safetensors'), Buffer.alloc(8192, state.step + 1));
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  writeFileSync(join(dir, 'COMPLETE'), '');
  return { dir, adapterDir: join(dir, 'adapter'), optimizerPath: join(dir, 'optimizer.safetensors'), state };
}

const state = (step: number, bestStep?: number): CheckpointState => ({
  step,
  epoch: 0,
  microBatch: step * 2,
  ...(bestStep !== undefined ? { bestStep, bestEvalLoss: 1.5 } : {}),
});

describe('CheckpointStore', () => {
  it('uploads a checkpoint under <output>/checkpoints/checkpoint-<step>/ with its manifest last', async () => {
    const s = store('jobs/a');
    const saved = await s.save(localCheckpoint(join(work, 'a'), state(3)));
    expect(saved).toEqual({ step: 3, uri: `s3://${bucket}/jobs/a/checkpoints/checkpoint-3/` });
    const inspected = await inspectPrefix(c, bucket, 'jobs/a/checkpoints/checkpoint-3');
    expect(inspected.complete && inspected.manifest.files.map((f) => f.path)).toEqual([
      'COMPLETE',
      'adapter/adapter_config.json',
      'adapter/adapter_model.safetensors',
      'optimizer.safetensors',
      'state.json',
    ]);
    const writes = accessLog(bucket).filter((l) => l.key.startsWith('jobs/a/checkpoints/checkpoint-3/') && l.op === 's3_PutObject' && l.status === 200);
    expect(writes.at(-1)?.key).toBe(`jobs/a/checkpoints/checkpoint-3/${MANIFEST_NAME}`);
  });

  it('rotates like the local checkpoints: newest `limit` complete ones and the best are kept, unfinished uploads go, manifest first', async () => {
    const s = store('jobs/b');
    for (const step of [3, 6, 9]) await s.save(localCheckpoint(join(work, 'b'), state(step)));
    // An upload cut short: files but no manifest.
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'jobs/b/checkpoints/checkpoint-12/state.json', Body: '{}' }));
    expect(await s.list()).toEqual([
      { step: 3, complete: true },
      { step: 6, complete: true },
      { step: 9, complete: true },
      { step: 12, complete: false },
    ]);

    const logged = accessLog(bucket).length;
    expect(await s.rotate(1, 3)).toEqual([6, 12]);
    expect(await s.list()).toEqual([
      { step: 3, complete: true },
      { step: 9, complete: true },
    ]);
    const deletes = accessLog(bucket)
      .slice(logged)
      .filter((l) => l.key.startsWith('jobs/b/checkpoints/checkpoint-6/') && l.op === 's3_DeleteObject');
    expect(deletes[0]?.key).toBe(`jobs/b/checkpoints/checkpoint-6/${MANIFEST_NAME}`);
    expect(deletes).toHaveLength(6);

    expect(await s.rotate(1)).toEqual([3]);
    expect(await s.list()).toEqual([{ step: 9, complete: true }]);
  });

  it('restores the newest complete checkpoint onto an empty scratch volume, and the best one it names', async () => {
    const s = store('jobs/c');
    for (const [step, best] of [
      [2, undefined],
      [4, 2],
      [6, 2],
    ] as const)
      await s.save(localCheckpoint(join(work, 'c'), state(step, best)));
    // The newest lost a file after its manifest was written: not complete, so not resumed from.
    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'jobs/c/checkpoints/checkpoint-6/optimizer.safetensors' }));

    const scratch = join(work, 'scratch-c');
    const restored = await s.restoreLatest(scratch, { keepBest: true });
    expect(restored).toEqual({ step: 4, uri: `s3://${bucket}/jobs/c/checkpoints/checkpoint-4/` });
    expect(listCheckpoints(scratch).map((k) => k.state)).toEqual([state(2), state(4, 2)]);
    expect(readdirSync(scratch).sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    const local = listCheckpoints(scratch)[1]!;
    expect(existsSync(join(local.dir, MANIFEST_NAME))).toBe(false);
    expect(readFileSync(local.optimizerPath)).toEqual(Buffer.alloc(8192, 5));
    expect(readFileSync(join(local.adapterDir, 'adapter_model.safetensors'))).toEqual(Buffer.alloc(4096, 4));

    // Without loadBestModelAtEnd only the newest comes down.
    const plain = join(work, 'scratch-c2');
    await s.restoreLatest(plain, { keepBest: false });
    expect(readdirSync(plain)).toEqual(['checkpoint-4']);
  });

  it('finds nothing to restore in an empty prefix', async () => {
    const scratch = join(work, 'scratch-d');
    expect(await store('jobs/d').restoreLatest(scratch, { keepBest: false })).toBeUndefined();
    expect(listCheckpoints(scratch)).toEqual([]);
  });
});

describe('deletePrefix', () => {
  it('refuses an empty prefix (the whole bucket)', async () => {
    await expect(deletePrefix(c, bucket, '')).rejects.toThrow('refusing to delete a whole bucket (empty prefix)');
    expect((await store('jobs/a').list()).length).toBe(1);
  });
});

// fetchSource against the real versitygw: a FineTuneJob's source (s3 prefix, single s3 object, PVC or
// local path) becomes a local path, with the client built from the role's credential env vars.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '@loraplane/storage/digest';
import { fetchSource } from '@loraplane/storage/fetch';
import { resolveSource } from '@loraplane/storage/location';
import { client, freshBucket, location, roleEnv } from './storage.js';

let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storage-fetch-'));
  c = client();
  bucket = await freshBucket(c, 'fetch');
  const sha = sha256Hex('{"rows": 1}\n');
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'datasets/train.jsonl', Body: '{"rows": 1}\n', Metadata: { sha256: sha } }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'datasets/train.jsonl.bak', Body: 'old' }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'models/tiny/config.json', Body: '{}' }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'models/tiny/weights.bin', Body: Buffer.alloc(1000, 7) }));
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

describe('fetchSource', () => {
  it('downloads an s3 prefix as a directory, with the role credentials from env', async () => {
    const source = resolveSource('baseModel', { s3: location(bucket, 'models/tiny') });
    expect(source.uri).toBe(`s3://${bucket}/models/tiny`);
    const got = await fetchSource(source, { cacheDir: join(work, 'cache'), clientOptions: { env: roleEnv('baseModel') } });
    expect(got).toMatchObject({ kind: 'dir', path: join(work, 'cache', bucket, 'models', 'tiny'), files: 2, bytes: 1002, cached: false });
    expect(await readFile(join(got.path, 'config.json'), 'utf8')).toBe('{}');
    const again = await fetchSource(source, { cacheDir: join(work, 'cache'), clientOptions: { env: roleEnv('baseModel') } });
    expect(again).toMatchObject({ cached: true, digest: got.digest });
  });

  it('downloads a single object when the prefix names one exactly', async () => {
    const source = resolveSource('dataset', { s3: location(bucket, 'datasets/train.jsonl') });
    const got = await fetchSource(source, { cacheDir: join(work, 'cache'), clientOptions: { env: roleEnv('dataset') } });
    expect(got).toMatchObject({ kind: 'file', files: 1, digest: `sha256:${sha256Hex('{"rows": 1}\n')}` });
    expect(await readFile(got.path, 'utf8')).toBe('{"rows": 1}\n');
  });

  it('uses a PVC path in place, inside its mount', async () => {
    const mount = join(work, 'pvc', 'datasets-claim');
    await mkdir(join(mount, 'alpaca'), { recursive: true });
    await writeFile(join(mount, 'alpaca', 'train.jsonl'), '{}\n');
    const source = resolveSource('dataset', { pvc: { claimName: 'datasets-claim', path: '/alpaca/train.jsonl' } }, { pvcRoot: (n) => join(work, 'pvc', n) });
    expect(source).toMatchObject({ kind: 'local', path: join(mount, 'alpaca', 'train.jsonl') });
    expect(await fetchSource(source, { cacheDir: join(work, 'cache') })).toMatchObject({ kind: 'file', path: join(mount, 'alpaca', 'train.jsonl') });
    const missing = resolveSource('dataset', { local: join(work, 'nothing-here') });
    await expect(fetchSource(missing, { cacheDir: join(work, 'cache') })).rejects.toMatchObject({ code: 'NoSuchKey', path: join(work, 'nothing-here') });
  });
});

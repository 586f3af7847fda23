// Downloads against the real versitygw: multi-part ranged GETs, integrity checks (x-amz-meta-sha256,
// the prefix's manifest, size + ETag), the cache, progress, retries of a broken part.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFile, hexToBase64 } from '@loraplane/storage/digest';
import { downloadObject, downloadPrefix } from '@loraplane/storage/download';
import { StorageError } from '@loraplane/storage/errors';
import { buildManifest, MANIFEST_NAME } from '@loraplane/storage/manifest';
import type { Progress } from '@loraplane/storage/progress';
import { client, corruptAtRest, freshBucket, randomFile, recordRequests } from './storage.js';

const MiB = 1024 * 1024;
let work: string;
let c: S3Client;
let bucket: string;

/** PUTs a local file as an object, with or without x-amz-meta-sha256. */
async function put(key: string, path: string, sha256?: string): Promise<void> {
  const { size } = await digestFile(path);
  await c.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(path),
      ContentLength: size,
      ...(sha256 !== undefined ? { Metadata: { sha256 }, ChecksumSHA256: hexToBase64(sha256) } : {}),
    }),
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storage-download-'));
  c = client();
  bucket = await freshBucket(c, 'dl');
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

describe('downloadObject', () => {
  it('fetches a large object as parallel ranged GETs, verifies its SHA-256 and reports progress', async () => {
    const src = join(work, 'src', 'model.safetensors');
    const size = 20 * MiB + 12345;
    const sha = await randomFile(src, size);
    await put('models/m1/model.safetensors', src, sha);

    const dl = client();
    const requests = recordRequests(dl);
    const progress: Progress[] = [];
    const cacheDir = join(work, 'cache-a');
    const got = await downloadObject(dl, bucket, 'models/m1/model.safetensors', {
      cacheDir,
      partSize: 1 * MiB,
      concurrency: 6,
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(got).toMatchObject({ size, sha256: sha, verifiedBy: 'sha256', cached: false, path: join(cacheDir, bucket, 'models/m1/model.safetensors') });
    expect((await digestFile(got.path)).sha256).toBe(sha);
    // 21 ranged GETs (20 full MiB parts and a short one), each pinned to the ETag, nothing else.
    const gets = requests.completed.filter((r) => r.command === 'GetObjectCommand');
    expect(gets).toHaveLength(21);
    expect(new Set(gets.map((g) => g.range)).size).toBe(21);
    expect(gets.map((g) => g.range)).toContain(`bytes=${20 * MiB}-${size - 1}`);
    expect(requests.count('HeadObjectCommand')).toBe(1);
    // Progress only grows and ends at the total.
    expect(progress.length).toBeGreaterThan(21);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]!.bytesDone);
    expect(progress.at(-1)).toEqual({ bytesDone: size, bytesTotal: size, filesDone: 1, filesTotal: 1 });
    // Nothing temporary left beside it.
    expect(await readdir(join(cacheDir, bucket, 'models/m1'))).toEqual(['model.safetensors']);

    // The second download of the same bucket/key/ETag is a cache hit: not one GET.
    requests.reset();
    const again = await downloadObject(dl, bucket, 'models/m1/model.safetensors', { cacheDir, partSize: 1 * MiB });
    expect(again).toMatchObject({ cached: true, sha256: sha, path: got.path });
    expect(requests.count('GetObjectCommand')).toBe(0);
    expect(requests.count('HeadObjectCommand')).toBe(1);

    // A rewritten object has a new ETag: the cache misses and the new bytes are fetched.
    const src2 = join(work, 'src', 'model2.safetensors');
    const sha2 = await randomFile(src2, 3 * MiB);
    await put('models/m1/model.safetensors', src2, sha2);
    requests.reset();
    const fresh = await downloadObject(dl, bucket, 'models/m1/model.safetensors', { cacheDir, partSize: 1 * MiB });
    expect(fresh).toMatchObject({ cached: false, sha256: sha2, size: 3 * MiB });
    expect(requests.count('GetObjectCommand')).toBe(3);
    dl.destroy();
  });

  it('catches an object corrupted at rest and leaves nothing in the cache', async () => {
    const src = join(work, 'src', 'corrupt.bin');
    const sha = await randomFile(src, 3 * MiB + 7);
    await put('data/corrupt.bin', src, sha);
    // Flip bytes in the gateway's own file: same size, same stored ETag and metadata, other content.
    await corruptAtRest(bucket, 'data/corrupt.bin', 2 * MiB);

    const cacheDir = join(work, 'cache-corrupt');
    const err = await downloadObject(c, bucket, 'data/corrupt.bin', { cacheDir, partSize: MiB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'IntegrityMismatch', bucket, key: 'data/corrupt.bin' });
    expect((err as Error).message).toContain(`s3://${bucket}/data/corrupt.bin`);
    expect((err as Error).message).toContain(sha);
    expect(await readdir(join(cacheDir, bucket, 'data'))).toEqual([]);
    expect(await readdir(join(cacheDir, '.entries', bucket, 'data'))).toEqual([]);
  });

  it('without a published SHA-256 checks size and ETag only, and says so', async () => {
    const src = join(work, 'src', 'plain.bin');
    const sha = await randomFile(src, 2 * MiB + 1);
    await put('plain.bin', src);
    const got = await downloadObject(c, bucket, 'plain.bin', { cacheDir: join(work, 'cache-plain'), partSize: MiB });
    expect(got).toMatchObject({ verifiedBy: 'size+etag', sha256: sha, size: 2 * MiB + 1 });
  });

  it('retries a part whose connection breaks mid-body, and the bytes still check out', async () => {
    const src = join(work, 'src', 'flaky.bin');
    const sha = await randomFile(src, 4 * MiB);
    await put('flaky.bin', src, sha);
    const dl = client();
    const requests = recordRequests(dl);
    // The third part's first response body dies after some bytes, as a reset connection does.
    let broken = 0;
    dl.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const input = args.input as { Range?: string };
        if (context.commandName === 'GetObjectCommand' && input.Range === `bytes=${2 * MiB}-${3 * MiB - 1}` && broken++ === 0) {
          const output = out.output as { Body: Readable };
          let seen = 0;
          const cut = new Transform({
            transform(chunk: Buffer, _enc, done) {
              seen += chunk.length;
              if (seen > 100_000) done(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
              else done(null, chunk);
            },
          });
          output.Body = output.Body.pipe(cut);
        }
        return out;
      },
      { step: 'initialize', name: 'breakOnePart' },
    );
    const retries: number[] = [];
    const got = await downloadObject(dl, bucket, 'flaky.bin', {
      cacheDir: join(work, 'cache-flaky'),
      partSize: MiB,
      retry: { baseDelayMs: 10, onRetry: (_e, n) => retries.push(n) },
    });
    expect(got.sha256).toBe(sha);
    expect(broken).toBe(2);
    expect(retries).toEqual([1]);
    expect(requests.count('GetObjectCommand')).toBe(5);
    dl.destroy();
  });
});

describe('downloadPrefix', () => {
  it('downloads every object under a prefix into a directory tree', async () => {
    const files = { 'config.json': 1000, 'tokenizer.json': 5000, 'shards/model-00001.safetensors': 2 * MiB + 3 };
    const shas: Record<string, string> = {};
    for (const [rel, size] of Object.entries(files)) {
      shas[rel] = await randomFile(join(work, 'tree', rel), size);
      await put(`base/llama/${rel}`, join(work, 'tree', rel), shas[rel]);
    }
    await put('base/llama-other/x.json', join(work, 'tree', 'config.json'), shas['config.json']);
    const progress: Progress[] = [];
    const d = await downloadPrefix(c, bucket, 'base/llama', {
      cacheDir: join(work, 'cache-tree'),
      partSize: MiB,
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(d.dir).toBe(join(work, 'cache-tree', bucket, 'base', 'llama'));
    expect(d.objects.map((o) => o.key).sort()).toEqual(
      Object.keys(files)
        .map((r) => `base/llama/${r}`)
        .sort(),
    );
    for (const [rel, sha] of Object.entries(shas)) expect((await digestFile(join(d.dir, rel))).sha256).toBe(sha);
    expect(d.objects.every((o) => o.verifiedBy === 'sha256')).toBe(true);
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    expect(d.bytes).toBe(total);
    expect(progress.at(-1)).toEqual({ bytesDone: total, bytesTotal: total, filesDone: 3, filesTotal: 3 });
    expect(d.digest).toBe(buildManifest(Object.entries(shas).map(([path, sha256]) => ({ path, size: files[path as keyof typeof files], sha256 }))).digest);
  });

  it('verifies against the prefix manifest (sidecar) when the objects carry no digest of their own', async () => {
    const a = await randomFile(join(work, 'man', 'a.bin'), MiB + 1);
    const b = await randomFile(join(work, 'man', 'b.bin'), 10);
    await put('withmanifest/a.bin', join(work, 'man', 'a.bin'));
    await put('withmanifest/b.bin', join(work, 'man', 'b.bin'));
    await put('withmanifest/stray.txt', join(work, 'man', 'b.bin'));
    const manifest = buildManifest([
      { path: 'a.bin', size: MiB + 1, sha256: a },
      { path: 'b.bin', size: 10, sha256: b },
    ]);
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `withmanifest/${MANIFEST_NAME}`, Body: JSON.stringify(manifest) }));

    const d = await downloadPrefix(c, bucket, 'withmanifest/', { cacheDir: join(work, 'cache-man'), partSize: MiB });
    expect(d.manifest?.digest).toBe(manifest.digest);
    expect(d.digest).toBe(manifest.digest);
    // Exactly the manifest's files (and it): the stray object is not part of the set.
    expect(d.objects.map((o) => o.key).sort()).toEqual(['withmanifest/a.bin', 'withmanifest/b.bin', `withmanifest/${MANIFEST_NAME}`]);
    expect(d.objects.find((o) => o.key === 'withmanifest/a.bin')?.verifiedBy).toBe('sha256');

    // Corrupt b.bin at rest: the manifest's digest catches it.
    await corruptAtRest(bucket, 'withmanifest/b.bin', 0);
    const err = await downloadPrefix(c, bucket, 'withmanifest/', { cacheDir: join(work, 'cache-man2') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IntegrityMismatch', key: 'withmanifest/b.bin' });
  });

  it('refuses a prefix whose manifest lists a file that is not there', async () => {
    const a = await randomFile(join(work, 'half', 'a.bin'), 100);
    await put('half/a.bin', join(work, 'half', 'a.bin'));
    const manifest = buildManifest([
      { path: 'a.bin', size: 100, sha256: a },
      { path: 'b.bin', size: 5, sha256: a },
    ]);
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: `half/${MANIFEST_NAME}`, Body: JSON.stringify(manifest) }));
    const err = await downloadPrefix(c, bucket, 'half', { cacheDir: join(work, 'cache-half') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Incomplete', bucket, key: 'half/' });
    expect((err as Error).message).toContain('b.bin: missing');
  });
});

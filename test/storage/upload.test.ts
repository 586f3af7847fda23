// Uploads against the real versitygw: a directory with the manifest written last (seen both from the
// client and in the gateway's access log), readers that refuse a prefix without a (matching)
// manifest, and an interrupted multipart upload resumed by sending only the missing parts.
import { DeleteObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFile } from '@loraplane/storage/digest';
import { downloadObject, downloadPrefix } from '@loraplane/storage/download';
import { StorageError } from '@loraplane/storage/errors';
import { MANIFEST_NAME, inspectPrefix, requireComplete } from '@loraplane/storage/manifest';
import { uploadDirectory, uploadFile, type UploadedObject } from '@loraplane/storage/upload';
import type { Progress } from '@loraplane/storage/progress';
import { accessLog, client, freshBucket, randomFile, recordRequests } from './storage.js';

const MiB = 1024 * 1024;
let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storage-upload-'));
  c = client();
  bucket = await freshBucket(c, 'up');
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

/** An adapter-like directory: small JSON files and one multipart-sized weights file. */
async function adapterDir(name: string, weights = 12 * MiB + 5): Promise<{ dir: string; shas: Record<string, string> }> {
  const dir = join(work, name);
  const shas: Record<string, string> = {
    'adapter_config.json': await randomFile(join(dir, 'adapter_config.json'), 700),
    'adapter_model.safetensors': await randomFile(join(dir, 'adapter_model.safetensors'), weights),
    'extra/README.md': await randomFile(join(dir, 'extra', 'README.md'), 0),
  };
  return { dir, shas };
}

describe('uploadDirectory', () => {
  it('uploads every file with its SHA-256 and writes manifest.json last', async () => {
    const { dir, shas } = await adapterDir('adapter1');
    const up = client();
    const requests = recordRequests(up);
    const progress: Progress[] = [];
    const result = await uploadDirectory(up, bucket, 'jobs/j1/adapter', dir, {
      partSize: 5 * MiB,
      stateDir: join(work, 'state1'),
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(result.uri).toBe(`s3://${bucket}/jobs/j1/adapter/`);
    expect(result.manifest.files).toEqual(
      Object.keys(shas)
        .sort()
        .map((path) => ({ path, size: expect.any(Number), sha256: `sha256:${shas[path]}` })),
    );
    const weights = result.objects.find((o) => o.key.endsWith('adapter_model.safetensors')) as UploadedObject;
    expect(weights).toMatchObject({ multipart: true, partsSent: 3, partsReused: 0 });
    expect(result.objects.find((o) => o.key.endsWith('adapter_config.json'))).toMatchObject({ multipart: false, partsSent: 1 });
    expect(progress.at(-1)).toMatchObject({ bytesDone: result.manifest.totalBytes, bytesTotal: result.manifest.totalBytes, filesDone: 3 });
    // A fresh prefix: one listing, no HEAD per file; the one HEAD checks the multipart object's metadata.
    expect(requests.count('ListObjectsV2Command')).toBe(1);
    expect(requests.count('HeadObjectCommand')).toBe(1);

    // Each object carries x-amz-meta-sha256.
    for (const [rel, sha] of Object.entries(shas)) {
      const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: `jobs/j1/adapter/${rel}` }));
      expect(head.Metadata?.sha256).toBe(sha);
    }

    // Manifest last, as the client saw it: the manifest PUT completed after every object write...
    const writes = requests.completed.filter((r) => ['PutObjectCommand', 'CompleteMultipartUploadCommand', 'UploadPartCommand'].includes(r.command));
    expect(writes.at(-1)).toEqual({ command: 'PutObjectCommand', key: `jobs/j1/adapter/${MANIFEST_NAME}` });
    expect(writes.filter((w) => w.key?.endsWith(MANIFEST_NAME))).toHaveLength(1);
    // ...and as the server logged it: the last successful write under the prefix is the manifest.
    const serverWrites = accessLog(bucket).filter(
      (l) => l.key.startsWith('jobs/j1/adapter/') && l.status === 200 && /PutObject|CompleteMultipartUpload|UploadPart/.test(l.op),
    );
    expect(serverWrites.at(-1)).toMatchObject({ op: 's3_PutObject', key: `jobs/j1/adapter/${MANIFEST_NAME}` });
    expect(serverWrites.length).toBe(1 + 1 + 3 + 1 + 1); // 2 small PUTs, 3 parts + complete, manifest

    // A reader finds it complete and gets the same set back.
    const state = await inspectPrefix(c, bucket, 'jobs/j1/adapter');
    expect(state).toMatchObject({ complete: true, extra: [] });
    const back = await downloadPrefix(c, bucket, 'jobs/j1/adapter', { cacheDir: join(work, 'cache1') });
    expect(back.digest).toBe(result.manifest.digest);
    for (const [rel, sha] of Object.entries(shas)) expect((await digestFile(join(back.dir, rel))).sha256).toBe(sha);
    up.destroy();
  });

  it('an interrupted upload leaves no manifest, readers refuse the prefix, and the rerun finishes it', async () => {
    const { dir } = await adapterDir('adapter2', 6 * MiB);
    const stop = new AbortController();
    // Stop as soon as the last data file is in: exactly the moment before the manifest would go up.
    let objects = 0;
    const err = await uploadDirectory(c, bucket, 'jobs/j2/adapter', dir, {
      partSize: 5 * MiB,
      concurrency: 1,
      stateDir: join(work, 'state2'),
      signal: stop.signal,
      onObject: () => {
        if (++objects === 3) stop.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Aborted' });

    const state = await inspectPrefix(c, bucket, 'jobs/j2/adapter');
    expect(state.complete).toBe(false);
    expect(state).toMatchObject({ reason: expect.stringContaining('no manifest.json') });
    const refused = await requireComplete(c, bucket, 'jobs/j2/adapter').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StorageError);
    expect(refused).toMatchObject({ code: 'Incomplete', bucket, key: 'jobs/j2/adapter/' });
    expect((refused as Error).message).toContain(`s3://${bucket}/jobs/j2/adapter/`);

    // The rerun finds every object already there (same size and SHA-256) and only writes the manifest.
    const up = client();
    const requests = recordRequests(up);
    const done = await uploadDirectory(up, bucket, 'jobs/j2/adapter', dir, { partSize: 5 * MiB, stateDir: join(work, 'state2') });
    expect(done.objects.every((o) => o.skipped)).toBe(true);
    expect(requests.count('HeadObjectCommand')).toBe(3);
    expect(requests.count('UploadPartCommand') + requests.count('CreateMultipartUploadCommand')).toBe(0);
    expect(requests.completed.filter((r) => r.command === 'PutObjectCommand').map((r) => r.key)).toEqual([`jobs/j2/adapter/${MANIFEST_NAME}`]);
    expect((await requireComplete(c, bucket, 'jobs/j2/adapter')).digest).toBe(done.manifest.digest);
    up.destroy();
  });

  it('a prefix whose objects no longer match its manifest is incomplete', async () => {
    const { dir } = await adapterDir('adapter3', 100);
    await uploadDirectory(c, bucket, 'jobs/j3/adapter', dir, { stateDir: join(work, 'state3') });
    expect((await inspectPrefix(c, bucket, 'jobs/j3/adapter')).complete).toBe(true);
    // Someone rewrites a file behind the manifest's back (same size, other bytes and digest).
    await c.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'jobs/j3/adapter/adapter_config.json', Body: Buffer.alloc(700, 1), Metadata: { sha256: 'f'.repeat(64) } }),
    );
    const state = await inspectPrefix(c, bucket, 'jobs/j3/adapter');
    expect(state.complete).toBe(false);
    if (!state.complete) expect(state.problems.join()).toContain('adapter_config.json');
    // A file the manifest lists but that is gone.
    const { dir: dir4 } = await adapterDir('adapter4', 100);
    await uploadDirectory(c, bucket, 'jobs/j4/adapter', dir4, { stateDir: join(work, 'state4') });
    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'jobs/j4/adapter/adapter_config.json' }));
    const err = await requireComplete(c, bucket, 'jobs/j4/adapter').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Incomplete' });
    expect((err as Error).message).toContain('adapter_config.json: missing');
  });

  it('rewriting a finished prefix deletes its manifest before the first object changes', async () => {
    const { dir } = await adapterDir('adapter5', 100);
    await uploadDirectory(c, bucket, 'jobs/j5/adapter', dir, { stateDir: join(work, 'state5') });
    await randomFile(join(dir, 'adapter_model.safetensors'), 200);
    const up = client();
    const requests = recordRequests(up);
    await uploadDirectory(up, bucket, 'jobs/j5/adapter', dir, { stateDir: join(work, 'state5') });
    const writes = requests.completed.filter((r) => ['PutObjectCommand', 'DeleteObjectCommand'].includes(r.command));
    expect(writes[0]).toEqual({ command: 'DeleteObjectCommand', key: `jobs/j5/adapter/${MANIFEST_NAME}` });
    expect(writes.at(-1)).toEqual({ command: 'PutObjectCommand', key: `jobs/j5/adapter/${MANIFEST_NAME}` });
    // Only the changed file was sent again.
    expect(writes.map((w) => `${w.command}:${w.key}`)).toEqual([
      `DeleteObjectCommand:jobs/j5/adapter/${MANIFEST_NAME}`,
      'PutObjectCommand:jobs/j5/adapter/adapter_model.safetensors',
      `PutObjectCommand:jobs/j5/adapter/${MANIFEST_NAME}`,
    ]);
    expect((await inspectPrefix(c, bucket, 'jobs/j5/adapter')).complete).toBe(true);
    up.destroy();
  });
});

describe('uploadFile: resuming an interrupted multipart upload', () => {
  it('sends only the parts the server does not have yet', async () => {
    const path = join(work, 'big', 'checkpoint.bin');
    const size = 5 * 5 * MiB + 3 * MiB; // 6 parts of 5 MiB, the last 3 MiB
    const sha = await randomFile(path, size);
    const stateDir = join(work, 'state-resume');
    const key = 'ckpt/checkpoint.bin';

    // First try: abort once the server has acknowledged 3 parts.
    const first = client();
    const firstRequests = recordRequests(first);
    const stop = new AbortController();
    const acked: number[] = [];
    const err = await uploadFile(first, bucket, key, path, {
      partSize: 5 * MiB,
      concurrency: 1,
      stateDir,
      signal: stop.signal,
      onPart: ({ partNumber }) => {
        acked.push(partNumber);
        if (acked.length === 3) stop.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Aborted' });
    expect(firstRequests.count('UploadPartCommand')).toBe(3);
    expect(firstRequests.count('CompleteMultipartUploadCommand')).toBe(0);
    // The server holds an unfinished upload with those 3 parts, and no object.
    const uploads = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    expect(uploads.Uploads).toHaveLength(1);
    const uploadId = uploads.Uploads?.[0]?.UploadId as string;
    const held = await c.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    expect(held.Parts?.map((p) => p.PartNumber)).toEqual([1, 2, 3]);
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((e: unknown) => e);
    expect(head).toMatchObject({ $metadata: { httpStatusCode: 404 } });
    expect(await readdir(stateDir)).toHaveLength(1);

    // Second try: the same upload is adopted; parts 4-6 go up, 1-3 are not sent again.
    const second = client();
    const requests = recordRequests(second);
    const progress: Progress[] = [];
    const done = await uploadFile(second, bucket, key, path, {
      partSize: 5 * MiB,
      stateDir,
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(done).toMatchObject({ multipart: true, partsReused: 3, partsSent: 3, sha256: sha, size });
    expect(requests.count('ListPartsCommand')).toBe(1);
    expect(requests.count('CreateMultipartUploadCommand')).toBe(0);
    expect(requests.count('UploadPartCommand')).toBe(3);
    expect(
      requests.completed
        .filter((r) => r.command === 'UploadPartCommand')
        .map((r) => r.partNumber)
        .sort(),
    ).toEqual([4, 5, 6]);
    expect(requests.count('CompleteMultipartUploadCommand')).toBe(1);
    expect(progress.at(-1)).toMatchObject({ bytesDone: size, bytesTotal: size });
    // Nothing left behind: no open upload, no state.
    expect((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []).toHaveLength(0);
    expect(await readdir(stateDir)).toHaveLength(0);

    // And the object is the file, byte for byte.
    const back = await downloadObject(c, bucket, key, { cacheDir: join(work, 'cache-resume') });
    expect(back).toMatchObject({ sha256: sha, size, verifiedBy: 'sha256' });
    second.destroy();
    first.destroy();
  });

  it('starts over (and aborts the stale upload) when the file changed since the interrupted try', async () => {
    const path = join(work, 'big2', 'file.bin');
    await randomFile(path, 11 * MiB);
    const stateDir = join(work, 'state-changed');
    const key = 'changed/file.bin';
    const stop = new AbortController();
    await uploadFile(c, bucket, key, path, {
      partSize: 5 * MiB,
      concurrency: 1,
      stateDir,
      signal: stop.signal,
      onPart: () => stop.abort(),
    }).catch(() => undefined);
    const sha = await randomFile(path, 11 * MiB);
    const up = client();
    const requests = recordRequests(up);
    const done = await uploadFile(up, bucket, key, path, { partSize: 5 * MiB, stateDir });
    expect(done).toMatchObject({ partsReused: 0, partsSent: 3, sha256: sha });
    expect(requests.count('AbortMultipartUploadCommand')).toBe(1);
    expect(requests.count('CreateMultipartUploadCommand')).toBe(1);
    expect((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []).toHaveLength(0);
    up.destroy();
  });
});

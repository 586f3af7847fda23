// Failures against the real versitygw: each one a StorageError with a code, naming the bucket/key
// and the server's reason; permanent ones fail at once, transient ones are retried and then reported.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ClientFor } from '@loraplane/storage/client';
import { downloadObject, downloadPrefix } from '@loraplane/storage/download';
import { StorageError } from '@loraplane/storage/errors';
import { inspectPrefix } from '@loraplane/storage/manifest';
import { uploadDirectory, uploadFile } from '@loraplane/storage/upload';
import { client, freshBucket, location, recordRequests, server } from './storage.js';

let work: string;
let c: S3Client;
let bucket: string;
const missingBucket = 'loraplane-no-such-bucket';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'storage-errors-'));
  c = client();
  bucket = await freshBucket(c, 'err');
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'there.txt', Body: 'hello' }));
  await writeFile(join(work, 'file.txt'), 'some bytes');
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

const caught = (p: Promise<unknown>): Promise<StorageError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(StorageError);
      return e as StorageError;
    },
  );

describe('a missing bucket or key is named', () => {
  it('download of an object in a bucket that does not exist', async () => {
    const dl = client();
    const requests = recordRequests(dl);
    const err = await caught(downloadObject(dl, missingBucket, 'models/x.bin', { cacheDir: join(work, 'c1') }));
    expect(err).toMatchObject({ code: 'NoSuchBucket', bucket: missingBucket, key: 'models/x.bin', status: 404 });
    expect(err.message).toContain(`s3://${missingBucket}/models/x.bin`);
    expect(err.message).toContain(`bucket "${missingBucket}" does not exist`);
    // Not retried: one HEAD, and one GET to learn why (a HEAD error has no body).
    expect(requests.count('HeadObjectCommand')).toBe(1);
    expect(requests.count('GetObjectCommand')).toBe(1);
    dl.destroy();
  });

  it('download of a key that does not exist', async () => {
    const err = await caught(downloadObject(c, bucket, 'models/nope.bin', { cacheDir: join(work, 'c2') }));
    expect(err).toMatchObject({ code: 'NoSuchKey', bucket, key: 'models/nope.bin' });
    expect(err.message).toContain(`s3://${bucket}/models/nope.bin`);
  });

  it('download of a prefix with no objects, or in a missing bucket', async () => {
    expect(await caught(downloadPrefix(c, bucket, 'empty/', { cacheDir: join(work, 'c3') }))).toMatchObject({ code: 'NoSuchKey', key: 'empty/' });
    expect(await caught(downloadPrefix(c, missingBucket, 'm/', { cacheDir: join(work, 'c3') }))).toMatchObject({
      code: 'NoSuchBucket',
      bucket: missingBucket,
    });
  });

  it('upload to a bucket that does not exist', async () => {
    const err = await caught(uploadFile(c, missingBucket, 'out/file.txt', join(work, 'file.txt'), { stateDir: join(work, 's') }));
    expect(err).toMatchObject({ code: 'NoSuchBucket', bucket: missingBucket, key: 'out/file.txt' });
    const dirErr = await caught(uploadDirectory(c, missingBucket, 'out', work, { stateDir: join(tmpdir(), 'unused-state') }));
    expect(dirErr).toMatchObject({ code: 'NoSuchBucket', bucket: missingBucket });
  });

  it('upload of a local file that is not there names the path', async () => {
    const err = await caught(uploadFile(c, bucket, 'k', join(work, 'absent.bin')));
    expect(err).toMatchObject({ code: 'Config', path: join(work, 'absent.bin') });
    expect(err.message).toContain(join(work, 'absent.bin'));
  });
});

describe('bad credentials', () => {
  it('a wrong secret is InvalidCredentials, on download (HEAD) and upload (PUT), without retries', async () => {
    const bad = client(bucket, 'baseModel', { accessKeyId: server().accessKeyId, secretAccessKey: 'not-the-secret' });
    const requests = recordRequests(bad);
    const err = await caught(downloadObject(bad, bucket, 'there.txt', { cacheDir: join(work, 'c4') }));
    expect(err).toMatchObject({ code: 'InvalidCredentials', bucket, key: 'there.txt', s3Code: 'SignatureDoesNotMatch', status: 403 });
    expect(err.message).toMatch(/credentials were rejected/);
    expect(requests.count('HeadObjectCommand')).toBe(1);
    const upErr = await caught(uploadFile(bad, bucket, 'new.txt', join(work, 'file.txt'), { skipExisting: false, stateDir: join(work, 's') }));
    expect(upErr).toMatchObject({ code: 'InvalidCredentials', key: 'new.txt', s3Code: 'SignatureDoesNotMatch' });
    expect(requests.count('PutObjectCommand')).toBe(1);
    bad.destroy();
  });

  it('an unknown access key is InvalidCredentials too (versitygw answers it with a 404)', async () => {
    const bad = client(bucket, 'dataset', { accessKeyId: 'nobody', secretAccessKey: 'whatever' });
    const err = await caught(downloadObject(bad, bucket, 'there.txt', { cacheDir: join(work, 'c5') }));
    expect(err).toMatchObject({ code: 'InvalidCredentials', bucket, key: 'there.txt' });
    expect(await caught(inspectPrefix(bad, bucket, 'x/'))).toMatchObject({ code: 'InvalidCredentials' });
    bad.destroy();
  });

  it('a location that names a Secret whose env vars are missing is a configuration error naming them', () => {
    let err: unknown;
    try {
      s3ClientFor(location(bucket), 'output', { env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'Config' });
    expect((err as Error).message).toContain('LORAPLANE_OUTPUT_AWS_ACCESS_KEY_ID and LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY are not set');
    expect((err as Error).message).toContain('Secret "storage-test"');
  });
});

describe('transient failures', () => {
  it('an endpoint that refuses connections is retried with back-off, then reported as Transient', async () => {
    // A port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dead = s3ClientFor({ ...location(bucket), endpoint: `http://127.0.0.1:${port}` }, 'output', {
      env: { LORAPLANE_OUTPUT_AWS_ACCESS_KEY_ID: 'a', LORAPLANE_OUTPUT_AWS_SECRET_ACCESS_KEY: 'b' },
    });
    const requests = recordRequests(dead);
    const retries: number[] = [];
    const err = await caught(
      downloadObject(dead, bucket, 'there.txt', { cacheDir: join(work, 'c6'), retry: { attempts: 3, baseDelayMs: 5, onRetry: (_e, n) => retries.push(n) } }),
    );
    expect(err).toMatchObject({ code: 'Transient', bucket, key: 'there.txt' });
    expect(err.message).toContain(`s3://${bucket}/there.txt`);
    expect(retries).toEqual([1, 2]);
    expect(requests.count('HeadObjectCommand')).toBe(3);
    dead.destroy();
  });
});

// The S3 requests the transfers share, each with retries, the shared concurrency limit, the caller's
// AbortSignal and errors that name the object: HEAD (with the real error code recovered by a GET
// when a bodiless HEAD failure is ambiguous), paginated listing, metadata, small whole reads and
// streamed hashing.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { StorageError, toStorageError, type ErrorSubject } from './errors.js';
import { parseSha256 } from './digest.js';
import type { Limiter } from './pool.js';
import { withRetry, type RetryOptions } from './retry.js';

/** The user metadata key (x-amz-meta-sha256) that carries an object's hex SHA-256. */
export const SHA256_METADATA = 'sha256';

export interface CallOptions {
  retry?: RetryOptions;
  /** Shared by every request of one transfer. */
  limit?: Limiter;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface ObjectInfo {
  bucket: string;
  key: string;
  size: number;
  /** As the server sent it, quotes included; what If-Match wants. */
  etag: string;
  /** Hex SHA-256 from x-amz-meta-sha256, when the object has a valid one. */
  sha256?: string;
  lastModified?: Date;
}

/** A transfer's request options: the caller's retry and logger, the transfer's shared limit, a task's own signal or else the caller's. */
export const transferCallOptions = (opts: Omit<CallOptions, 'limit'>, limit: Limiter, signal?: AbortSignal): CallOptions => ({
  retry: opts.retry,
  logger: opts.logger,
  limit,
  signal: signal ?? opts.signal,
});

/**
 * One S3 request: waits for a slot, retries transient failures (each try gets a fresh request from
 * fn), turns errors into StorageErrors naming the subject.
 */
export async function send<T>(subject: ErrorSubject, fn: (signal: AbortSignal | undefined) => Promise<T>, opts: CallOptions = {}): Promise<T> {
  const attempt = () =>
    withRetry(
      async () => {
        try {
          return await fn(opts.signal);
        } catch (err) {
          throw toStorageError(err, subject);
        }
      },
      {
        ...opts.retry,
        signal: opts.signal,
        onRetry: (err, n, delayMs) => {
          opts.logger?.warn({ err, attempt: n, delayMs, op: subject.op, bucket: subject.bucket, key: subject.key }, 'storage request failed, retrying');
          opts.retry?.onRetry?.(err, n, delayMs);
        },
      },
    );
  return opts.limit !== undefined ? opts.limit(attempt) : attempt();
}

const stripQuotes = (etag: string): string => etag.replace(/^"|"$/g, '');

export async function headObject(client: S3Client, bucket: string, key: string, opts: CallOptions = {}): Promise<ObjectInfo> {
  const subject = { op: 'HeadObject', bucket, key };
  let out: HeadObjectCommandOutput;
  try {
    out = await send(subject, (abortSignal) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }), opts);
  } catch (err) {
    throw await explainHeadFailure(client, bucket, key, err, opts);
  }
  if (out.ContentLength === undefined || out.ETag === undefined) throw new StorageError('Unknown', 'the response has no Content-Length or ETag', subject);
  const sha256 = parseSha256(out.Metadata?.[SHA256_METADATA]);
  return {
    bucket,
    key,
    size: out.ContentLength,
    etag: out.ETag,
    ...(sha256 !== undefined ? { sha256 } : {}),
    ...(out.LastModified !== undefined ? { lastModified: out.LastModified } : {}),
  };
}

/**
 * A failed HEAD carries no body, so a missing bucket, a missing key and an unknown access key can all
 * look like a bare 404 (versitygw answers an unknown key with 404). A one-byte GET of the same object
 * returns the error document that says which; its error replaces the HEAD's.
 */
export async function explainHeadFailure(client: S3Client, bucket: string, key: string, err: unknown, opts: CallOptions): Promise<StorageError> {
  const headErr = toStorageError(err, { op: 'HeadObject', bucket, key });
  if (headErr.code === 'Transient' || headErr.code === 'Aborted' || (headErr.status !== 403 && headErr.status !== 404)) return headErr;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }), { abortSignal: opts.signal });
    out.Body?.transformToByteArray().catch(() => undefined);
    return headErr;
  } catch (getErr) {
    const e = toStorageError(getErr, { op: 'HeadObject', bucket, key });
    return e.s3Code === 'InvalidRange' ? headErr : e;
  }
}

export interface ObjectBytes {
  body: Uint8Array;
  etag: string;
  lastModified?: Date;
}

/** A small object read whole (a manifest, a JSON config); one larger than maxBytes is refused unread. */
export async function getSmallObject(
  client: S3Client,
  bucket: string,
  key: string,
  limit: { maxBytes: number; what: string },
  opts: CallOptions = {},
): Promise<ObjectBytes> {
  const subject = { op: 'GetObject', bucket, key };
  return send(
    subject,
    async (abortSignal) => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
      if (res.ContentLength !== undefined && res.ContentLength > limit.maxBytes) {
        res.Body?.transformToByteArray().catch(() => undefined);
        throw new StorageError('Incomplete', `${res.ContentLength} bytes is too large for ${limit.what}`, subject);
      }
      const body = (await res.Body?.transformToByteArray()) ?? new Uint8Array();
      return { body, etag: res.ETag ?? '', ...(res.LastModified !== undefined ? { lastModified: res.LastModified } : {}) };
    },
    opts,
  );
}

/**
 * The SHA-256 of an object's bytes, streamed (never held whole), pinned to `etag` (If-Match) so a
 * rewrite while it is read fails (PreconditionFailed) instead of hashing a mix of two versions.
 */
export async function hashObject(
  client: S3Client,
  bucket: string,
  key: string,
  etag: string,
  opts: CallOptions = {},
): Promise<{ sha256: string; size: number }> {
  const subject = { op: 'GetObject', bucket, key };
  return send(
    subject,
    async (abortSignal) => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: etag }), { abortSignal });
      if (!(res.Body instanceof Readable)) throw new StorageError('Unknown', 'the response has no body stream', subject);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of res.Body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
      }
      if (res.ContentLength !== undefined && size !== res.ContentLength)
        throw new StorageError('Transient', `the body ended after ${size} of ${res.ContentLength} bytes`, subject);
      return { sha256: hash.digest('hex'), size };
    },
    opts,
  );
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified?: Date;
}

/** Every object whose key starts with `prefix`, page by page (ListObjectsV2). */
export async function* listObjects(client: S3Client, bucket: string, prefix: string, opts: CallOptions = {}): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await send(
      { op: 'ListObjectsV2', bucket, key: prefix },
      (abortSignal) => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal }),
      opts,
    );
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined || o.Size === undefined) continue;
      yield { key: o.Key, size: o.Size, etag: o.ETag ?? '', ...(o.LastModified !== undefined ? { lastModified: o.LastModified } : {}) };
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

export async function listAll(client: S3Client, bucket: string, prefix: string, opts: CallOptions = {}): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const o of listObjects(client, bucket, prefix, opts)) out.push(o);
  return out;
}

/** Same object version? ETags compared without their quotes (servers differ in quoting on listings). */
export const sameEtag = (a: string, b: string): boolean => stripQuotes(a) === stripQuotes(b);

// Downloads from S3 into the local cache: one object, or every object under a prefix. Each object is
// fetched as parallel ranged GETs (partSize bytes each, at most `concurrency` requests in flight for
// the whole download), every GET pinned to the ETag first seen (If-Match) so a rewrite mid-download
// fails instead of mixing versions, each part retried on transient errors, bytes streamed straight to
// their offset in a temporary file (nothing is held whole in memory). The finished file is hashed and
// checked against the SHA-256 the object was published with (the prefix's manifest.json when there is
// one, else x-amz-meta-sha256); without either, against size and ETag only. Then it is renamed into
// the cache, so a second download of the same bucket/key/ETag is a no-op.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cacheCommit, cacheLookup, cachePaths, cacheTempPath } from './cache.js';
import { digestFile, parseSha256, toPrefixed } from './digest.js';
import { StorageError } from './errors.js';
import { folderPrefix, relativeKey } from './location.js';
import { MANIFEST_NAME, checkAgainstListing, readManifest, setDigest, type Manifest } from './manifest.js';
import { headObject, listAll, send, transferCallOptions, type CallOptions, type ObjectInfo } from './objects.js';
import { MiB, rangeHeader, splitParts, type Part } from './parts.js';
import { forEachLimit, limiter, type Limiter } from './pool.js';
import { ProgressTracker, partId, type ProgressListener } from './progress.js';

export const DEFAULT_DOWNLOAD_PART_SIZE = 8 * MiB;
export const DEFAULT_DOWNLOAD_CONCURRENCY = 8;

export interface DownloadOptions extends Omit<CallOptions, 'limit'> {
  /** The cache directory; objects land at <cacheDir>/<bucket>/<key>. */
  cacheDir: string;
  /** Bytes per ranged GET. Default 8 MiB. */
  partSize?: number;
  /** Requests in flight at once, across all files of the download. Default 8. */
  concurrency?: number;
  onProgress?: ProgressListener;
  /** At most one progress report per interval (the last one always comes). Default 250 ms. */
  progressIntervalMs?: number;
}

export interface DownloadedObject {
  bucket: string;
  key: string;
  /** The file in the cache. */
  path: string;
  size: number;
  etag: string;
  /** Hex SHA-256 of the bytes on disk. */
  sha256: string;
  verifiedBy: 'sha256' | 'size+etag';
  /** Found in the cache: nothing was downloaded. */
  cached: boolean;
}

export interface DownloadedPrefix {
  bucket: string;
  /** The folder prefix ('' or ending in '/'). */
  prefix: string;
  /** The local directory holding the prefix's files. */
  dir: string;
  objects: DownloadedObject[];
  /** The prefix's manifest.json, when it has one (then exactly its files were downloaded). */
  manifest?: Manifest;
  /** Set digest (as in manifests) of the downloaded files, manifest.json excluded. */
  digest: string;
  bytes: number;
}

interface Context {
  client: S3Client;
  opts: DownloadOptions;
  limit: Limiter;
  tracker: ProgressTracker;
  partSize: number;
  concurrency: number;
}

function context(client: S3Client, opts: DownloadOptions, bytes: number, files: number): Context {
  const concurrency = opts.concurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY;
  return {
    client,
    opts,
    limit: limiter(concurrency),
    tracker: new ProgressTracker(bytes, files, opts.onProgress, opts.progressIntervalMs),
    partSize: opts.partSize ?? DEFAULT_DOWNLOAD_PART_SIZE,
    concurrency,
  };
}

const callOpts = (ctx: Context, signal?: AbortSignal): CallOptions => transferCallOptions(ctx.opts, ctx.limit, signal);

/** Downloads one object (HEAD, then ranged GETs) unless the cache has this version already. */
export async function downloadObject(
  client: S3Client,
  bucket: string,
  key: string,
  opts: DownloadOptions & { expectedSha256?: string },
): Promise<DownloadedObject> {
  const ctx = context(client, opts, 0, 1);
  const info = await headObject(client, bucket, key, callOpts(ctx));
  ctx.tracker.grow(info.size, 0);
  const expected = parseSha256(opts.expectedSha256);
  return fetchObject(ctx, info, expected !== undefined ? { sha256: expected } : {});
}

/**
 * Downloads every object under a folder prefix into <cacheDir>/<bucket>/<prefix>. With a manifest.json
 * at the prefix, its files (and it) are downloaded and checked against it, and objects it does not
 * list are left out; a listed file that is missing or has another size fails the download (the
 * prefix is incomplete). Without one, every object is downloaded and checked by its own metadata.
 */
export async function downloadPrefix(client: S3Client, bucket: string, prefix: string, opts: DownloadOptions): Promise<DownloadedPrefix> {
  const folder = folderPrefix(prefix);
  const ctx = context(client, opts, 0, 0);
  const listed = (await listAll(client, bucket, folder, callOpts(ctx))).filter((o) => !o.key.endsWith('/'));
  if (listed.length === 0) throw new StorageError('NoSuchKey', 'no objects under this prefix', { op: 'download', bucket, key: folder });
  const byRel = new Map(listed.map((o) => [relativeKey(folder, o.key, bucket) as string, o]));

  let manifest: Manifest | undefined;
  let wanted: Array<{ info: ObjectInfo; sha256?: string } | { key: string }>;
  if (byRel.has(MANIFEST_NAME)) {
    const stored = await readManifest(client, bucket, folder, callOpts(ctx));
    if (stored === undefined) throw new StorageError('Incomplete', `${MANIFEST_NAME} vanished while reading it`, { op: 'download', bucket, key: folder });
    manifest = stored.manifest;
    const problems = checkAgainstListing(manifest, byRel);
    if (problems.length > 0)
      throw new StorageError('Incomplete', `the objects do not match ${MANIFEST_NAME}: ${problems.join('; ')}`, { op: 'download', bucket, key: folder });
    // The listing has size and ETag, the manifest the digest: no HEAD needed.
    wanted = manifest.files.map((f) => {
      const o = byRel.get(f.path) as { key: string; size: number; etag: string };
      return { info: { bucket, key: o.key, size: o.size, etag: o.etag }, sha256: parseSha256(f.sha256) as string };
    });
    wanted.push({ key: `${folder}${MANIFEST_NAME}` });
  } else {
    wanted = listed.map((o) => ({ key: o.key }));
  }
  ctx.tracker.grow(0, wanted.length);
  for (const w of wanted) if ('info' in w) ctx.tracker.grow(w.info.size, 0);

  const objects: DownloadedObject[] = new Array(wanted.length);
  // Files run side by side; the shared limiter bounds the requests.
  await forEachLimit(
    wanted,
    ctx.concurrency,
    async (w, i, signal) => {
      let info: ObjectInfo;
      let sha256: string | undefined;
      if ('info' in w) ({ info, sha256 } = w);
      else {
        info = await headObject(client, bucket, w.key, callOpts(ctx, signal));
        ctx.tracker.grow(info.size, 0);
      }
      objects[i] = await fetchObject(ctx, info, sha256 !== undefined ? { sha256 } : {}, signal);
    },
    opts.signal,
  );
  const files = objects
    .filter((o) => relativeKey(folder, o.key) !== MANIFEST_NAME)
    .map((o) => ({ path: relativeKey(folder, o.key) as string, size: o.size, sha256: toPrefixed(o.sha256) }));
  const dir = folder === '' ? join(opts.cacheDir, bucket) : join(opts.cacheDir, bucket, ...folder.slice(0, -1).split('/'));
  opts.logger?.info({ bucket, prefix: folder, files: objects.length, bytes: ctx.tracker.snapshot.bytesTotal }, 'downloaded prefix');
  return {
    bucket,
    prefix: folder,
    dir,
    objects,
    ...(manifest !== undefined ? { manifest } : {}),
    digest: setDigest(files),
    bytes: objects.reduce((n, o) => n + o.size, 0),
  };
}

async function fetchObject(ctx: Context, info: ObjectInfo, expected: { sha256?: string }, signal?: AbortSignal): Promise<DownloadedObject> {
  const { bucket, key, size, etag } = info;
  const fileId = `${bucket}/${key}`;
  const want = expected.sha256 ?? info.sha256;
  const verifiedBy = want !== undefined ? 'sha256' : 'size+etag';
  const cacheDir = ctx.opts.cacheDir;
  const hit = await cacheLookup(cacheDir, { bucket, key, etag, size, ...(want !== undefined ? { sha256: want } : {}) });
  if (hit !== undefined) {
    ctx.tracker.fileDone(fileId, size);
    ctx.opts.logger?.debug({ bucket, key, etag }, 'cache hit');
    return { bucket, key, path: cachePaths(cacheDir, bucket, key).data, size, etag, sha256: hit.sha256, verifiedBy: hit.verifiedBy, cached: true };
  }

  const tmp = await cacheTempPath(cacheDir, bucket, key);
  const abort = signal ?? ctx.opts.signal;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.truncate(size);
      await forEachLimit(splitParts(size, ctx.partSize), ctx.concurrency, (part, _i, partSignal) => fetchPart(ctx, info, part, fh, partSignal), abort);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const digest = await digestFile(tmp, abort !== undefined ? { signal: abort } : {});
    const subject = { op: 'download', bucket, key };
    if (digest.size !== size) throw new StorageError('IntegrityMismatch', `${digest.size} bytes on disk, the object has ${size}`, subject);
    if (want !== undefined && digest.sha256 !== want)
      throw new StorageError('IntegrityMismatch', `SHA-256 of the downloaded bytes is ${digest.sha256}, the object was published with ${want}`, subject);
    const path = await cacheCommit(cacheDir, tmp, {
      bucket,
      key,
      etag,
      size,
      sha256: digest.sha256,
      verifiedBy,
      downloadedAt: new Date().toISOString(),
    });
    ctx.tracker.fileDone(fileId, size);
    ctx.opts.logger?.debug({ bucket, key, size, verifiedBy }, 'downloaded');
    return { bucket, key, path, size, etag, sha256: digest.sha256, verifiedBy, cached: false };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** One ranged GET, streamed to its offset; fewer or more bytes than asked is a (retried) failure. */
async function fetchPart(ctx: Context, info: ObjectInfo, part: Part, fh: FileHandle, signal: AbortSignal): Promise<void> {
  const { bucket, key, etag } = info;
  const subject = { op: 'GetObject', bucket, key };
  const id = partId(`${bucket}/${key}`, part.number);
  await send(
    subject,
    async (abortSignal) => {
      const res = await ctx.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: rangeHeader(part), IfMatch: etag }), { abortSignal });
      const body = res.Body;
      if (!(body instanceof Readable)) throw new StorageError('Unknown', 'the response has no body stream', subject);
      const start = /^bytes (\d+)-/.exec(res.ContentRange ?? '')?.[1];
      if (start === undefined ? part.start !== 0 || part.size !== info.size : Number(start) !== part.start) {
        body.destroy();
        throw new StorageError('Unknown', `asked for ${rangeHeader(part)}, got Content-Range "${res.ContentRange ?? ''}"`, subject);
      }
      let got = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (got + chunk.length > part.size) throw new StorageError('Transient', `part ${part.number}: more than the ${part.size} bytes asked for`, subject);
        await fh.write(chunk, 0, chunk.length, part.start + got);
        got += chunk.length;
        ctx.tracker.partBytes(id, got);
      }
      if (got !== part.size) throw new StorageError('Transient', `part ${part.number}: the body ended after ${got} of ${part.size} bytes`, subject);
    },
    callOpts(ctx, signal),
  );
}

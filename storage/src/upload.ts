// Uploads to S3: one file, or a local directory to a prefix with its manifest written last.
//
// Every object carries its SHA-256 twice: in x-amz-meta-sha256 (hex; what readers verify against)
// and as the S3 checksum of each request (x-amz-checksum-sha256, so the server refuses bytes that
// changed on the way). Files above the multipart threshold go up in parts, at most `concurrency`
// requests at once, each part retried on transient errors and streamed from its range of the file.
//
// Resumable: the upload's id is recorded in the state dir before the first part is sent. When a try
// fails or is aborted and the same file is uploaded again, the parts the server already holds are
// listed (ListParts) and those whose size and SHA-256 (or MD5 ETag) match the local bytes are kept;
// only the missing ones are sent. A file that changed since gets a fresh upload, and the stale one
// is aborted. An object that already exists with the same size and SHA-256 is not sent at all.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type Part as S3Part,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createReadStream, type Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { Readable, Transform, pipeline } from 'node:stream';
import { digestFile, hexToBase64, type FileDigest } from './digest.js';
import { StorageError, s3Uri } from './errors.js';
import { folderPrefix, joinKey } from './location.js';
import { MANIFEST_NAME, buildManifest, deleteManifest, writeManifest, type Manifest } from './manifest.js';
import { SHA256_METADATA, headObject, listAll, sameEtag, send, transferCallOptions, type CallOptions } from './objects.js';
import { MiB, splitParts, uploadPartSize, type Part } from './parts.js';
import { forEachLimit, limiter, type Limiter } from './pool.js';
import { ProgressTracker, partId, type ProgressListener } from './progress.js';
import { clearUploadState, readUploadState, writeUploadState } from './upload-state.js';

export const DEFAULT_UPLOAD_PART_SIZE = 8 * MiB;
export const DEFAULT_UPLOAD_CONCURRENCY = 4;

export interface UploadOptions extends Omit<CallOptions, 'limit'> {
  /** Bytes per part (at least 5 MiB, raised so no upload needs more than 10,000 parts). Default 8 MiB. */
  partSize?: number;
  /** Files larger than this go up in parts. Default: the part size. */
  multipartThreshold?: number;
  /** Requests in flight at once, across all files. Default 4. */
  concurrency?: number;
  /** Where resumable uploads are recorded. Default <tmpdir>/loraplane-upload-state. */
  stateDir?: string;
  /** Leave alone an object that exists with the same size and SHA-256. Default true. */
  skipExisting?: boolean;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
  /** Each part the server has acknowledged. */
  onPart?: (part: { bucket: string; key: string; partNumber: number; parts: number }) => void;
}

export interface UploadedObject {
  bucket: string;
  key: string;
  size: number;
  /** Hex SHA-256. */
  sha256: string;
  etag: string;
  multipart: boolean;
  /** Requests that carried data: parts sent now (1 for a single PUT, 0 when skipped). */
  partsSent: number;
  /** Parts an earlier, interrupted try had already sent. */
  partsReused: number;
  /** The object was there already with the same size and SHA-256. */
  skipped: boolean;
}

export interface UploadedDirectory {
  bucket: string;
  prefix: string;
  /** s3://bucket/prefix/ */
  uri: string;
  manifest: Manifest;
  manifestEtag: string;
  objects: UploadedObject[];
}

interface Context {
  client: S3Client;
  opts: UploadOptions;
  limit: Limiter;
  tracker: ProgressTracker;
  concurrency: number;
  stateDir: string;
}

function context(client: S3Client, opts: UploadOptions, bytes: number, files: number): Context {
  const concurrency = opts.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  return {
    client,
    opts,
    limit: limiter(concurrency),
    tracker: new ProgressTracker(bytes, files, opts.onProgress, opts.progressIntervalMs),
    concurrency,
    stateDir: opts.stateDir ?? join(tmpdir(), 'loraplane-upload-state'),
  };
}

const callOpts = (ctx: Context, signal?: AbortSignal): CallOptions => transferCallOptions(ctx.opts, ctx.limit, signal);

async function fileSize(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    return st.size;
  } catch (err) {
    throw new StorageError('Config', `cannot upload it: ${(err as Error).message}`, { op: 'upload', path, cause: err });
  }
}

/** Uploads one file to bucket/key (resuming an interrupted multipart upload of the same bytes). */
export async function uploadFile(client: S3Client, bucket: string, key: string, path: string, opts: UploadOptions = {}): Promise<UploadedObject> {
  const size = await fileSize(path);
  return uploadOne(context(client, opts, size, 1), bucket, key, path, size);
}

/**
 * Uploads every regular file under `dir` to the folder prefix, then manifest.json. Before the first
 * object is written, an existing manifest.json is deleted, so the prefix reads as incomplete until
 * the new manifest, the last write, lands. A failure or abort leaves no manifest (and resumable
 * uploads behind: the same call again picks them up).
 */
export async function uploadDirectory(
  client: S3Client,
  bucket: string,
  prefix: string,
  dir: string,
  opts: UploadOptions & { onObject?: (o: UploadedObject) => void } = {},
): Promise<UploadedDirectory> {
  const folder = folderPrefix(prefix);
  const files = await walk(resolve(dir), opts.stateDir !== undefined ? resolve(opts.stateDir) : undefined);
  if (files.length === 0) throw new StorageError('Config', 'no files to upload', { op: 'upload', path: dir });
  if (files.some((f) => f.rel === MANIFEST_NAME))
    throw new StorageError('Config', `${MANIFEST_NAME} is written by the upload itself; the directory must not have one`, { op: 'upload', path: dir });
  const ctx = context(
    client,
    opts,
    files.reduce((n, f) => n + f.size, 0),
    files.length,
  );
  await deleteManifest(client, bucket, folder, callOpts(ctx));
  // One listing tells which files may already be there (a rerun after a failure): only those are
  // HEADed for their SHA-256; the others are sent without asking.
  const listed = new Map<string, number>();
  if (opts.skipExisting !== false) for (const o of await listAll(client, bucket, folder, callOpts(ctx))) listed.set(o.key, o.size);
  const objects: UploadedObject[] = new Array(files.length);
  await forEachLimit(
    files,
    ctx.concurrency,
    async (f, i, signal) => {
      const key = joinKey(folder, f.rel);
      const o = await uploadOne(ctx, bucket, key, f.path, f.size, signal, listed.get(key) === f.size);
      objects[i] = o;
      opts.onObject?.(o);
    },
    opts.signal,
  );
  if (opts.signal?.aborted) throw new StorageError('Aborted', 'aborted before the manifest was written', { op: 'upload', bucket, key: folder });
  const manifest = buildManifest(objects.map((o, i) => ({ path: (files[i] as { rel: string }).rel, size: o.size, sha256: o.sha256 })));
  const manifestEtag = await writeManifest(client, bucket, folder, manifest, callOpts(ctx));
  opts.logger?.info(
    { bucket, prefix: folder, files: objects.length, bytes: manifest.totalBytes, digest: manifest.digest },
    'uploaded directory, manifest written',
  );
  return { bucket, prefix: folder, uri: s3Uri(bucket, folder), manifest, manifestEtag, objects };
}

/** Regular files under root, sorted by relative path ('/'-separated); `exclude` (a directory) is skipped. */
async function walk(root: string, exclude?: string): Promise<Array<{ rel: string; path: string; size: number }>> {
  const out: Array<{ rel: string; path: string; size: number }> = [];
  const visit = async (dirPath: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (err) {
      throw new StorageError('Config', `cannot read the directory: ${(err as Error).message}`, { op: 'upload', path: dirPath, cause: err });
    }
    for (const e of entries) {
      const path = join(dirPath, e.name);
      if (exclude !== undefined && (path === exclude || path.startsWith(exclude + sep))) continue;
      if (e.isDirectory()) await visit(path);
      else if (e.isFile()) out.push({ rel: relative(root, path).split(sep).join('/'), path, size: (await stat(path)).size });
      else throw new StorageError('Config', 'only regular files and directories can be uploaded', { op: 'upload', path });
    }
  };
  await visit(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** `mayExist`: false when a listing showed no object of this size at the key (no HEAD needed then). */
async function uploadOne(
  ctx: Context,
  bucket: string,
  key: string,
  path: string,
  size: number,
  signal?: AbortSignal,
  mayExist = true,
): Promise<UploadedObject> {
  const abort = signal ?? ctx.opts.signal;
  const preferred = ctx.opts.partSize ?? DEFAULT_UPLOAD_PART_SIZE;
  const multipart = size > (ctx.opts.multipartThreshold ?? preferred);
  const partSize = multipart ? uploadPartSize(size, preferred) : undefined;
  const digest = await digestFile(path, { ...(partSize !== undefined ? { partSize } : {}), ...(abort !== undefined ? { signal: abort } : {}) });
  if (digest.size !== size) throw new StorageError('Config', `the file changed while it was read (${size} then ${digest.size} bytes)`, { op: 'upload', path });
  const fileId = `${bucket}/${key}`;

  if (ctx.opts.skipExisting !== false && mayExist) {
    const existing = await headObject(ctx.client, bucket, key, callOpts(ctx, abort)).catch((err: unknown) => {
      if (err instanceof StorageError && err.code === 'NoSuchKey') return undefined;
      throw err;
    });
    if (existing !== undefined && existing.size === size && existing.sha256 === digest.sha256) {
      ctx.tracker.fileDone(fileId, size);
      ctx.opts.logger?.debug({ bucket, key }, 'already uploaded');
      return { bucket, key, size, sha256: digest.sha256, etag: existing.etag, multipart, partsSent: 0, partsReused: 0, skipped: true };
    }
  }

  const result =
    partSize === undefined ? await putWhole(ctx, bucket, key, path, digest, abort) : await putMultipart(ctx, bucket, key, path, digest, partSize, abort);
  ctx.tracker.fileDone(fileId, size);
  ctx.opts.logger?.debug({ bucket, key, size, partsSent: result.partsSent, partsReused: result.partsReused }, 'uploaded');
  return result;
}

/** A stream of bytes [start, end) of the file that credits progress as it is read. */
function partBody(ctx: Context, path: string, part: Pick<Part, 'start' | 'end'>, progressId: string): Readable {
  if (part.end === part.start) return Readable.from([]);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      ctx.tracker.partBytes(progressId, sent);
      done(null, chunk);
    },
  });
  return pipeline(createReadStream(path, { start: part.start, end: part.end - 1 }), counter, () => undefined);
}

async function putWhole(ctx: Context, bucket: string, key: string, path: string, digest: FileDigest, signal?: AbortSignal): Promise<UploadedObject> {
  const out = await send(
    { op: 'PutObject', bucket, key },
    async (abortSignal) => {
      const body = partBody(ctx, path, { start: 0, end: digest.size }, partId(`${bucket}/${key}`, 1));
      try {
        return await ctx.client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: digest.size,
            ChecksumSHA256: hexToBase64(digest.sha256),
            Metadata: { [SHA256_METADATA]: digest.sha256 },
          }),
          { abortSignal },
        );
      } finally {
        // A failed or aborted request may leave the file stream open.
        body.destroy();
      }
    },
    callOpts(ctx, signal),
  );
  return { bucket, key, size: digest.size, sha256: digest.sha256, etag: out.ETag ?? '', multipart: false, partsSent: 1, partsReused: 0, skipped: false };
}

async function listParts(ctx: Context, bucket: string, key: string, uploadId: string, signal?: AbortSignal): Promise<S3Part[]> {
  const parts: S3Part[] = [];
  let marker: string | undefined;
  do {
    const page = await send(
      { op: 'ListParts', bucket, key },
      (abortSignal) => ctx.client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal }),
      callOpts(ctx, signal),
    );
    parts.push(...(page.Parts ?? []));
    marker = page.IsTruncated === true ? page.NextPartNumberMarker : undefined;
  } while (marker !== undefined);
  return parts;
}

async function abortUpload(ctx: Context, bucket: string, key: string, uploadId: string): Promise<void> {
  await send(
    { op: 'AbortMultipartUpload', bucket, key },
    (abortSignal) => ctx.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), { abortSignal }),
    callOpts(ctx),
  ).catch((err: unknown) => {
    if (!(err instanceof StorageError && err.s3Code === 'NoSuchUpload'))
      ctx.opts.logger?.warn({ err, bucket, key, uploadId }, 'could not abort a stale upload');
  });
}

async function putMultipart(
  ctx: Context,
  bucket: string,
  key: string,
  path: string,
  digest: FileDigest,
  partSize: number,
  signal?: AbortSignal,
): Promise<UploadedObject> {
  const parts = splitParts(digest.size, partSize);
  const local = digest.parts ?? [];
  const fileId = `${bucket}/${key}`;
  const done = new Map<number, CompletedPart>();
  let uploadId: string | undefined;

  const state = await readUploadState(ctx.stateDir, bucket, key);
  if (state !== undefined && (state.size !== digest.size || state.sha256 !== digest.sha256 || state.partSize !== partSize)) {
    ctx.opts.logger?.info({ bucket, key, uploadId: state.uploadId }, 'the file changed since the interrupted upload: starting over');
    await abortUpload(ctx, bucket, key, state.uploadId);
    await clearUploadState(ctx.stateDir, bucket, key);
  } else if (state !== undefined) {
    try {
      for (const p of await listParts(ctx, bucket, key, state.uploadId, signal)) {
        const mine = p.PartNumber !== undefined ? local[p.PartNumber - 1] : undefined;
        if (mine === undefined || p.Size !== mine.size || p.ETag === undefined) continue;
        const checksum = hexToBase64(mine.sha256);
        const same = p.ChecksumSHA256 !== undefined ? p.ChecksumSHA256 === checksum : sameEtag(p.ETag, mine.md5);
        if (same) done.set(mine.number, { PartNumber: mine.number, ETag: p.ETag, ChecksumSHA256: checksum });
      }
      uploadId = state.uploadId;
      ctx.opts.logger?.info({ bucket, key, uploadId, partsKept: done.size, parts: parts.length }, 'resuming an interrupted upload');
    } catch (err) {
      if (!(err instanceof StorageError && err.s3Code === 'NoSuchUpload')) throw err;
      await clearUploadState(ctx.stateDir, bucket, key);
    }
  }
  const partsReused = done.size;
  for (const n of done.keys()) ctx.tracker.partBytes(partId(fileId, n), (parts[n - 1] as Part).size);

  if (uploadId === undefined) {
    const created = await send(
      { op: 'CreateMultipartUpload', bucket, key },
      (abortSignal) =>
        ctx.client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'SHA256', Metadata: { [SHA256_METADATA]: digest.sha256 } }),
          { abortSignal },
        ),
      callOpts(ctx, signal),
    );
    if (created.UploadId === undefined) throw new StorageError('Unknown', 'the server returned no UploadId', { op: 'CreateMultipartUpload', bucket, key });
    uploadId = created.UploadId;
    await writeUploadState(ctx.stateDir, {
      bucket,
      key,
      uploadId,
      size: digest.size,
      sha256: digest.sha256,
      partSize,
      createdAt: new Date().toISOString(),
    });
  }
  const id = uploadId;

  const missing = parts.filter((p) => !done.has(p.number));
  await forEachLimit(
    missing,
    ctx.concurrency,
    async (part, _i, partSignal) => {
      const checksum = hexToBase64((local[part.number - 1] as { sha256: string }).sha256);
      const out = await send(
        { op: `UploadPart ${part.number}/${parts.length}`, bucket, key },
        async (abortSignal) => {
          const body = partBody(ctx, path, part, partId(fileId, part.number));
          try {
            return await ctx.client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: id,
                PartNumber: part.number,
                Body: body,
                ContentLength: part.size,
                ChecksumSHA256: checksum,
              }),
              { abortSignal },
            );
          } finally {
            body.destroy();
          }
        },
        callOpts(ctx, partSignal),
      );
      if (out.ETag === undefined) throw new StorageError('Unknown', `part ${part.number}: no ETag in the response`, { op: 'UploadPart', bucket, key });
      done.set(part.number, { PartNumber: part.number, ETag: out.ETag, ChecksumSHA256: checksum });
      ctx.opts.onPart?.({ bucket, key, partNumber: part.number, parts: parts.length });
    },
    signal,
  );

  const completed = await send(
    { op: 'CompleteMultipartUpload', bucket, key },
    (abortSignal) =>
      ctx.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: id,
          MultipartUpload: { Parts: [...done.values()].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0)) },
        }),
        { abortSignal },
      ),
    callOpts(ctx, signal),
  );
  await clearUploadState(ctx.stateDir, bucket, key);
  // The metadata came from CreateMultipartUpload, possibly in an earlier try: check what was published.
  const info = await headObject(ctx.client, bucket, key, callOpts(ctx, signal));
  if (info.size !== digest.size || info.sha256 !== digest.sha256)
    throw new StorageError(
      'IntegrityMismatch',
      `after the upload the object has ${info.size} bytes and sha256 ${info.sha256 ?? 'none'}, the file ${digest.size} and ${digest.sha256}`,
      { op: 'upload', bucket, key },
    );
  return {
    bucket,
    key,
    size: digest.size,
    sha256: digest.sha256,
    etag: completed.ETag ?? info.etag,
    multipart: true,
    partsSent: missing.length,
    partsReused,
    skipped: false,
  };
}

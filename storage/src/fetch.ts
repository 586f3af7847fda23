// Brings a Source to a local path the trainer can read: an S3 prefix (or a single object, when the
// prefix names one exactly) is downloaded into the cache; a PVC or local path is used in place.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { stat } from 'node:fs/promises';
import { s3ClientFor, type S3ClientOptions } from './client.js';
import { toPrefixed } from './digest.js';
import { StorageError } from './errors.js';
import { downloadObject, downloadPrefix, type DownloadOptions } from './download.js';
import type { Source } from './location.js';
import { send } from './objects.js';

export interface FetchOptions extends DownloadOptions {
  /** The client for an s3 source; default s3ClientFor(location, role, clientOptions). */
  client?: S3Client;
  clientOptions?: S3ClientOptions;
}

export interface Fetched {
  source: Source;
  /** A directory, or the file when the source is a single object or file. */
  path: string;
  kind: 'file' | 'dir';
  /** For s3 sources: `sha256:` of the object, or the set digest of the prefix's files. */
  digest?: string;
  /** For s3 sources: bytes and objects downloaded or found in the cache. */
  bytes?: number;
  files?: number;
  /** For s3 sources: nothing had to be downloaded. */
  cached?: boolean;
}

export async function fetchSource(source: Source, opts: FetchOptions): Promise<Fetched> {
  if (source.kind === 'local') {
    try {
      const st = await stat(source.path);
      return { source, path: source.path, kind: st.isDirectory() ? 'dir' : 'file' };
    } catch (err) {
      throw new StorageError('NoSuchKey', `the ${source.role} path is not there: ${(err as Error).message}`, {
        op: 'fetch',
        path: source.path,
        cause: err,
      });
    }
  }
  const client = opts.client ?? s3ClientFor(source.location, source.role, opts.clientOptions);
  const { bucket, prefix } = source;
  if (prefix !== '' && !prefix.endsWith('/')) {
    // Keys sort by bytes, so an object named exactly `prefix` is the first one listed under it.
    const page = await send(
      { op: 'ListObjectsV2', bucket, key: prefix },
      (abortSignal) => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }), { abortSignal }),
      { ...(opts.retry !== undefined ? { retry: opts.retry } : {}), ...(opts.signal !== undefined ? { signal: opts.signal } : {}) },
    );
    if (page.Contents?.[0]?.Key === prefix) {
      const o = await downloadObject(client, bucket, prefix, opts);
      return { source, path: o.path, kind: 'file', digest: toPrefixed(o.sha256), bytes: o.size, files: 1, cached: o.cached };
    }
  }
  const d = await downloadPrefix(client, bucket, prefix, opts);
  return { source, path: d.dir, kind: 'dir', digest: d.digest, bytes: d.bytes, files: d.objects.length, cached: d.objects.every((o) => o.cached) };
}

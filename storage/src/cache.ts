// The local download cache. An object lands at <dir>/<bucket>/<key> (so a downloaded prefix is a
// plain directory tree the trainer can read) and its entry at <dir>/.entries/<bucket>/<key>.json
// records the ETag, size and SHA-256 it was verified against. A second download of the same
// bucket/key/ETag is a hit and touches nothing; a new ETag (the object was rewritten) is a miss.
// Data is written to a temporary file beside its place and renamed in; the entry is removed before
// the data changes and written after, so a crash between leaves no entry and the next run downloads.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { StorageError } from './errors.js';
import { checkRelative } from './location.js';
import { sameEtag } from './objects.js';

const ENTRIES = '.entries';

export const cacheEntry = z
  .object({
    bucket: z.string().min(1),
    key: z.string().min(1),
    etag: z.string(),
    size: z.number().int().min(0),
    sha256: z.string().regex(/^[a-f0-9]{64}$/),
    /** What the bytes were checked against: a published SHA-256, or only size and ETag. */
    verifiedBy: z.enum(['sha256', 'size+etag']),
    downloadedAt: z.string(),
  })
  .strict();
export type CacheEntry = z.infer<typeof cacheEntry>;

export interface CachePaths {
  data: string;
  entry: string;
}

export function cachePaths(cacheDir: string, bucket: string, key: string): CachePaths {
  const segments = checkRelative(key, { op: 'cache', bucket, key }).split('/');
  return { data: join(cacheDir, bucket, ...segments), entry: `${join(cacheDir, ENTRIES, bucket, ...segments)}.json` };
}

/** The entry for this object version when the cached file is there with its size; else undefined. */
export async function cacheLookup(
  cacheDir: string,
  want: { bucket: string; key: string; etag: string; size: number; sha256?: string },
): Promise<CacheEntry | undefined> {
  const paths = cachePaths(cacheDir, want.bucket, want.key);
  let entry: CacheEntry;
  try {
    const parsed = cacheEntry.safeParse(JSON.parse(await readFile(paths.entry, 'utf8')));
    if (!parsed.success) return undefined;
    entry = parsed.data;
  } catch {
    return undefined;
  }
  if (entry.bucket !== want.bucket || entry.key !== want.key || !sameEtag(entry.etag, want.etag) || entry.size !== want.size) return undefined;
  if (want.sha256 !== undefined && entry.sha256 !== want.sha256) return undefined;
  try {
    const st = await stat(paths.data);
    return st.isFile() && st.size === want.size ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** A fresh temporary path beside the object's place in the cache (same filesystem, so rename is atomic). */
export async function cacheTempPath(cacheDir: string, bucket: string, key: string): Promise<string> {
  const { data, entry } = cachePaths(cacheDir, bucket, key);
  try {
    await mkdir(dirname(data), { recursive: true });
    await mkdir(dirname(entry), { recursive: true });
  } catch (err) {
    throw new StorageError('Config', `cannot create the cache directory for it: ${(err as Error).message}`, { op: 'cache', bucket, key, cause: err });
  }
  // Drop the old entry first: from here on the cached file may be replaced.
  await rm(entry, { force: true });
  return `${data}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Moves a verified temporary file into place and records its entry; returns the data path. */
export async function cacheCommit(cacheDir: string, tmp: string, entry: CacheEntry): Promise<string> {
  const paths = cachePaths(cacheDir, entry.bucket, entry.key);
  await rename(tmp, paths.data);
  const entryTmp = `${paths.entry}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(entryTmp, `${JSON.stringify(entry)}\n`);
  await rename(entryTmp, paths.entry);
  return paths.data;
}

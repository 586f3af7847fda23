// manifest.json: the list of files under a prefix with their sizes and SHA-256 digests, and one
// digest of the whole set. A writer puts it LAST (after every file is in place) and deletes it FIRST
// when it rewrites a prefix, so readers take a prefix as finished only when its manifest is there and
// the objects match it: a half-written upload is never taken for a finished one.
//
// The set digest is SHA-256 over the files sorted by path (byte order), one line each:
// `<path>\t<size>\tsha256:<hex>\n`. It is what the trainer reports as the adapter's digest.
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { StorageError, s3Uri } from './errors.js';
import { hexToBase64, parseSha256, prefixedDigest, sha256Hex, toPrefixed } from './digest.js';
import { checkRelative, folderPrefix, relativeKey } from './location.js';
import { SHA256_METADATA, getSmallObject, headObject, listAll, send, type CallOptions, type ListedObject, type ObjectBytes } from './objects.js';

export const MANIFEST_NAME = 'manifest.json';
/** A manifest larger than this is refused unread. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const manifestFile = z
  .object({
    path: z.string().refine((p) => {
      try {
        checkRelative(p);
        return p !== MANIFEST_NAME;
      } catch {
        return false;
      }
    }, 'a safe relative path other than manifest.json'),
    size: z.number().int().min(0),
    sha256: prefixedDigest,
  })
  .strict();
export type ManifestFile = z.infer<typeof manifestFile>;

export const manifestSchema = z
  .object({
    apiVersion: z.literal('loraplane.io/v1alpha1'),
    kind: z.literal('StorageManifest'),
    files: z.array(manifestFile),
    totalBytes: z.number().int().min(0),
    digest: prefixedDigest,
    createdAt: z.string(),
  })
  .strict();
export type Manifest = z.infer<typeof manifestSchema>;

const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The digest of a set of files (see the header). */
export function setDigest(files: ReadonlyArray<ManifestFile>): string {
  const lines = [...files].sort(byPath).map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`);
  return toPrefixed(sha256Hex(lines.join('')));
}

/** A manifest for files given with hex or `sha256:` digests. */
export function buildManifest(files: ReadonlyArray<{ path: string; size: number; sha256: string }>, now: Date = new Date()): Manifest {
  const entries = files
    .map((f) => {
      const hex = parseSha256(f.sha256);
      if (hex === undefined) throw new StorageError('Config', `"${f.sha256}" is not a SHA-256 digest`, { path: f.path });
      return { path: checkRelative(f.path), size: f.size, sha256: toPrefixed(hex) };
    })
    .sort(byPath);
  const dup = entries.find((f, i) => i > 0 && entries[i - 1]?.path === f.path);
  if (dup !== undefined) throw new StorageError('Config', `"${dup.path}" appears twice`, { op: 'manifest' });
  return {
    apiVersion: 'loraplane.io/v1alpha1',
    kind: 'StorageManifest',
    files: entries,
    totalBytes: entries.reduce((n, f) => n + f.size, 0),
    digest: setDigest(entries),
    createdAt: now.toISOString(),
  };
}

/** Parses and checks a manifest's text: schema, unique paths, totals and set digest consistent. */
export function parseManifest(text: string, where: { bucket?: string; key?: string; path?: string } = {}): Manifest {
  const subject = { op: 'read manifest', ...where };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StorageError('Incomplete', `not JSON: ${(err as Error).message}`, { ...subject, cause: err });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new StorageError('Incomplete', `not a manifest: ${z.prettifyError(parsed.error)}`, subject);
  const m = parsed.data;
  const paths = new Set(m.files.map((f) => f.path));
  if (paths.size !== m.files.length) throw new StorageError('Incomplete', 'a path appears twice', subject);
  const total = m.files.reduce((n, f) => n + f.size, 0);
  if (total !== m.totalBytes) throw new StorageError('Incomplete', `totalBytes is ${m.totalBytes}, the files add up to ${total}`, subject);
  if (setDigest(m.files) !== m.digest) throw new StorageError('Incomplete', 'the set digest does not match its files', subject);
  return m;
}

/**
 * What is wrong with a prefix's objects against its manifest (empty: nothing): a file missing, a size
 * that differs, a file written after the manifest (LastModified later than the manifest's; S3 keeps
 * whole seconds, so the same second passes).
 */
export function checkAgainstListing(
  manifest: Manifest,
  objects: ReadonlyMap<string, Pick<ListedObject, 'size' | 'lastModified'>>,
  manifestModified?: Date,
): string[] {
  const problems: string[] = [];
  for (const f of manifest.files) {
    const o = objects.get(f.path);
    if (o === undefined) problems.push(`${f.path}: missing`);
    else if (o.size !== f.size) problems.push(`${f.path}: ${o.size} bytes, the manifest says ${f.size}`);
    else if (manifestModified !== undefined && o.lastModified !== undefined && o.lastModified.getTime() > manifestModified.getTime())
      problems.push(`${f.path}: written after the manifest`);
  }
  return problems;
}

export interface StoredManifest {
  manifest: Manifest;
  etag: string;
  lastModified?: Date;
}

/** The manifest under a prefix, checked; undefined when there is none. */
export async function readManifest(client: S3Client, bucket: string, prefix: string, opts: CallOptions = {}): Promise<StoredManifest | undefined> {
  const key = `${folderPrefix(prefix)}${MANIFEST_NAME}`;
  let out: ObjectBytes;
  try {
    out = await getSmallObject(client, bucket, key, { maxBytes: MAX_MANIFEST_BYTES, what: 'a manifest' }, opts);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'NoSuchKey') return undefined;
    throw err;
  }
  const manifest = parseManifest(Buffer.from(out.body).toString('utf8'), { bucket, key });
  return { manifest, etag: out.etag, ...(out.lastModified !== undefined ? { lastModified: out.lastModified } : {}) };
}

/** Puts manifest.json under the prefix (with its own SHA-256 in metadata and as the S3 checksum). */
export async function writeManifest(client: S3Client, bucket: string, prefix: string, manifest: Manifest, opts: CallOptions = {}): Promise<string> {
  const key = `${folderPrefix(prefix)}${MANIFEST_NAME}`;
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const hex = sha256Hex(body);
  const out = await send(
    { op: 'PutObject', bucket, key },
    (abortSignal) =>
      client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/json',
          ChecksumSHA256: hexToBase64(hex),
          Metadata: { [SHA256_METADATA]: hex },
        }),
        { abortSignal },
      ),
    opts,
  );
  return out.ETag ?? '';
}

/** Removes the manifest (idempotent): the prefix reads as incomplete from here on. */
export async function deleteManifest(client: S3Client, bucket: string, prefix: string, opts: CallOptions = {}): Promise<void> {
  const key = `${folderPrefix(prefix)}${MANIFEST_NAME}`;
  await send({ op: 'DeleteObject', bucket, key }, (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }), opts);
}

export type PrefixState =
  | { complete: true; uri: string; manifest: Manifest /** Objects under the prefix the manifest does not list. */; extra: string[] }
  | { complete: false; uri: string; reason: string; problems: string[]; manifest?: Manifest };

export interface InspectOptions extends CallOptions {
  /** Also HEAD every file and compare its x-amz-meta-sha256 with the manifest. Default true. */
  verifyMetadata?: boolean;
}

/** Is the prefix a finished artifact? Lists it, reads the manifest and checks the objects against it. */
export async function inspectPrefix(client: S3Client, bucket: string, prefix: string, opts: InspectOptions = {}): Promise<PrefixState> {
  const folder = folderPrefix(prefix);
  const uri = s3Uri(bucket, folder);
  const objects = new Map<string, ListedObject>();
  for (const o of await listAll(client, bucket, folder, opts)) {
    if (o.key.endsWith('/')) continue;
    const rel = relativeKey(folder, o.key, bucket);
    if (rel !== undefined) objects.set(rel, o);
  }
  const stored = objects.get(MANIFEST_NAME);
  if (stored === undefined) return { complete: false, uri, reason: `no ${MANIFEST_NAME}: the upload has not finished (or was interrupted)`, problems: [] };
  let found: StoredManifest | undefined;
  try {
    found = await readManifest(client, bucket, folder, opts);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'Incomplete') return { complete: false, uri, reason: err.message, problems: [] };
    throw err;
  }
  if (found === undefined) return { complete: false, uri, reason: `${MANIFEST_NAME} vanished while reading it`, problems: [] };
  const { manifest } = found;
  const problems = checkAgainstListing(manifest, objects, found.lastModified ?? stored.lastModified);
  if (problems.length === 0 && opts.verifyMetadata !== false) {
    for (const f of manifest.files) {
      const info = await headObject(client, bucket, `${folder}${f.path}`, opts);
      if (info.sha256 !== undefined && toPrefixed(info.sha256) !== f.sha256) problems.push(`${f.path}: its x-amz-meta-sha256 differs from the manifest`);
    }
  }
  if (problems.length > 0) return { complete: false, uri, reason: `the objects do not match ${MANIFEST_NAME}`, problems, manifest };
  const listed = new Set(manifest.files.map((f) => f.path));
  const extra = [...objects.keys()].filter((p) => p !== MANIFEST_NAME && !listed.has(p)).sort();
  return { complete: true, uri, manifest, extra };
}

/** The manifest of a finished prefix; a StorageError (Incomplete) naming the prefix and the problems otherwise. */
export async function requireComplete(client: S3Client, bucket: string, prefix: string, opts: InspectOptions = {}): Promise<Manifest> {
  const state = await inspectPrefix(client, bucket, prefix, opts);
  if (state.complete) return state.manifest;
  const detail = state.problems.length > 0 ? `${state.reason}: ${state.problems.join('; ')}` : state.reason;
  throw new StorageError('Incomplete', detail, { op: 'read', bucket, key: folderPrefix(prefix) });
}

// Checks a stored adapter against its manifest and the digest it must have: the prefix holds files
// and a manifest.json (written last by uploadDirectory), the manifest lists the weights and the
// config with the sizes the objects have, the weights hash to the manifest's digest and to the one
// expected (the FineTuneJob's result, or the digest pinned when the adapter was first verified), and
// adapter_config.json fits the spec. The weights are hashed again only when their ETag or size moved
// since the last hash: a period's check costs a listing, two small GETs and no re-read of the weights.
import type { S3Client } from '@aws-sdk/client-s3';
import { formatsOf } from '@loraplane/api/output-layout';
import { sha256Hex, toPrefixed } from '@loraplane/storage/digest';
import { StorageError, s3Uri } from '@loraplane/storage/errors';
import { folderPrefix } from '@loraplane/storage/location';
import { MANIFEST_NAME, readManifest } from '@loraplane/storage/manifest';
import { getSmallObject, hashObject, listAll, sameEtag, type CallOptions } from '@loraplane/storage/objects';
import { CONFIG_FILE, checkAdapterConfig } from './adapter-config.js';
import { failed, type Verdict } from './verdict.js';

export const WEIGHTS_FILE = 'adapter_model.safetensors';
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface Expectation {
  /** sha256:<hex> the weights must have, and where that figure comes from (for the message). */
  digest?: { value: string; from: string };
  /** The weights object as last hashed, with the digest it had then. */
  hashed?: { key: string; etag: string; size: number; digest: string };
}

/** Whether the weights must be read and hashed again: anything but the same object with the same digest. */
export function needsHash(listed: { key: string; etag: string; size: number }, manifestDigest: string, hashed: Expectation['hashed']): boolean {
  return !(hashed && hashed.key === listed.key && sameEtag(hashed.etag, listed.etag) && hashed.size === listed.size && hashed.digest === manifestDigest);
}

/**
 * The verdict for a storage error: a definite answer (missing bucket or object, rejected
 * credentials, a broken manifest) fails the check; anything that may pass on a retry asks for one.
 */
export function storageVerdict(err: StorageError): Verdict {
  switch (err.code) {
    case 'NoSuchBucket':
    case 'NoSuchKey':
      return failed('ArtifactMissing', err.message);
    case 'AccessDenied':
    case 'InvalidCredentials':
      return failed('CredentialsRejected', err.message);
    case 'Incomplete':
      return failed('ManifestInvalid', err.message);
    case 'IntegrityMismatch':
      return failed('DigestMismatch', err.message);
    case 'Transient':
      return { kind: 'retry', reason: 'StorageUnreachable', message: err.message };
    default:
      // PreconditionFailed (rewritten while hashed), Aborted, Config, Unknown: try again later.
      return { kind: 'retry', reason: 'StorageError', message: err.message };
  }
}

export async function verifyArtifact(
  client: S3Client,
  location: { bucket: string; prefix: string },
  baseModelName: string,
  expect: Expectation,
  opts: CallOptions = {},
): Promise<Verdict> {
  try {
    return await verify(client, location.bucket, folderPrefix(location.prefix), baseModelName, expect, opts);
  } catch (err) {
    if (err instanceof StorageError) return storageVerdict(err);
    throw err;
  }
}

async function verify(client: S3Client, bucket: string, folder: string, baseModelName: string, expect: Expectation, opts: CallOptions): Promise<Verdict> {
  const uri = s3Uri(bucket, folder);
  const listed = new Map((await listAll(client, bucket, folder, opts)).map((o) => [o.key, o]));
  if (listed.size === 0) return failed('ArtifactMissing', `no objects under ${uri}`);
  const stored = listed.has(`${folder}${MANIFEST_NAME}`) ? await readManifest(client, bucket, folder, opts) : undefined;
  if (stored === undefined) return failed('ManifestMissing', `no ${MANIFEST_NAME} under ${uri}: the upload has not finished, or the manifest was deleted`);
  const { manifest } = stored;

  for (const name of [WEIGHTS_FILE, CONFIG_FILE])
    if (!manifest.files.some((f) => f.path === name)) return failed('ArtifactMissing', `${MANIFEST_NAME} under ${uri} lists no ${name}`);
  for (const f of manifest.files) {
    const o = listed.get(`${folder}${f.path}`);
    if (o === undefined) return failed('ArtifactMissing', `${uri}${f.path} is missing (${MANIFEST_NAME} lists it)`);
    if (o.size !== f.size) return failed('DigestMismatch', `${uri}${f.path} has ${o.size} bytes, ${MANIFEST_NAME} says ${f.size}`);
  }

  const weights = manifest.files.find((f) => f.path === WEIGHTS_FILE)!;
  if (expect.digest && weights.sha256 !== expect.digest.value)
    return failed('DigestMismatch', `${MANIFEST_NAME} gives ${WEIGHTS_FILE} ${weights.sha256}, expected ${expect.digest.value} (${expect.digest.from})`);
  const object = listed.get(`${folder}${WEIGHTS_FILE}`)!;
  let hashedBytes = 0;
  if (needsHash(object, weights.sha256, expect.hashed)) {
    const hashed = await hashObject(client, bucket, object.key, object.etag, opts);
    hashedBytes = hashed.size;
    if (toPrefixed(hashed.sha256) !== weights.sha256)
      return failed('DigestMismatch', `${uri}${WEIGHTS_FILE} hashes to sha256:${hashed.sha256}, ${MANIFEST_NAME} says ${weights.sha256}`);
  }

  const configEntry = manifest.files.find((f) => f.path === CONFIG_FILE)!;
  const config = await getSmallObject(client, bucket, `${folder}${CONFIG_FILE}`, { maxBytes: MAX_CONFIG_BYTES, what: CONFIG_FILE }, opts);
  if (toPrefixed(sha256Hex(config.body)) !== configEntry.sha256)
    return failed('DigestMismatch', `${uri}${CONFIG_FILE} hashes to sha256:${sha256Hex(config.body)}, ${MANIFEST_NAME} says ${configEntry.sha256}`);
  const facts = checkAdapterConfig(Buffer.from(config.body).toString('utf8'), baseModelName);
  if ('kind' in facts) return facts;

  return {
    kind: 'verified',
    artifact: {
      uri,
      digest: weights.sha256,
      sizeBytes: weights.size,
      verifiedObject: { key: object.key, etag: object.etag, size: object.size },
      formats: formatsOf(manifest.files),
      ...facts,
      hashedBytes,
    },
  };
}

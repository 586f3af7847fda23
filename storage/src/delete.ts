// Deleting a folder prefix (a rotated-away checkpoint, say), or only the files a manifest lists (an
// adapter being reclaimed: nothing it did not write): the manifest goes first, so from that moment
// readers take the prefix as incomplete, and a delete cut short never leaves something that reads as
// finished; then the other objects.
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { StorageError } from './errors.js';
import { folderPrefix } from './location.js';
import { MANIFEST_NAME, deleteManifest, type Manifest } from './manifest.js';
import { listAll, send, type CallOptions } from './objects.js';
import { forEachLimit } from './pool.js';

export const DEFAULT_DELETE_CONCURRENCY = 4;

/** Deletes manifest.json, then every other object under the folder prefix. */
export async function deletePrefix(client: S3Client, bucket: string, prefix: string, opts: CallOptions & { concurrency?: number } = {}): Promise<void> {
  const folder = folderPrefix(prefix);
  // An empty prefix is the whole bucket: never what a caller deleting one artifact means.
  if (folder === '') throw new StorageError('Config', 'refusing to delete a whole bucket (empty prefix)', { op: 'delete', bucket });
  await deleteManifest(client, bucket, folder, opts);
  const keys = (await listAll(client, bucket, folder, opts)).map((o) => o.key).filter((k) => k !== `${folder}${MANIFEST_NAME}`);
  await deleteKeys(client, bucket, keys, opts);
}

/** Deletes manifest.json, then the files it lists under the folder prefix; any other object stays. */
export async function deleteManifestFiles(
  client: S3Client,
  bucket: string,
  prefix: string,
  manifest: Pick<Manifest, 'files'>,
  opts: CallOptions & { concurrency?: number } = {},
): Promise<void> {
  const folder = folderPrefix(prefix);
  await deleteManifest(client, bucket, folder, opts);
  await deleteKeys(
    client,
    bucket,
    manifest.files.map((f) => `${folder}${f.path}`),
    opts,
  );
}

async function deleteKeys(client: S3Client, bucket: string, keys: string[], opts: CallOptions & { concurrency?: number }): Promise<void> {
  await forEachLimit(
    keys,
    opts.concurrency ?? DEFAULT_DELETE_CONCURRENCY,
    async (key, _i, signal) => {
      await send({ op: 'DeleteObject', bucket, key }, (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }), {
        ...opts,
        signal,
      });
    },
    opts.signal,
  );
}

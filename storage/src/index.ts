// Storage for the trainer: sources from S3-compatible storage or a local/PVC path, parallel ranged
// downloads into a verified cache, resumable uploads with a manifest written last.
export { s3ClientFor, credentialsFromEnv, type Credentials, type S3ClientOptions } from './client.js';
export { StorageError, isTransient, s3Uri, type StorageErrorCode } from './errors.js';
export { resolveSource, folderPrefix, joinKey, relativeKey, type Source, type ResolveOptions } from './location.js';
export {
  downloadObject,
  downloadPrefix,
  type DownloadOptions,
  type DownloadedObject,
  type DownloadedPrefix,
} from './download.js';
export { deletePrefix } from './delete.js';
export { uploadFile, uploadDirectory, type UploadOptions, type UploadedObject, type UploadedDirectory } from './upload.js';
export {
  MANIFEST_NAME,
  buildManifest,
  inspectPrefix,
  readManifest,
  requireComplete,
  setDigest,
  manifestSchema,
  type Manifest,
  type PrefixState,
} from './manifest.js';
export { fetchSource, type FetchOptions, type Fetched } from './fetch.js';
export type { Progress, ProgressListener } from './progress.js';
export type { RetryOptions } from './retry.js';

// How a failed trainer exits (TRAINER_EXIT in the contract): permanent (3) when the same pod would fail
// the same way again, so the operator's podFailurePolicy fails the Job at once; stopped (143) when a
// storage transfer was cut short by SIGTERM (the only signal the trainer passes to storage); retryable
// (1) otherwise, and for anything not recognised.
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { StorageError, type StorageErrorCode } from '@loraplane/storage/errors';
import { DatasetError } from './data/errors.js';
import { ModelLoadError, TrainerConfigError, TrainingDivergedError } from './errors.js';

/** Storage failures no retry fixes: the location, the bucket, the object or the credentials are wrong. */
const PERMANENT_STORAGE = new Set<StorageErrorCode>(['Config', 'NoSuchBucket', 'NoSuchKey', 'AccessDenied', 'InvalidCredentials']);
/** Local errors that say the node is in trouble (another pod may not be), not the job. */
const NODE_ERRNO = new Set(['EIO', 'ENOSPC', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ENOMEM', 'ESTALE']);
/** A dataset file that cannot be read for one of these reasons is not there or not readable: permanent. */
const MISSING_FILE = /\b(?:ENOENT|ENOTDIR|EISDIR|EACCES|EPERM|ELOOP|ENAMETOOLONG)\b/;

const errnoOf = (err: unknown): string | undefined => {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
};

function storagePermanent(err: StorageError): boolean {
  // The SDK's default credential chain found nothing (say, a metadata endpoint not answering yet).
  if (err.code === 'InvalidCredentials') return err.s3Code !== 'CredentialsProviderError';
  // Config is also how a local file-system failure is reported (the cache directory...).
  if (err.code === 'Config') return !NODE_ERRNO.has(errnoOf(err.cause) ?? '');
  // Downloaded bytes that do not match the digest they were published with: each retry reads the
  // same stored bytes (a rewrite in between fails as PreconditionFailed, which stays retryable).
  if (err.code === 'IntegrityMismatch') return err.op === 'download';
  return PERMANENT_STORAGE.has(err.code);
}

/** Would a new pod running the same config fail the same way? */
export function isPermanentFailure(err: unknown): boolean {
  if (err instanceof TrainerConfigError || err instanceof TrainingDivergedError) return true;
  if (err instanceof ModelLoadError) return err.permanent;
  if (err instanceof DatasetError) return err.reason !== 'io' || MISSING_FILE.test(err.message);
  if (err instanceof StorageError) return storagePermanent(err);
  return false;
}

/** The exit code for a run that failed with err: TRAINER_EXIT.permanent, .stopped or .retryable. */
export function exitCodeFor(err: unknown): number {
  if (isPermanentFailure(err)) return TRAINER_EXIT.permanent;
  return err instanceof StorageError && err.code === 'Aborted' ? TRAINER_EXIT.stopped : TRAINER_EXIT.retryable;
}

// Typed storage errors: every failure names the object (s3://bucket/key or a local path), the
// operation and the cause, and says whether retrying could help.
import { S3ServiceException } from '@aws-sdk/client-s3';

export type StorageErrorCode =
  /** The bucket does not exist. */
  | 'NoSuchBucket'
  /** The object (or, for a prefix, any object) does not exist. */
  | 'NoSuchKey'
  /** The credentials are valid but not allowed to do this. */
  | 'AccessDenied'
  /** Unknown access key, wrong secret, expired token. */
  | 'InvalidCredentials'
  /** The object changed while it was being read (If-Match failed). */
  | 'PreconditionFailed'
  /** The bytes received do not match the digest or size they were published with. */
  | 'IntegrityMismatch'
  /** A prefix without a manifest, or whose objects do not match it: a write that did not finish. */
  | 'Incomplete'
  /** Network errors, timeouts, throttling and 5xx: worth retrying. */
  | 'Transient'
  /** The caller's AbortSignal fired. */
  | 'Aborted'
  /** Bad configuration: a missing credential env var, an unsafe path. */
  | 'Config'
  | 'Unknown';

export interface ErrorSubject {
  /** The operation, e.g. GetObject, ListObjectsV2, download. */
  op?: string;
  bucket?: string;
  key?: string;
  /** A local path, for errors about local files. */
  path?: string;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  readonly op: string | undefined;
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  readonly path: string | undefined;
  /** HTTP status of the response that failed, when there was one. */
  readonly status: number | undefined;
  /** The S3 error code as the server sent it (NoSuchKey, SignatureDoesNotMatch...). */
  readonly s3Code: string | undefined;

  constructor(code: StorageErrorCode, detail: string, subject: ErrorSubject & { cause?: unknown; status?: number; s3Code?: string } = {}) {
    super(`${describeSubject(subject)}${detail}`, subject.cause === undefined ? undefined : { cause: subject.cause });
    this.code = code;
    this.op = subject.op;
    this.bucket = subject.bucket;
    this.key = subject.key;
    this.path = subject.path;
    this.status = subject.status;
    this.s3Code = subject.s3Code;
  }

  get transient(): boolean {
    return this.code === 'Transient';
  }
}

/** `s3://bucket/key` (or `s3://bucket/` for a bucket-level request). */
export const s3Uri = (bucket: string, key = ''): string => `s3://${bucket}/${key}`;

function describeSubject(s: ErrorSubject): string {
  const where = s.bucket !== undefined ? s3Uri(s.bucket, s.key) : s.path;
  if (s.op !== undefined && where !== undefined) return `${s.op} ${where}: `;
  if (where !== undefined) return `${where}: `;
  return s.op !== undefined ? `${s.op}: ` : '';
}

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  // versitygw answers an unknown access key with 404 XAdminUserNotFound (AWS: 403 InvalidAccessKeyId).
  'XAdminUserNotFound',
  'CredentialsProviderError',
]);
const DENIED_CODES = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem']);
const TRANSIENT_CODES = new Set([
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeoutException',
]);
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function errno(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? errno(cause) : undefined;
}

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null ? (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode : undefined;

/** Is this (raw or already wrapped) error worth retrying? */
export function isTransient(err: unknown): boolean {
  if (err instanceof StorageError) return err.code === 'Transient';
  if (isAbort(err)) return false;
  const status = statusOf(err);
  const name = err instanceof Error ? err.name : undefined;
  if (name !== undefined && TRANSIENT_CODES.has(name)) return true;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  const code = errno(err);
  if (code !== undefined && TRANSIENT_ERRNO.has(code)) return true;
  // A response whose body ended early: the SDK or our length check says so in words.
  return err instanceof Error && /socket hang up|premature close|aborted|ended before/i.test(err.message) && status === undefined;
}

export const isAbort = (err: unknown): boolean =>
  (err instanceof StorageError && err.code === 'Aborted') ||
  (err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR'));

/**
 * Turns whatever an S3 call threw into a StorageError naming the subject. A HEAD response has no
 * body, so its errors arrive as a bare 403/404 (`NotFound`, `Unknown`): callers that need the real
 * code repeat the request as a GET (see explainHeadFailure in objects.ts).
 */
export function toStorageError(err: unknown, subject: ErrorSubject): StorageError {
  if (err instanceof StorageError) return err;
  if (isAbort(err)) return new StorageError('Aborted', 'aborted', { ...subject, cause: err });
  const status = statusOf(err);
  const s3Code = err instanceof S3ServiceException ? ((err as { Code?: string }).Code ?? err.name) : err instanceof Error ? err.name : undefined;
  const message = err instanceof Error ? err.message : String(err);
  const tag = [s3Code, status !== undefined ? `HTTP ${status}` : undefined].filter((x) => x !== undefined).join(', ');
  const because = (what: string) => `${what}${tag ? ` (${tag})` : ''}`;
  const opts = { ...subject, cause: err, status, s3Code };
  if (s3Code === 'NoSuchBucket') return new StorageError('NoSuchBucket', because(`bucket "${subject.bucket}" does not exist`), opts);
  if (s3Code === 'NoSuchKey' || (s3Code === 'NotFound' && subject.key !== undefined)) return new StorageError('NoSuchKey', because(`no such object`), opts);
  if (s3Code !== undefined && CREDENTIAL_CODES.has(s3Code))
    return new StorageError('InvalidCredentials', because(`the credentials were rejected: ${message}`), opts);
  if (s3Code !== undefined && DENIED_CODES.has(s3Code)) return new StorageError('AccessDenied', because('access denied'), opts);
  if (s3Code === 'PreconditionFailed' || status === 412)
    return new StorageError('PreconditionFailed', because('the object changed while it was being read'), opts);
  if (isTransient(err)) return new StorageError('Transient', because(message || 'transient failure'), opts);
  if (status === 403) return new StorageError('AccessDenied', because('access denied'), opts);
  return new StorageError('Unknown', because(message), opts);
}

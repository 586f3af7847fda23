import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { StorageError, isTransient, toStorageError } from './errors.js';

const s3Error = (name: string, status: number, message = name): S3ServiceException =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });

describe('toStorageError', () => {
  const subject = { op: 'GetObject', bucket: 'models', key: 'llama/config.json' };

  it.each([
    ['NoSuchBucket', 404, 'NoSuchBucket'],
    ['NoSuchKey', 404, 'NoSuchKey'],
    ['NotFound', 404, 'NoSuchKey'],
    ['AccessDenied', 403, 'AccessDenied'],
    ['SignatureDoesNotMatch', 403, 'InvalidCredentials'],
    ['InvalidAccessKeyId', 403, 'InvalidCredentials'],
    ['XAdminUserNotFound', 404, 'InvalidCredentials'],
    ['ExpiredToken', 400, 'InvalidCredentials'],
    ['PreconditionFailed', 412, 'PreconditionFailed'],
    ['SlowDown', 503, 'Transient'],
    ['InternalError', 500, 'Transient'],
    ['Whatever', 502, 'Transient'],
    ['Unknown', 403, 'AccessDenied'],
    ['InvalidArgument', 400, 'Unknown'],
  ] as const)('%s (HTTP %i) is %s', (name, status, code) => {
    const e = toStorageError(s3Error(name, status), subject);
    expect(e.code).toBe(code);
    expect(e.status).toBe(status);
    expect(e.bucket).toBe('models');
    expect(e.message.startsWith('GetObject s3://models/llama/config.json: ')).toBe(true);
    expect(e.message).toContain(`HTTP ${status}`);
    expect(e.transient).toBe(code === 'Transient');
  });

  it('names the missing bucket', () => {
    expect(toStorageError(s3Error('NoSuchBucket', 404), subject).message).toBe(
      'GetObject s3://models/llama/config.json: bucket "models" does not exist (NoSuchBucket, HTTP 404)',
    );
  });

  it('network errors are transient, aborts are not', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(toStorageError(reset, subject)).toMatchObject({ code: 'Transient' });
    const nested = new Error('request failed', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) });
    expect(isTransient(nested)).toBe(true);
    const abort = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    expect(isTransient(abort)).toBe(false);
    expect(toStorageError(abort, subject)).toMatchObject({ code: 'Aborted' });
    expect(isTransient(new Error('nope'))).toBe(false);
  });

  it('keeps an existing StorageError and its cause chain', () => {
    const e = new StorageError('Incomplete', 'no manifest', { bucket: 'b', key: 'p/' });
    expect(toStorageError(e, subject)).toBe(e);
    const raw = s3Error('NoSuchKey', 404);
    expect(toStorageError(raw, subject).cause).toBe(raw);
  });

  it('a local subject is named by path', () => {
    expect(new StorageError('Config', 'cannot read', { op: 'upload', path: '/scratch/out' }).message).toBe('upload /scratch/out: cannot read');
  });
});

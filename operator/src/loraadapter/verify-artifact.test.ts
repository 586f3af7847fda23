import { describe, expect, it } from 'vitest';
import { StorageError } from '@loraplane/storage/errors';
import { needsHash, storageVerdict } from './verify-artifact.js';

const DIGEST = `sha256:${'b'.repeat(64)}`;
const listed = { key: 'support/v1/adapter_model.safetensors', etag: '"abc"', size: 124360 };

describe('needsHash', () => {
  it('skips the re-read only for the same object (ETag, size) with the same digest as last hashed', () => {
    const hashed = { ...listed, etag: 'abc', digest: DIGEST };
    expect(needsHash(listed, DIGEST, hashed)).toBe(false);
    expect(needsHash({ ...listed, etag: '"def"' }, DIGEST, hashed)).toBe(true);
    expect(needsHash({ ...listed, size: 1 }, DIGEST, hashed)).toBe(true);
    expect(needsHash({ ...listed, key: 'other/adapter_model.safetensors' }, DIGEST, hashed)).toBe(true);
    expect(needsHash(listed, `sha256:${'c'.repeat(64)}`, hashed)).toBe(true);
    expect(needsHash(listed, DIGEST, undefined)).toBe(true);
  });
});

describe('storageVerdict', () => {
  const err = (code: ConstructorParameters<typeof StorageError>[0]) => new StorageError(code, 'x', { op: 'GetObject', bucket: 'b', key: 'k' });

  it('fails on definite answers: a missing bucket or object, refused credentials, a broken manifest', () => {
    expect(storageVerdict(err('NoSuchBucket'))).toMatchObject({ kind: 'failed', reason: 'ArtifactMissing', message: 'GetObject s3://b/k: x' });
    expect(storageVerdict(err('NoSuchKey'))).toMatchObject({ kind: 'failed', reason: 'ArtifactMissing' });
    expect(storageVerdict(err('InvalidCredentials'))).toMatchObject({ kind: 'failed', reason: 'CredentialsRejected' });
    expect(storageVerdict(err('AccessDenied'))).toMatchObject({ kind: 'failed', reason: 'CredentialsRejected' });
    expect(storageVerdict(err('Incomplete'))).toMatchObject({ kind: 'failed', reason: 'ManifestInvalid' });
  });

  it('asks for a retry when the storage may answer next time', () => {
    expect(storageVerdict(err('Transient'))).toMatchObject({ kind: 'retry', reason: 'StorageUnreachable' });
    for (const code of ['PreconditionFailed', 'Unknown', 'Aborted'] as const)
      expect(storageVerdict(err(code))).toMatchObject({ kind: 'retry', reason: 'StorageError' });
  });
});

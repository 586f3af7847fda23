import { describe, expect, it } from 'vitest';
import { credentialsFromSecret, loadCredentials } from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('credentialsFromSecret', () => {
  it("decodes the trainer contract's keys, session token included", () => {
    const secret = { data: { AWS_ACCESS_KEY_ID: b64('id'), AWS_SECRET_ACCESS_KEY: b64('secret'), AWS_SESSION_TOKEN: b64('token') } };
    expect(credentialsFromSecret(secret, 'team-a', 's3')).toEqual({ accessKeyId: 'id', secretAccessKey: 'secret', sessionToken: 'token' });
  });

  it('is CredentialsMissing for a Secret that is not there, or lacks a key (empty counts as missing)', () => {
    expect(credentialsFromSecret(undefined, 'team-a', 's3')).toEqual({
      kind: 'failed',
      reason: 'CredentialsMissing',
      message: "Secret team-a/s3 (the location's credentialsSecret) does not exist",
    });
    expect(credentialsFromSecret({ data: { AWS_ACCESS_KEY_ID: b64('id'), AWS_SECRET_ACCESS_KEY: '' } }, 'team-a', 's3')).toMatchObject({
      reason: 'CredentialsMissing',
      message: 'Secret team-a/s3 has no AWS_SECRET_ACCESS_KEY',
    });
    expect(credentialsFromSecret({}, 'team-a', 's3')).toMatchObject({ message: 'Secret team-a/s3 has no AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY' });
  });
});

describe('loadCredentials', () => {
  it('reads the Secret the location names in the given namespace; none named means no storage access at all', async () => {
    const asked: string[] = [];
    const readSecret = async (namespace: string, name: string) => {
      asked.push(`${namespace}/${name}`);
      return { data: { AWS_ACCESS_KEY_ID: b64('id'), AWS_SECRET_ACCESS_KEY: b64('s') } };
    };
    const location = { bucket: 'adapters', prefix: '', region: 'us-east-1', forcePathStyle: true };
    expect(await loadCredentials(readSecret, 'team-a', { ...location, credentialsSecret: { name: 's3' } })).toEqual({
      accessKeyId: 'id',
      secretAccessKey: 's',
    });
    expect(await loadCredentials(readSecret, 'team-a', location)).toEqual({
      kind: 'failed',
      reason: 'CredentialsRequired',
      message:
        'the location names no credentialsSecret: the operator reads and deletes stored adapters only with a Secret of namespace team-a, never with its own identity',
    });
    expect(asked).toEqual(['team-a/s3']);
  });
});

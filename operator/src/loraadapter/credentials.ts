// The S3 credentials of a location: the Secret its credentialsSecret names, in the adapter's
// namespace, with the keys the trainer contract defines (secretKey()). No Secret named: no storage
// access at all. The operator's own identity (workload identity in a real cluster) reaches every
// tenant's buckets, so it is never used for a tenant's location.
import type { V1Secret } from '@kubernetes/client-node';
import type { S3Location } from '@loraplane/api/common';
import { secretKey } from '@loraplane/api/trainer-contract';
import type { Credentials } from '@loraplane/storage/client';
import { failed, type Failure } from './verdict.js';

export type ReadSecret = (namespace: string, name: string) => Promise<V1Secret | undefined>;

const decode = (secret: V1Secret, key: string): string | undefined => {
  const b64 = secret.data?.[key];
  const value = b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  return value === '' ? undefined : value;
};

/** Credentials from a Secret's data, or CredentialsMissing naming the Secret or the keys it lacks. */
export function credentialsFromSecret(secret: V1Secret | undefined, namespace: string, name: string): Credentials | Failure {
  if (!secret) return failed('CredentialsMissing', `Secret ${namespace}/${name} (the location's credentialsSecret) does not exist`);
  const accessKeyId = decode(secret, secretKey('accessKeyId'));
  const secretAccessKey = decode(secret, secretKey('secretAccessKey'));
  const sessionToken = decode(secret, secretKey('sessionToken'));
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    const missing = [accessKeyId === undefined ? secretKey('accessKeyId') : '', secretAccessKey === undefined ? secretKey('secretAccessKey') : ''].filter(
      Boolean,
    );
    return failed('CredentialsMissing', `Secret ${namespace}/${name} has no ${missing.join(' or ')}`);
  }
  return sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
}

/** The namespace's credentials for the location, or the verdict that the operator may not or cannot read it. */
export async function loadCredentials(readSecret: ReadSecret, namespace: string, location: S3Location): Promise<Credentials | Failure> {
  const name = location.credentialsSecret?.name;
  if (name === undefined)
    return failed(
      'CredentialsRequired',
      `the location names no credentialsSecret: the operator reads and deletes stored adapters only with a Secret of namespace ${namespace}, never with its own identity`,
    );
  return credentialsFromSecret(await readSecret(namespace, name), namespace, name);
}

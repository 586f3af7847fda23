// An S3 client for one storage role (baseModel, dataset, output): endpoint, region and addressing
// from the FineTuneJob's s3 location, credentials from the env vars the operator fills from the
// user's Secret (credentialEnv in the trainer contract). Without them the SDK's default chain applies
// (workload identity, instance profile).
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '@loraplane/api/common';
import { credentialEnv, type StorageRole } from '@loraplane/api/trainer-contract';
import { StorageError } from './errors.js';
import type { Logger } from 'pino';
import type { LookupFunction } from 'node:net';

export interface S3ClientOptions {
  /** Where the credential env vars are read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** TCP connect timeout. Default 10 s. */
  connectionTimeoutMs?: number;
  /** Socket idle timeout: a response that sends nothing for this long fails (and is retried). Default 60 s. */
  requestTimeoutMs?: number;
  /** Sockets per client; at least the transfer concurrency. Default 64. */
  maxSockets?: number;
  /** Receives the SDK's own log lines at debug level; without it they are dropped (ours say more). */
  logger?: Logger;
  /** DNS lookup for the client's sockets (the operator's refuses link-local and metadata addresses). */
  lookup?: LookupFunction;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * The role's credentials from its env vars; undefined when neither key is set and the location names
 * no Secret (the SDK's default chain then applies). A Secret named but not (fully) in the env is a
 * configuration error: the pod spec and the location disagree.
 */
export function credentialsFromEnv(
  role: StorageRole,
  location: Pick<S3Location, 'bucket' | 'credentialsSecret'>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Credentials | undefined {
  const idVar = credentialEnv(role, 'accessKeyId');
  const secretVar = credentialEnv(role, 'secretAccessKey');
  const accessKeyId = nonEmpty(env[idVar]);
  const secretAccessKey = nonEmpty(env[secretVar]);
  const sessionToken = nonEmpty(env[credentialEnv(role, 'sessionToken')]);
  if (accessKeyId !== undefined && secretAccessKey !== undefined)
    return sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
  if (accessKeyId === undefined && secretAccessKey === undefined && location.credentialsSecret === undefined) return undefined;
  const missing = [accessKeyId === undefined ? idVar : undefined, secretAccessKey === undefined ? secretVar : undefined].filter(Boolean);
  const secret = location.credentialsSecret?.name;
  throw new StorageError(
    'Config',
    `${role} credentials: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set` +
      (secret !== undefined ? ` (the location names Secret "${secret}")` : ''),
    { op: 'credentials', bucket: location.bucket },
  );
}

/**
 * The S3 client for a role. Retries are ours (withRetry around every request and every ranged part,
 * which also covers a body that breaks mid-stream), so the SDK's own are off. Integrity is ours too:
 * uploads carry an explicit x-amz-checksum-sha256 and downloads are hashed whole, so the SDK adds no
 * checksums of its own (and does not try to validate ranged GETs).
 */
export function s3ClientFor(location: S3Location, role: StorageRole, opts: S3ClientOptions = {}): S3Client {
  return s3Client(location, credentialsFromEnv(role, location, opts.env), opts);
}

/**
 * The same client with explicit credentials (undefined: the SDK's default chain), for callers that
 * hold them rather than the role's env vars: the operator reads them from the user's Secret.
 */
export function s3Client(location: S3Location, credentials: Credentials | undefined, opts: Omit<S3ClientOptions, 'env'> = {}): S3Client {
  // Without a logger the SDK writes some warnings to the console ("An error was encountered in a
  // non-retryable streaming request."): the failure reaches us as an error, and we report it.
  const log = (...args: unknown[]): void => opts.logger?.debug({ sdk: args }, 'aws-sdk');
  return new S3Client({
    logger: { trace: log, debug: log, info: log, warn: log, error: log },
    region: location.region,
    forcePathStyle: location.forcePathStyle,
    ...(location.endpoint !== undefined ? { endpoint: location.endpoint } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
      requestTimeout: opts.requestTimeoutMs ?? 60_000,
      httpAgent: { keepAlive: true, maxSockets: opts.maxSockets ?? 64, ...(opts.lookup ? { lookup: opts.lookup } : {}) },
      httpsAgent: { keepAlive: true, maxSockets: opts.maxSockets ?? 64, ...(opts.lookup ? { lookup: opts.lookup } : {}) },
    },
  });
}

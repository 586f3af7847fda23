// Helpers the storage tests share: the versitygw that up.sh started (endpoint, root keys, its data
// directory and access log), clients built the way the trainer builds them (s3ClientFor + the role's
// credential env vars), fresh buckets, random files, and request counting.
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { S3Location } from '@loraplane/api/common';
import { credentialEnv, type StorageRole } from '@loraplane/api/trainer-contract';
import { s3ClientFor } from '@loraplane/storage/client';
import { clusterEnv } from '../cluster/cluster.js';

export const storageDir = (): string => process.env.LORAPLANE_STORAGE_DIR ?? '/tmp/loraplane-storage';

/** The `export K=V` lines of $DIR/env that up.sh writes (same format as the cluster's). */
export const storageEnv = (dir: string = storageDir()): Record<string, string> => clusterEnv(dir);

export interface TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The posix backend's root: <dataDir>/<bucket>/<key> is the object's file. */
  dataDir: string;
  accessLog: string;
}

export function server(): TestServer {
  // global-setup.ts puts these in process.env; the env file is read only where they are missing.
  let file: Record<string, string> | undefined;
  const get = (k: string): string => {
    let v = process.env[k];
    if (v === undefined) {
      file ??= storageEnv();
      v = file[k];
    }
    if (v === undefined || v === '') throw new Error(`${k} is not set: is the storage server up (test/storage/up.sh)?`);
    return v;
  };
  return {
    endpoint: get('LORAPLANE_S3_ENDPOINT'),
    region: get('LORAPLANE_S3_REGION'),
    accessKeyId: get('LORAPLANE_S3_ACCESS_KEY_ID'),
    secretAccessKey: get('LORAPLANE_S3_SECRET_ACCESS_KEY'),
    dataDir: get('LORAPLANE_S3_DATA_DIR'),
    accessLog: get('LORAPLANE_S3_ACCESS_LOG'),
  };
}

/** An s3Location as a FineTuneJob would carry it, pointing at the test server. */
export function location(bucket: string, prefix = ''): S3Location {
  const s = server();
  return { bucket, prefix, endpoint: s.endpoint, region: s.region, forcePathStyle: true, credentialsSecret: { name: 'storage-test' } };
}

/** The env vars the operator would set in the trainer pod for a role. */
export function roleEnv(role: StorageRole, creds: { accessKeyId: string; secretAccessKey: string } = server()): Record<string, string> {
  return { [credentialEnv(role, 'accessKeyId')]: creds.accessKeyId, [credentialEnv(role, 'secretAccessKey')]: creds.secretAccessKey };
}

/** A client built as the trainer builds it, with the role's credentials in its env. */
export function client(bucket = 'unused', role: StorageRole = 'output', creds?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return s3ClientFor(location(bucket), role, { env: roleEnv(role, creds) });
}

let seq = 0;
/** A new, empty bucket with a unique name. */
export async function freshBucket(c: S3Client, tag: string): Promise<string> {
  const name = `t-${tag}-${process.pid}-${Date.now().toString(36)}-${seq++}`.toLowerCase().slice(0, 63);
  await c.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Writes `size` random bytes to path in 1 MiB chunks; returns the hex SHA-256. */
export async function randomFile(path: string, size: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const chunk = randomBytes(Math.min(1024 * 1024, size - done));
      hash.update(chunk);
      await fh.write(chunk);
      done += chunk.length;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export interface RequestLog {
  /** Requests started, by command name (GetObjectCommand, UploadPartCommand...). */
  started: Map<string, number>;
  /** Requests that succeeded, in the order they completed. */
  completed: Array<{ command: string; key?: string; range?: string; partNumber?: number }>;
  count(command: string): number;
  reset(): void;
}

/** Counts every request the client sends (one per try: s3ClientFor turns the SDK's retries off). */
export function recordRequests(c: S3Client): RequestLog {
  const log: RequestLog = {
    started: new Map(),
    completed: [],
    count: (command) => log.started.get(command) ?? 0,
    reset: () => {
      log.started.clear();
      log.completed.length = 0;
    },
  };
  c.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '?';
      log.started.set(command, (log.started.get(command) ?? 0) + 1);
      const out = await next(args);
      const input = args.input as { Key?: string; Range?: string; PartNumber?: number };
      log.completed.push({
        command,
        ...(input.Key !== undefined ? { key: input.Key } : {}),
        ...(input.Range !== undefined ? { range: input.Range } : {}),
        ...(input.PartNumber !== undefined ? { partNumber: input.PartNumber } : {}),
      });
      return out;
    },
    { step: 'initialize', name: 'loraplaneTestRecorder' },
  );
  return log;
}

/** The gateway's access log lines for a bucket: operation (s3_PutObject...), key, HTTP status, in order. */
export function accessLog(bucket: string): Array<{ op: string; key: string; status: number }> {
  const out: Array<{ op: string; key: string; status: number }> = [];
  for (const line of readFileSync(server().accessLog, 'utf8').split('\n')) {
    // <owner> <bucket> [<time>] <ip> <requester> <request id> <operation> <key> <request-uri> <status> ...
    const m = /^\S+ (\S+) \[[^\]]*\] \S+ \S+ \S+ (\S+) (\S+) \S+ (\d{3}) /.exec(line);
    if (m === null || m[1] !== bucket) continue;
    out.push({ op: m[2] as string, key: m[3] as string, status: Number(m[4]) });
  }
  return out;
}

/**
 * Flips one byte of an object in the gateway's own file (bit rot): same size, same stored ETag and
 * metadata, other content. Only the posix backend allows this; it is why the tests use it.
 */
export async function corruptAtRest(bucket: string, key: string, offset: number): Promise<void> {
  const fh = await open(join(server().dataDir, bucket, key), 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b.writeUInt8(b.readUInt8(0) ^ 0xff, 0);
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

// What a resumable multipart upload remembers locally between tries: which upload (uploadId) holds
// the parts of which file version (size, SHA-256, part size). S3 can list an upload's parts but not
// the metadata it was created with, so this record is what lets a retry adopt the upload (and its
// x-amz-meta-sha256) instead of starting over. One small JSON file per bucket/key in the state dir.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sha256Hex } from './digest.js';

export const uploadState = z
  .object({
    bucket: z.string().min(1),
    key: z.string().min(1),
    uploadId: z.string().min(1),
    size: z.number().int().min(0),
    sha256: z.string().regex(/^[a-f0-9]{64}$/),
    partSize: z.number().int().min(1),
    createdAt: z.string(),
  })
  .strict();
export type UploadState = z.infer<typeof uploadState>;

export const uploadStatePath = (stateDir: string, bucket: string, key: string): string => join(stateDir, `${sha256Hex(`${bucket}\n${key}`)}.json`);

/** The record for bucket/key; undefined when there is none or it is unreadable (a fresh upload is then safe). */
export async function readUploadState(stateDir: string, bucket: string, key: string): Promise<UploadState | undefined> {
  try {
    const parsed = uploadState.safeParse(JSON.parse(await readFile(uploadStatePath(stateDir, bucket, key), 'utf8')));
    return parsed.success && parsed.data.bucket === bucket && parsed.data.key === key ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeUploadState(stateDir: string, state: UploadState): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const path = uploadStatePath(stateDir, state.bucket, state.key);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, `${JSON.stringify(state)}\n`);
  await rename(tmp, path);
}

export async function clearUploadState(stateDir: string, bucket: string, key: string): Promise<void> {
  await rm(uploadStatePath(stateDir, bucket, key), { force: true });
}

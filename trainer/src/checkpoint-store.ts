// Checkpoints in object storage, for a trainer whose scratch volume dies with its pod (a preempted
// pod comes back with a fresh emptyDir). Each complete local checkpoint (checkpoint.ts) is uploaded to
// <output prefix>/checkpoints/checkpoint-<step>/ with its manifest written last, so a checkpoint cut
// short by a kill never reads as finished; rotation deletes the rotated-away ones here too; and a
// trainer with no local checkpoint downloads the newest complete one and resumes from it.
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { deletePrefix } from '@loraplane/storage/delete';
import { downloadPrefix } from '@loraplane/storage/download';
import { s3Uri } from '@loraplane/storage/errors';
import { folderPrefix, joinKey } from '@loraplane/storage/location';
import { MANIFEST_NAME, inspectPrefix } from '@loraplane/storage/manifest';
import { listAll, type CallOptions } from '@loraplane/storage/objects';
import type { RetryOptions } from '@loraplane/storage/retry';
import { uploadDirectory } from '@loraplane/storage/upload';
import { checkpointName, checkpointStep, keptSteps, listCheckpoints, type Checkpoint } from './checkpoint.js';

/** A checkpoint as the result and the status report it. */
export interface StoredCheckpoint {
  step: number;
  uri: string;
}

export interface CheckpointStoreOptions {
  client: S3Client;
  bucket: string;
  /** The job's output prefix; checkpoints go under <prefix>/checkpoints/. */
  outputPrefix: string;
  /** Where resumable uploads are recorded (the scratch volume). */
  stateDir: string;
  log: Logger;
  /** Retries of every request (default: the storage layer's). */
  retry?: RetryOptions;
}

export class CheckpointStore {
  private readonly root: string;
  private readonly call: CallOptions;

  constructor(private readonly o: CheckpointStoreOptions) {
    this.root = folderPrefix(joinKey(o.outputPrefix, 'checkpoints'));
    this.call = o.retry !== undefined ? { retry: o.retry } : {};
  }

  private prefixOf(step: number): string {
    return `${this.root}${checkpointName(step)}/`;
  }

  uriOf(step: number): string {
    return s3Uri(this.o.bucket, this.prefixOf(step));
  }

  /** Checkpoint folders in storage, oldest first; `complete` when their manifest is there. */
  async list(): Promise<Array<{ step: number; complete: boolean }>> {
    const found = new Map<number, boolean>();
    for (const o of await listAll(this.o.client, this.o.bucket, this.root, this.call)) {
      const [name, ...rest] = o.key.slice(this.root.length).split('/');
      const step = checkpointStep(name ?? '');
      if (step === undefined) continue;
      found.set(step, (found.get(step) ?? false) || rest.join('/') === MANIFEST_NAME);
    }
    return [...found].map(([step, complete]) => ({ step, complete })).sort((a, b) => a.step - b.step);
  }

  /** Uploads a complete local checkpoint (manifest last). */
  async save(checkpoint: Checkpoint): Promise<StoredCheckpoint> {
    const { step } = checkpoint.state;
    const up = await uploadDirectory(this.o.client, this.o.bucket, this.prefixOf(step), checkpoint.dir, { ...this.call, stateDir: this.o.stateDir });
    return { step, uri: up.uri };
  }

  /**
   * Deletes what local rotation would: everything but the newest `limit` complete checkpoints and
   * `keepStep`. Unfinished uploads (no manifest) are never kept. Returns the deleted steps.
   */
  async rotate(limit: number, keepStep?: number): Promise<number[]> {
    const stored = await this.list();
    const keep = keptSteps(
      stored.filter((c) => c.complete).map((c) => c.step),
      limit,
      keepStep,
    );
    const gone = stored.filter((c) => !keep.has(c.step)).map((c) => c.step);
    for (const step of gone) await deletePrefix(this.o.client, this.o.bucket, this.prefixOf(step), this.call);
    return gone;
  }

  /**
   * Downloads one stored checkpoint into localRoot/checkpoint-<step>/. It is fetched (every file
   * checked against the manifest's SHA-256) into a staging folder and renamed into place whole, so
   * a download cut short never leaves a local checkpoint that looks complete.
   */
  async download(localRoot: string, step: number): Promise<void> {
    const staging = join(localRoot, '.download');
    await rm(staging, { recursive: true, force: true });
    await mkdir(localRoot, { recursive: true });
    try {
      const got = await downloadPrefix(this.o.client, this.o.bucket, this.prefixOf(step), { ...this.call, cacheDir: staging });
      await rm(join(got.dir, MANIFEST_NAME), { force: true });
      const target = join(localRoot, checkpointName(step));
      await rm(target, { recursive: true, force: true });
      await rename(got.dir, target);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /**
   * Brings the newest complete stored checkpoint into localRoot (and, with keepBest, the best one by
   * eval loss it names, so loadBestModelAtEnd still finds it). Returns it, or undefined when storage
   * holds none.
   */
  async restoreLatest(localRoot: string, opts: { keepBest: boolean }): Promise<StoredCheckpoint | undefined> {
    const complete = (await this.list()).filter((c) => c.complete).map((c) => c.step);
    for (const step of [...complete].reverse()) {
      // The bytes are checked against the manifest as they download; here the listing is checked
      // against it (every file there, none written after it).
      const state = await inspectPrefix(this.o.client, this.o.bucket, this.prefixOf(step), { ...this.call, verifyMetadata: false });
      if (!state.complete) {
        this.o.log.warn({ step, uri: state.uri, reason: state.reason, problems: state.problems }, 'skipping an incomplete checkpoint in storage');
        continue;
      }
      await this.download(localRoot, step);
      const bestStep = listCheckpoints(localRoot).find((c) => c.state.step === step)?.state.bestStep;
      if (opts.keepBest && bestStep !== undefined && bestStep !== step && complete.includes(bestStep)) await this.download(localRoot, bestStep);
      return { step, uri: this.uriOf(step) };
    }
    return undefined;
  }
}

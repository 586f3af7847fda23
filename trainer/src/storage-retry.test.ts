// The trainer's storage requests against an in-memory S3 that can go down: an outage shorter than the
// retry budget is ridden out (checkpoint save and restore, dataset fetch, each wait logged), a longer
// one fails as Transient (retryable exit), and a permanent error (a missing bucket) is not retried.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { StorageError } from '@loraplane/storage/errors';
import { fetchSource } from '@loraplane/storage/fetch';
import { resolveSource } from '@loraplane/storage/location';
import { withRetry } from '@loraplane/storage/retry';
import type { Checkpoint, CheckpointState } from './checkpoint.js';
import { CheckpointStore } from './checkpoint-store.js';
import { exitCodeFor } from './exit-code.js';
import { TRAINER_STORAGE_RETRY, storageCallOptions } from './storage-retry.js';

interface StoredObject {
  body: Buffer;
  etag: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

const s3Error = (name: string, status: number): Error => Object.assign(new Error(`${name} (fake)`), { name, $metadata: { httpStatusCode: status } });

/** Just enough S3 for the storage layer's listing, HEAD, ranged GET, PUT and DELETE, with a switch that refuses every connection. */
class FakeS3 {
  readonly objects = new Map<string, StoredObject>();
  readonly buckets = new Set<string>();
  requests = 0;
  refused = 0;
  private downUntil = 0;

  /** Refuses connections (ECONNREFUSED) for the next `ms` milliseconds. */
  outage(ms: number): void {
    this.downUntil = Date.now() + ms;
  }

  async send(command: { input: object }): Promise<unknown> {
    this.requests++;
    if (Date.now() < this.downUntil) {
      this.refused++;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    }
    const input = command.input as {
      Bucket: string;
      Key?: string;
      Prefix?: string;
      Range?: string;
      IfMatch?: string;
      Body?: unknown;
      Metadata?: Record<string, string>;
    };
    if (!this.buckets.has(input.Bucket)) throw s3Error('NoSuchBucket', 404);
    const id = `${input.Bucket}/${input.Key ?? ''}`;
    if (command instanceof ListObjectsV2Command) {
      const start = `${input.Bucket}/${input.Prefix ?? ''}`;
      const Contents = [...this.objects]
        .filter(([k]) => k.startsWith(start))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, o]) => ({ Key: k.slice(input.Bucket.length + 1), Size: o.body.length, ETag: o.etag, LastModified: o.lastModified }));
      return { Contents, IsTruncated: false };
    }
    if (command instanceof HeadObjectCommand) {
      const o = this.objects.get(id);
      if (o === undefined) throw s3Error('NotFound', 404);
      return { ContentLength: o.body.length, ETag: o.etag, Metadata: o.metadata, LastModified: o.lastModified };
    }
    if (command instanceof GetObjectCommand) {
      const o = this.objects.get(id);
      if (o === undefined) throw s3Error('NoSuchKey', 404);
      if (input.IfMatch !== undefined && input.IfMatch !== o.etag) throw s3Error('PreconditionFailed', 412);
      const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range ?? '');
      const [from, to] = m ? [Number(m[1]), Math.min(Number(m[2]), o.body.length - 1)] : [0, o.body.length - 1];
      const bytes = o.body.subarray(from, to + 1);
      const Body = Object.assign(Readable.from([bytes]), { transformToByteArray: async () => new Uint8Array(bytes) });
      return {
        Body,
        ContentLength: bytes.length,
        ETag: o.etag,
        LastModified: o.lastModified,
        ...(m ? { ContentRange: `bytes ${from}-${to}/${o.body.length}` } : {}),
      };
    }
    if (command instanceof PutObjectCommand) {
      const chunks: Buffer[] = [];
      const b = input.Body;
      if (b instanceof Readable) for await (const c of b) chunks.push(Buffer.from(c as Buffer));
      else chunks.push(Buffer.from(b as Uint8Array));
      const body = Buffer.concat(chunks);
      const etag = `"${createHash('md5').update(body).digest('hex')}"`;
      this.objects.set(id, { body, etag, metadata: input.Metadata ?? {}, lastModified: new Date() });
      return { ETag: etag };
    }
    if (command instanceof DeleteObjectCommand) {
      this.objects.delete(id);
      return {};
    }
    throw new Error(`the fake S3 does not do ${command.constructor.name}`);
  }

  destroy(): void {}

  get client(): S3Client {
    return this as unknown as S3Client;
  }
}

/** A logger that keeps its warnings. */
function capture() {
  const lines: Array<{ level: number; msg: string; delayMs?: number; err?: { message: string } }> = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

/** Short waits for the test: back-off from 5 ms, capped at 40 ms, 3 s per request. */
const FAST = { baseDelayMs: 5, maxDelayMs: 40, deadlineMs: 3_000 };

function localCheckpoint(root: string, state: CheckpointState): Checkpoint {
  const dir = join(root, `checkpoint-${state.step}`);
  mkdirSync(join(dir, 'adapter'), { recursive: true });
  writeFileSync(join(dir, 'adapter', 'adapter_model.safetensors'), Buffer.alloc(4096, state.step));
  writeFileSync(join(dir, 'optimizer.safetensors'), Buffer.alloc(8192, state.step + 1));
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  writeFileSync(join(dir, 'COMPLETE'), '');
  return { dir, adapterDir: join(dir, 'adapter'), optimizerPath: join(dir, 'optimizer.safetensors'), state };
}

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

describe('trainer storage retries', () => {
  afterEach(() => vi.useRealTimers());

  it('checkpoint save and restore and the dataset fetch ride out an outage shorter than the budget', async () => {
    const s3 = new FakeS3();
    s3.buckets.add('out');
    const { log, lines } = capture();
    const work = tmp('lp-retry-');
    const store = new CheckpointStore({
      client: s3.client,
      bucket: 'out',
      outputPrefix: 'job',
      stateDir: join(work, 'state'),
      log,
      ...storageCallOptions(log, FAST),
    });

    s3.outage(300);
    const saved = await store.save(localCheckpoint(join(work, 'local'), { step: 4, epoch: 0, microBatch: 8 }));
    expect(saved).toEqual({ step: 4, uri: 's3://out/job/checkpoints/checkpoint-4/' });
    expect(s3.refused).toBeGreaterThan(1);
    const waits = lines.filter((l) => l.level === 40);
    expect(waits.length).toBe(s3.refused);
    expect(waits[0]).toMatchObject({ err: { message: expect.stringMatching(/ECONNREFUSED/) }, delayMs: expect.any(Number) });
    expect(waits[0]!.msg).toMatch(/retrying in \d+\.\d s/);

    s3.outage(300);
    const restored = await store.restoreLatest(join(work, 'fresh'), { keepBest: false });
    expect(restored).toEqual({ step: 4, uri: 's3://out/job/checkpoints/checkpoint-4/' });
    expect(readFileSync(join(work, 'fresh/checkpoint-4/optimizer.safetensors'))).toEqual(Buffer.alloc(8192, 5));

    const rows = '{"text": "a"}\n{"text": "b"}\n';
    await s3.send(new PutObjectCommand({ Bucket: 'out', Key: 'data/train.jsonl', Body: Buffer.from(rows) }));
    s3.outage(300);
    const refusedBefore = s3.refused;
    const source = resolveSource('dataset', { s3: { bucket: 'out', prefix: 'data/', region: 'us-east-1', forcePathStyle: true } });
    const fetched = await fetchSource(source, { client: s3.client, cacheDir: join(work, 'cache'), ...storageCallOptions(log, FAST) });
    expect(s3.refused).toBeGreaterThan(refusedBefore);
    expect(readFileSync(join(fetched.path, 'train.jsonl'), 'utf8')).toBe(rows);
  });

  it('an outage longer than the budget fails as Transient, a retryable exit', async () => {
    const s3 = new FakeS3();
    s3.buckets.add('out');
    const { log } = capture();
    const store = new CheckpointStore({
      client: s3.client,
      bucket: 'out',
      outputPrefix: 'job',
      stateDir: tmp('lp-retry-s-'),
      log,
      ...storageCallOptions(log, { ...FAST, deadlineMs: 150 }),
    });
    s3.outage(60_000);
    const t0 = Date.now();
    const err = await store.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'Transient', op: 'ListObjectsV2', bucket: 'out' });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(s3.requests).toBeGreaterThan(1);
    expect(exitCodeFor(err)).toBe(TRAINER_EXIT.retryable);
  });

  it('a permanent error (no such bucket) is not retried and exits permanent', async () => {
    const s3 = new FakeS3();
    const { log, lines } = capture();
    const store = new CheckpointStore({
      client: s3.client,
      bucket: 'missing',
      outputPrefix: 'job',
      stateDir: tmp('lp-retry-p-'),
      log,
      ...storageCallOptions(log, FAST),
    });
    const err = await store.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NoSuchBucket', bucket: 'missing' });
    expect(s3.requests).toBe(1);
    expect(lines).toEqual([]);
    expect(exitCodeFor(err)).toBe(TRAINER_EXIT.permanent);
  });

  it('with the defaults a request retries for 5 minutes, waits capped at 30 s: a 4-minute outage passes, a 6-minute one does not', async () => {
    vi.useFakeTimers();
    const { log, lines } = capture();
    const { retry } = storageCallOptions(log);
    expect(retry).toMatchObject({ baseDelayMs: 1_000, maxDelayMs: 30_000, deadlineMs: 300_000 });
    const down = (ms: number) => {
      const until = Date.now() + ms;
      return async () => {
        if (Date.now() < until) throw new StorageError('Transient', 'connect ECONNREFUSED', { op: 'GetObject', bucket: 'b', key: 'k' });
        return 'ok';
      };
    };
    const short = withRetry(down(4 * 60_000), retry);
    await vi.advanceTimersByTimeAsync(4 * 60_000 + 31_000);
    await expect(short).resolves.toBe('ok');
    expect(Math.max(...lines.map((l) => l.delayMs ?? 0))).toBeLessThanOrEqual(30_000);

    const t0 = Date.now();
    const long = withRetry(down(6 * 60_000), retry).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(6 * 60_000);
    expect(await long).toMatchObject({ code: 'Transient' });
    // The last wait is cut to end at the deadline: the last try starts 5 minutes after the first.
    expect(Date.now() - t0).toBeLessThanOrEqual(6 * 60_000);
    expect(TRAINER_STORAGE_RETRY.deadlineMs).toBe(300_000);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAINER_EXIT, TRAINER_CONFIG_ENV } from '@loraplane/api/trainer-contract';
import { QLoraModel } from '@loraplane/native/runtime';
import { StorageError, toStorageError, type StorageErrorCode } from '@loraplane/storage/errors';
import { DatasetError } from './data/errors.js';
import { ModelLoadError, TrainerConfigError, TrainingDivergedError, modelLoadError } from './errors.js';
import { exitCodeFor } from './exit-code.js';
import { configFromEnv } from './job-config.js';
import { planTraining } from './plan.js';
import { fineTuneJobSpec } from '@loraplane/api/finetunejob';

const { permanent, retryable } = TRAINER_EXIT;
const storage = (code: StorageErrorCode, extra: { op?: string; cause?: unknown; s3Code?: string } = {}) =>
  new StorageError(code, 'x', { bucket: 'b', key: 'k', ...extra });
const loadError = async (dir: string, options = {}) =>
  QLoraModel.load(dir, options).then(
    () => undefined,
    (e: unknown) => modelLoadError(e, dir),
  );

describe('exitCodeFor', () => {
  it('is permanent for a config error', () => {
    expect(exitCodeFor(new TrainerConfigError('bad'))).toBe(permanent);
    const err = (() => {
      try {
        configFromEnv({ [TRAINER_CONFIG_ENV]: '{"kind": "nope"}' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TrainerConfigError);
    expect(exitCodeFor(err)).toBe(permanent);
  });

  it('is permanent for diverged training', () => {
    expect(exitCodeFor(new TrainingDivergedError(3, { loss: NaN, gradNorm: Infinity }))).toBe(permanent);
  });

  it('sorts storage errors by whether a retry can fix them', () => {
    for (const code of ['Config', 'NoSuchBucket', 'NoSuchKey', 'AccessDenied', 'InvalidCredentials'] as const)
      expect(exitCodeFor(storage(code)), code).toBe(permanent);
    for (const code of ['Transient', 'PreconditionFailed', 'Incomplete', 'Unknown'] as const) expect(exitCodeFor(storage(code)), code).toBe(retryable);
    // A fetch cut short by SIGTERM (the stop signal is the only one the trainer gives storage).
    expect(exitCodeFor(storage('Aborted'))).toBe(TRAINER_EXIT.stopped);
    // Bytes that contradict their published digest: the same bytes on every download; an upload may be raced.
    expect(exitCodeFor(storage('IntegrityMismatch', { op: 'download' }))).toBe(permanent);
    expect(exitCodeFor(storage('IntegrityMismatch', { op: 'upload' }))).toBe(retryable);
    // No credentials from the SDK's default chain (a metadata endpoint not up yet) may pass on a retry.
    expect(exitCodeFor(toStorageError(Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }), { op: 'GetObject' }))).toBe(
      retryable,
    );
    expect(exitCodeFor(toStorageError(Object.assign(new Error('bad key'), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }), {}))).toBe(
      permanent,
    );
    // A local file-system failure on this node reported as Config.
    expect(exitCodeFor(storage('Config', { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) }))).toBe(retryable);
    expect(exitCodeFor(storage('Config', { cause: Object.assign(new Error('denied'), { code: 'EACCES' }) }))).toBe(permanent);
  });

  it('is permanent for dataset errors, except an I/O error reading it', () => {
    expect(exitCodeFor(new DatasetError('format', 'cannot detect the dataset format'))).toBe(permanent);
    expect(exitCodeFor(new DatasetError('missing-field', 'no "messages"', { file: 'a.jsonl', line: 3 }))).toBe(permanent);
    expect(exitCodeFor(new DatasetError('io', 'cannot read the dataset at /d: ENOENT: no such file or directory'))).toBe(permanent);
    expect(exitCodeFor(new DatasetError('io', 'cannot read the dataset at /d: EIO: i/o error, read'))).toBe(retryable);
    const training = fineTuneJobSpec.shape.training.parse({ maxSteps: 1 });
    expect(() => planTraining(training, 0)).toThrow(DatasetError);
  });

  it('is permanent for a base model the runtime refuses, retryable for trouble on the machine', async () => {
    const missing = await loadError('/nonexistent/model');
    expect(missing).toBeInstanceOf(ModelLoadError);
    expect(missing!.message).toMatch(/does not exist or is not a directory/);
    expect(exitCodeFor(missing)).toBe(permanent);

    const dir = mkdtempSync(join(tmpdir(), 'lp-model-'));
    expect(exitCodeFor(await loadError(dir))).toBe(permanent); // no config.json
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'] }));
    const unsupported = await loadError(dir);
    expect(unsupported!.message).toMatch(/unsupported architecture GPT2LMHeadModel/);
    expect(exitCodeFor(unsupported)).toBe(permanent);
    // Options the runtime validates (zod) before loading.
    expect(exitCodeFor(await loadError(dir, { blockSize: 3 }))).toBe(permanent);

    const site = '(check `x` failed in load at /src/native/src/core/safetensors.cpp:173)';
    expect(exitCodeFor(modelLoadError(new Error(`cannot open safetensors file m.safetensors: Too many open files ${site}`), dir))).toBe(retryable);
    expect(
      exitCodeFor(
        modelLoadError(new Error('CUDA error cudaErrorMemoryAllocation: out of memory (check `c` failed in alloc at /src/native/src/cuda/backend.cu:80)'), dir),
      ),
    ).toBe(retryable);
    expect(exitCodeFor(modelLoadError(new Error('something else'), dir))).toBe(retryable);
  });

  it('is retryable for anything not recognised', () => {
    expect(exitCodeFor(new Error('boom'))).toBe(retryable);
    expect(exitCodeFor('a string')).toBe(retryable);
    expect(exitCodeFor(undefined)).toBe(retryable);
  });
});

import { describe, expect, it } from 'vitest';
import type { FineTuneJob } from '@loraplane/api/finetunejob';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import { resolveSource } from './source.js';
import { DIGEST, adapter } from './test-helpers.js';

const fromJob = adapter((a) => (a.spec.source = { fineTuneJob: { name: 'support-assistant' } }));
const job = (status: FineTuneJob['status']): FineTuneJob => ({ ...exampleFineTuneJob(), status });
const JOB_DIGEST = `sha256:${'c'.repeat(64)}`;

describe('resolveSource', () => {
  it('s3: the location itself, and once verified the pinned digest and hashed object', () => {
    const fresh = adapter();
    expect(resolveSource(fresh, undefined)).toEqual({ location: fresh.spec.source.s3, expect: {}, fields: {} });
    const verified = adapter((a) => (a.status = { digest: DIGEST, verifiedObject: { key: 'support/v1/adapter_model.safetensors', etag: '"e"', size: 9 } }));
    expect(resolveSource(verified, undefined)).toMatchObject({
      expect: {
        digest: { value: DIGEST, from: expect.stringContaining('pinned') },
        hashed: { key: 'support/v1/adapter_model.safetensors', etag: '"e"', size: 9, digest: DIGEST },
      },
    });
  });

  it('fineTuneJob: Pending with AwaitingFineTuneJob until the job ends', () => {
    expect(resolveSource(fromJob, job(undefined))).toEqual({
      kind: 'pending',
      reason: 'AwaitingFineTuneJob',
      message: 'FineTuneJob support-assistant is Pending',
    });
    expect(resolveSource(fromJob, job({ phase: 'Running' }))).toMatchObject({
      reason: 'AwaitingFineTuneJob',
      message: 'FineTuneJob support-assistant is Running',
    });
  });

  it('fineTuneJob: a failed or missing job fails the adapter', () => {
    expect(resolveSource(fromJob, job({ phase: 'Failed', message: 'trainer was OOMKilled' }))).toEqual({
      kind: 'failed',
      reason: 'FineTuneJobFailed',
      message: 'FineTuneJob support-assistant failed: trainer was OOMKilled',
    });
    expect(resolveSource(fromJob, undefined)).toMatchObject({ kind: 'failed', reason: 'FineTuneJobNotFound' });
  });

  it("fineTuneJob: once succeeded, the job's output location and reported digest, with provenance and metrics", () => {
    const done = job({ phase: 'Succeeded', result: { uri: 's3://adapters/support-assistant/v1/', digest: JOB_DIGEST, metrics: { trainLoss: 1.2 } } });
    const resolved = resolveSource(fromJob, done);
    expect(resolved).toEqual({
      location: done.spec.output.storage.s3,
      expect: { digest: { value: JOB_DIGEST, from: 'the result of FineTuneJob support-assistant' } },
      fields: {
        location: done.spec.output.storage.s3,
        provenance: { fineTuneJob: { name: 'support-assistant', uid: done.metadata.uid } },
        metrics: { trainLoss: 1.2 },
      },
    });
  });

  it('fineTuneJob: after the job is deleted, the kept location and the pinned digest', () => {
    const done = job({ phase: 'Succeeded', result: { digest: JOB_DIGEST } });
    const kept = adapter((a) => {
      a.spec.source = { fineTuneJob: { name: 'support-assistant' } };
      a.status = { digest: JOB_DIGEST, location: done.spec.output.storage.s3 };
    });
    expect(resolveSource(kept, undefined)).toMatchObject({ location: done.spec.output.storage.s3, expect: { digest: { value: JOB_DIGEST } }, fields: {} });
  });
});

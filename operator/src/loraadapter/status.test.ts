import { describe, expect, it } from 'vitest';
import type { LoraAdapterStatus } from '@loraplane/api/loraadapter';
import { changes, headline, msUntilDue, nextStatus } from './status.js';
import { DIGEST, adapter } from './test-helpers.js';
import type { Verdict } from './verdict.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:05:00.000Z';
const verified: Verdict = {
  kind: 'verified',
  artifact: {
    uri: 's3://adapters/support/v1/',
    digest: DIGEST,
    sizeBytes: 124360,
    verifiedObject: { key: 'support/v1/adapter_model.safetensors', etag: '"e"', size: 124360 },
    r: 16,
    alpha: 32,
    targetModules: ['q_proj', 'v_proj'],
    baseModel: 'meta-llama/Llama-3.2-3B-Instruct',
    formats: [
      { format: 'peft', files: [{ path: 'adapter_model.safetensors', sha256: DIGEST, size: 124360 }] },
      { format: 'gguf', files: [{ path: 'adapter.gguf', sha256: DIGEST, size: 125024 }] },
    ],
    hashedBytes: 124360,
  },
};
const missing: Verdict = { kind: 'failed', reason: 'ArtifactMissing', message: 's3://adapters/support/v1/adapter_model.safetensors is missing' };
const unreachable: Verdict = { kind: 'retry', reason: 'StorageUnreachable', message: 'ListObjectsV2 s3://adapters/support/v1/: connect ECONNREFUSED' };
const cond = (s: LoraAdapterStatus, type: string) => s.conditions?.find((c) => c.type === type);
const withStatus = (status: LoraAdapterStatus, generation = 1) =>
  adapter((a) => {
    a.metadata.generation = generation;
    a.status = status;
  });

describe('nextStatus', () => {
  it('verified: Ready with the artifact facts and verifiedAt; kstatus conditions at this generation', () => {
    const s = nextStatus(adapter(), verified, T0);
    expect(s).toMatchObject({
      phase: 'Ready',
      observedGeneration: 1,
      uri: 's3://adapters/support/v1/',
      digest: DIGEST,
      sizeBytes: 124360,
      r: 16,
      alpha: 32,
      targetModules: ['q_proj', 'v_proj'],
      baseModel: 'meta-llama/Llama-3.2-3B-Instruct',
      formats: verified.artifact.formats,
      verifiedAt: T0,
      verifiedObject: { key: 'support/v1/adapter_model.safetensors', etag: '"e"', size: 124360 },
    });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Verified', observedGeneration: 1, lastTransitionTime: T0 });
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'False' });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'False' });
  });

  it('failed: only phase and conditions change (the pinned digest and facts stay), Stalled with the reason', () => {
    const s = nextStatus(withStatus(nextStatus(adapter(), verified, T0)), missing, T1);
    expect(Object.keys(s).sort()).toEqual(['conditions', 'observedGeneration', 'phase']);
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ArtifactMissing', message: missing.message, lastTransitionTime: T1 });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'ArtifactMissing' });
  });

  it('pending: Reconciling with the reason', () => {
    const s = nextStatus(adapter(), { kind: 'pending', reason: 'AwaitingFineTuneJob', message: 'FineTuneJob j is Running' }, T0);
    expect(s.phase).toBe('Pending');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'AwaitingFineTuneJob' });
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'AwaitingFineTuneJob', message: 'FineTuneJob j is Running' });
  });

  it('retry: a Ready adapter stays Ready (same transition time); only Reconciling says the storage is unreachable', () => {
    const ready = nextStatus(adapter(), verified, T0);
    const s = nextStatus(withStatus(ready), unreachable, T1);
    expect(s.phase).toBe('Ready');
    expect(cond(s, 'Ready')).toEqual(cond(ready, 'Ready'));
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'StorageUnreachable', message: unreachable.message, lastTransitionTime: T1 });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'False' });
  });

  it('retry: a failed adapter stays failed with its reason; a never checked one is Pending', () => {
    const failed = nextStatus(adapter(), missing, T0);
    expect(nextStatus(withStatus(failed), unreachable, T1)).toMatchObject({ phase: 'Failed' });
    expect(cond(nextStatus(withStatus(failed), unreachable, T1), 'Ready')).toMatchObject({ reason: 'ArtifactMissing' });
    const first = nextStatus(adapter(), unreachable, T0);
    expect(first.phase).toBe('Pending');
    expect(cond(first, 'Ready')).toMatchObject({ status: 'False', reason: 'StorageUnreachable' });
  });
});

describe('msUntilDue', () => {
  const period = 300_000;
  const ready = nextStatus(adapter(), verified, T0);

  it('waits out the period after a good verification', () => {
    expect(msUntilDue(withStatus(ready), new Date('2026-01-01T00:01:00Z'), period)).toBe(240_000);
    expect(msUntilDue(withStatus(ready), new Date(T1), period)).toBe(0);
  });

  it('is due at once for a new generation, a never verified, failed or pending adapter, or one being retried', () => {
    const soon = new Date('2026-01-01T00:00:01Z');
    expect(msUntilDue(withStatus(ready, 2), soon, period)).toBe(0);
    expect(msUntilDue(adapter(), soon, period)).toBe(0);
    expect(msUntilDue(withStatus({ ...ready, ...nextStatus(withStatus(ready), missing, T0) }), soon, period)).toBe(0);
    expect(msUntilDue(withStatus({ ...ready, ...nextStatus(withStatus(ready), unreachable, T0) }), soon, period)).toBe(0);
  });
});

describe('headline', () => {
  it('is the phase with the reason that explains it; a retrying Ready adapter shows the retry reason', () => {
    const ready = nextStatus(adapter(), verified, T0);
    expect(headline(ready)).toEqual({ phase: 'Ready', reason: 'Verified' });
    expect(headline(nextStatus(withStatus(ready), missing, T1))).toEqual({ phase: 'Failed', reason: 'ArtifactMissing' });
    expect(headline({ ...ready, ...nextStatus(withStatus(ready), unreachable, T1) })).toEqual({ phase: 'Ready', reason: 'StorageUnreachable' });
    expect(headline(undefined)).toBeUndefined();
  });
});

describe('changes', () => {
  it('ignores key order (the API server sorts keys) and condition transition times', () => {
    const s = nextStatus(adapter(), missing, T0);
    const stored = JSON.parse(JSON.stringify({ ...s, conditions: s.conditions?.map((c) => Object.fromEntries(Object.entries(c).sort())) }));
    expect(changes(stored, nextStatus(withStatus(stored), missing, T1))).toBe(false);
    expect(changes(stored, nextStatus(withStatus(stored), verified, T1))).toBe(true);
  });

  it('compares only the fields it would write: those others own are not its business', () => {
    const prev = { ...nextStatus(adapter(), missing, T0), provenance: { fineTuneJob: { name: 'j', uid: 'u' } }, metrics: { trainLoss: 1 } };
    expect(changes(prev, nextStatus(withStatus(prev), missing, T1))).toBe(false);
  });
});

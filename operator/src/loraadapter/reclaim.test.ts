import { describe, expect, it } from 'vitest';
import { RECLAIM_FINALIZER, finalizerAction, finalizersAfter } from './reclaim.js';
import { adapter } from './test-helpers.js';

const with_ = (policy: 'Retain' | 'Delete', finalizers: string[], deleting = false) =>
  adapter((a) => {
    a.spec.reclaimPolicy = policy;
    a.metadata.finalizers = finalizers;
    if (deleting) a.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
  });

describe('finalizerAction', () => {
  it('Delete adds the finalizer and reclaims on deletion', () => {
    expect(finalizerAction(with_('Delete', []))).toBe('add');
    expect(finalizerAction(with_('Delete', [RECLAIM_FINALIZER]))).toBe('none');
    expect(finalizerAction(with_('Delete', [RECLAIM_FINALIZER], true))).toBe('reclaim');
  });

  it('Retain holds no finalizer: one left from an earlier Delete is released, without deleting', () => {
    expect(finalizerAction(with_('Retain', []))).toBe('none');
    expect(finalizerAction(with_('Retain', [RECLAIM_FINALIZER]))).toBe('release');
    expect(finalizerAction(with_('Retain', [RECLAIM_FINALIZER], true))).toBe('release');
    expect(finalizerAction(with_('Retain', ['other.io/keep'], true))).toBe('none');
  });
});

describe('finalizersAfter', () => {
  it("adds or removes only ours, keeping the others' in order", () => {
    expect(finalizersAfter(with_('Delete', ['a.io/x', 'b.io/y']), 'add')).toEqual(['a.io/x', 'b.io/y', RECLAIM_FINALIZER]);
    expect(finalizersAfter(with_('Delete', ['a.io/x', RECLAIM_FINALIZER, 'b.io/y'], true), 'reclaim')).toEqual(['a.io/x', 'b.io/y']);
  });
});

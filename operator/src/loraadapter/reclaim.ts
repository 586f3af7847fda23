// reclaimPolicy through a finalizer: Delete holds the adapter in deletion until the stored objects
// (the whole prefix, manifest first) are gone; Retain carries no finalizer and leaves them. A policy
// changed from Delete to Retain releases the finalizer without deleting anything.
import type { LoraAdapter } from '@loraplane/api/loraadapter';

export const RECLAIM_FINALIZER = 'loraplane.io/reclaim';

export type FinalizerAction = 'add' | 'release' | 'reclaim' | 'none';

export function finalizerAction(adapter: LoraAdapter): FinalizerAction {
  const held = adapter.metadata.finalizers?.includes(RECLAIM_FINALIZER) ?? false;
  const wantsDelete = adapter.spec.reclaimPolicy === 'Delete';
  if (adapter.metadata.deletionTimestamp) return held ? (wantsDelete ? 'reclaim' : 'release') : 'none';
  if (wantsDelete && !held) return 'add';
  if (!wantsDelete && held) return 'release';
  return 'none';
}

/** The finalizer list after the action (add or release); the others' finalizers are kept in order. */
export function finalizersAfter(adapter: LoraAdapter, action: 'add' | 'release' | 'reclaim'): string[] {
  const others = (adapter.metadata.finalizers ?? []).filter((f) => f !== RECLAIM_FINALIZER);
  return action === 'add' ? [...others, RECLAIM_FINALIZER] : others;
}

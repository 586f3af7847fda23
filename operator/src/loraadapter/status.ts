// Verdict → the status fields this reconciler owns, with kstatus conditions (Ready, Reconciling,
// Stalled). Fields others write (provenance, metrics of a published adapter) are left alone: the
// result is merged into the status, never put in its place. A retry verdict changes nothing but
// Reconciling: a storage hiccup never flips Ready.
import { isDeepStrictEqual } from 'node:util';
import type { AdapterReason, LoraAdapter, LoraAdapterStatus } from '@loraplane/api/loraadapter';
import { mergeConditions, type ConditionInput } from '../kube/conditions.js';
import type { Verdict } from './verdict.js';

const condition = (s: LoraAdapterStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

function conditionsFor(v: Verdict, prev: LoraAdapterStatus | undefined): ConditionInput[] {
  if (v.kind === 'verified') {
    const message = `verified ${v.artifact.uri}: ${v.artifact.digest}`;
    return [
      { type: 'Ready', status: 'True', reason: 'Verified', message },
      { type: 'Reconciling', status: 'False', reason: 'Verified', message: '' },
      { type: 'Stalled', status: 'False', reason: 'NotStalled', message: '' },
    ];
  }
  const reconciling: ConditionInput = { type: 'Reconciling', status: 'True', reason: v.reason, message: v.message };
  if (v.kind === 'pending')
    return [
      { type: 'Ready', status: 'False', reason: v.reason, message: v.message },
      reconciling,
      { type: 'Stalled', status: 'False', reason: 'NotStalled', message: '' },
    ];
  if (v.kind === 'failed')
    return [
      { type: 'Ready', status: 'False', reason: v.reason, message: v.message },
      { type: 'Reconciling', status: 'False', reason: v.reason, message: '' },
      { type: 'Stalled', status: 'True', reason: v.reason, message: v.message },
    ];
  const ready = condition(prev, 'Ready');
  const stalled = condition(prev, 'Stalled');
  return [
    ready
      ? { type: 'Ready', status: ready.status, reason: ready.reason, message: ready.message }
      : { type: 'Ready', status: 'False', reason: v.reason, message: v.message },
    reconciling,
    stalled
      ? { type: 'Stalled', status: stalled.status, reason: stalled.reason, message: stalled.message }
      : { type: 'Stalled', status: 'False', reason: 'NotStalled', message: '' },
  ];
}

function phaseFor(v: Verdict, prev: LoraAdapterStatus | undefined): LoraAdapterStatus['phase'] {
  if (v.kind === 'verified') return 'Ready';
  if (v.kind === 'failed') return 'Failed';
  return v.kind === 'retry' ? (prev?.phase ?? 'Pending') : 'Pending';
}

/** The fields to merge into status for this verdict, observed at `now`. */
export function nextStatus(adapter: LoraAdapter, v: Verdict, now: string): LoraAdapterStatus {
  const prev = adapter.status;
  const generation = adapter.metadata.generation;
  const status: LoraAdapterStatus = {
    phase: phaseFor(v, prev),
    observedGeneration: generation,
    conditions: mergeConditions(prev?.conditions, conditionsFor(v, prev), generation, now),
  };
  if (v.kind !== 'verified') return status;
  const a = v.artifact;
  return {
    ...status,
    uri: a.uri,
    digest: a.digest,
    sizeBytes: a.sizeBytes,
    r: a.r,
    alpha: a.alpha,
    targetModules: a.targetModules,
    baseModel: a.baseModel,
    formats: a.formats,
    verifiedAt: now,
    verifiedObject: a.verifiedObject,
  };
}

/** Milliseconds until the next verification is due; 0: now (spec changed, not Ready, retrying, or a period passed). */
export function msUntilDue(adapter: LoraAdapter, now: Date, periodMs: number): number {
  const s = adapter.status;
  if (!s?.verifiedAt || s.phase !== 'Ready' || s.observedGeneration !== adapter.metadata.generation) return 0;
  if (condition(s, 'Reconciling')?.status === 'True') return 0;
  return Math.max(0, Date.parse(s.verifiedAt) + periodMs - now.getTime());
}

/** What the status says in one line: the phase and the reason that explains it. */
export function headline(s: LoraAdapterStatus | undefined): { phase: string; reason: AdapterReason | string } | undefined {
  if (!s?.phase) return undefined;
  const reconciling = condition(s, 'Reconciling');
  // A Ready adapter whose re-check cannot reach the storage stays Ready; the reason says what is going on.
  const reason = s.phase === 'Ready' && reconciling?.status === 'True' ? reconciling.reason : (condition(s, 'Ready')?.reason ?? s.phase);
  return { phase: s.phase, reason };
}

/** Does merging `patch` change the status (condition transition times aside)? */
export function changes(prev: LoraAdapterStatus | undefined, patch: LoraAdapterStatus): boolean {
  const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const withoutTimes = (cs: LoraAdapterStatus['conditions']) => cs?.map(({ lastTransitionTime: _t, ...c }) => c);
  return Object.entries(patch).some(([k, v]) => {
    const before = (prev as Record<string, unknown> | undefined)?.[k];
    return k === 'conditions'
      ? !isDeepStrictEqual(plain(withoutTimes(prev?.conditions)), plain(withoutTimes(patch.conditions)))
      : !isDeepStrictEqual(plain(before), plain(v));
  });
}

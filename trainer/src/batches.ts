// Micro-batches in a reproducible order: each epoch shuffles the rows with (seed, epoch), so a resumed
// run that knows (epoch, micro-batch index) continues with exactly the batches it would have seen.
import type { Batch } from '@loraplane/native/runtime';
import { seededPermutation } from './data/split.js';

/** One training example (or packed row): ids, HF-style labels (-100 = no loss), optional restarting positions. */
export interface TokenizedRow {
  inputIds: ArrayLike<number>;
  labels: ArrayLike<number>;
  positionIds?: ArrayLike<number>;
}

export interface DataPosition {
  epoch: number;
  /** Micro-batches of this epoch already consumed. */
  microBatch: number;
}

/** The row order of one epoch: a permutation seeded by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return seededPermutation(n, seed * 1_000_003 + epoch);
}

/** Pads rows to the longest one: pad id for inputs, -100 for labels, positions continue. */
export function collate(rows: TokenizedRow[], padId: number): Batch {
  const T = Math.max(...rows.map((r) => r.inputIds.length));
  const pad = (xs: ArrayLike<number>, fill: (i: number) => number) => Array.from({ length: T }, (_, i) => (i < xs.length ? xs[i]! : fill(i)));
  return {
    inputIds: rows.map((r) => pad(r.inputIds, () => padId)),
    labels: rows.map((r) => pad(r.labels, () => -100)),
    positionIds: rows.map((r) => pad(r.positionIds ?? [], (i) => i)),
  };
}

export function microBatchesPerEpoch(rows: number, batchSize: number): number {
  return Math.ceil(rows / batchSize);
}

/** The micro-batch at a data position. */
export function microBatchAt(rows: TokenizedRow[], batchSize: number, seed: number, pos: DataPosition, padId: number): Batch {
  const order = epochOrder(rows.length, seed, pos.epoch);
  const picked = order.slice(pos.microBatch * batchSize, (pos.microBatch + 1) * batchSize).map((i) => rows[i]!);
  return collate(picked, padId);
}

export function advance(pos: DataPosition, perEpoch: number): DataPosition {
  return pos.microBatch + 1 >= perEpoch ? { epoch: pos.epoch + 1, microBatch: 0 } : { epoch: pos.epoch, microBatch: pos.microBatch + 1 };
}

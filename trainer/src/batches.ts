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

/** This process's place in a data-parallel group: rank r of worldSize takes the r-th slice of every global micro-batch. */
export interface Shard {
  rank: number;
  worldSize: number;
}
export const SINGLE_PROCESS: Shard = { rank: 0, worldSize: 1 };

/** Global micro-batches (batchSize rows on each of worldSize ranks) per epoch. */
export function microBatchesPerEpoch(rows: number, batchSize: number, worldSize = 1): number {
  return Math.ceil(rows / (batchSize * worldSize));
}

/**
 * This rank's rows of the global micro-batch at a data position: the same rows, in the same order, as one
 * process with worldSize x batchSize rows per micro-batch takes. Undefined when the epoch's last global
 * micro-batch leaves this rank no rows (the rank still joins the step, with nothing to add).
 */
export function microBatchAt(
  rows: TokenizedRow[],
  batchSize: number,
  seed: number,
  pos: DataPosition,
  padId: number,
  shard: Shard = SINGLE_PROCESS,
): Batch | undefined {
  const order = epochOrder(rows.length, seed, pos.epoch);
  const start = (pos.microBatch * shard.worldSize + shard.rank) * batchSize;
  const picked = order.slice(start, start + batchSize).map((i) => rows[i]!);
  return picked.length ? collate(picked, padId) : undefined;
}

export function advance(pos: DataPosition, perEpoch: number): DataPosition {
  return pos.microBatch + 1 >= perEpoch ? { epoch: pos.epoch + 1, microBatch: 0 } : { epoch: pos.epoch, microBatch: pos.microBatch + 1 };
}

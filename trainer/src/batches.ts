// Micro-batches in a reproducible order: each epoch shuffles the rows with (seed, epoch), so a resumed
// run that knows (epoch, micro-batch index) continues with exactly the batches it would have seen.
import type { Batch } from '../../native/lib/runtime.js';

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

/** mulberry32: small, fast, seeded; the order only has to be reproducible, not cryptographic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = rng(seed * 1_000_003 + epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
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

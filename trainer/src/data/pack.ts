// Training rows: one example per row, or examples packed into rows of maxSeqLength by best-fit
// decreasing (TRL's "bfd" with padding-free batches: position_ids restart at 0 for each document,
// no attention across documents, labels[position_ids == 0] = -100). Padding is the batcher's
// (padBatch): pad id on the right, label -100.
import { IGNORE_INDEX } from './tokenize.js';

export interface TokenSequence {
  inputIds: Int32Array;
  labels: Int32Array;
}

export interface TrainingRow {
  inputIds: Int32Array;
  labels: Int32Array;
  /** Position of each token within its document: restarts at 0 where a packed document starts. */
  positionIds: Int32Array;
  /** Lengths of the documents in the row, in order (cu_seqlens are their running sums). */
  seqLengths: number[];
}

/** One example, one row. */
export function toRow(example: TokenSequence): TrainingRow {
  const n = example.inputIds.length;
  return { inputIds: example.inputIds, labels: example.labels, positionIds: Int32Array.from({ length: n }, (_, i) => i), seqLengths: [n] };
}

/** Smallest leaf >= lo that holds a bin, over capacities 0..size-1 (a segment tree of counts). */
class CapacityTree {
  private readonly n: number;
  private readonly counts: Int32Array;

  constructor(size: number) {
    this.n = 1 << Math.ceil(Math.log2(Math.max(size, 2)));
    this.counts = new Int32Array(2 * this.n);
  }

  add(capacity: number, delta: number): void {
    for (let i = capacity + this.n; i >= 1; i >>= 1) this.counts[i]! += delta;
  }

  /** The smallest capacity >= lo with a bin, or -1. */
  firstAtLeast(lo: number): number {
    return this.search(1, 0, this.n - 1, lo);
  }

  private search(node: number, left: number, right: number, lo: number): number {
    if (right < lo || this.counts[node] === 0) return -1;
    if (left === right) return left;
    const mid = (left + right) >> 1;
    const found = this.search(2 * node, left, mid, lo);
    return found !== -1 ? found : this.search(2 * node + 1, mid + 1, right, lo);
  }
}

/**
 * Best-fit decreasing: examples by length, longest first (ties in input order); each goes into the
 * open row with the least room that still fits it (ties: the row that reached that room first), or
 * a new row. Returns, per row, the indices of its examples in placement order.
 */
export function bestFitDecreasing(lengths: readonly number[], capacity: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const bins: number[][] = [];
  const byRoom = new Map<number, number[]>(); // room left -> bins with that room, FIFO
  const tree = new CapacityTree(capacity + 1);
  for (const i of order) {
    const len = lengths[i]!;
    if (len > capacity) throw new Error(`an example of ${len} tokens does not fit in rows of ${capacity}: truncate before packing`);
    const room = tree.firstAtLeast(len);
    let bin: number;
    if (room === -1) {
      bin = bins.push([]) - 1;
    } else {
      const queue = byRoom.get(room)!;
      bin = queue.shift()!;
      tree.add(room, -1);
    }
    bins[bin]!.push(i);
    const left = (room === -1 ? capacity : room) - len;
    if (left > 0) {
      if (!byRoom.has(left)) byRoom.set(left, []);
      byRoom.get(left)!.push(bin);
      tree.add(left, 1);
    }
  }
  return bins;
}

/** Packs examples (each at most maxSeqLength tokens) into rows of at most maxSeqLength tokens. */
export function packBfd(examples: readonly TokenSequence[], maxSeqLength: number): TrainingRow[] {
  const bins = bestFitDecreasing(
    examples.map((e) => e.inputIds.length),
    maxSeqLength,
  );
  return bins.map((members) => {
    const total = members.reduce((n, i) => n + examples[i]!.inputIds.length, 0);
    const row: TrainingRow = { inputIds: new Int32Array(total), labels: new Int32Array(total), positionIds: new Int32Array(total), seqLengths: [] };
    let at = 0;
    for (const i of members) {
      const e = examples[i]!;
      const n = e.inputIds.length;
      row.inputIds.set(e.inputIds, at);
      row.labels.set(e.labels, at);
      for (let p = 0; p < n; p++) row.positionIds[at + p] = p;
      row.labels[at] = IGNORE_INDEX; // never predict a document's first token from the previous document
      row.seqLengths.push(n);
      at += n;
    }
    return row;
  });
}

/** Tokens in the rows over the room they take (rows × maxSeqLength). */
export function packingEfficiency(rows: readonly TrainingRow[], maxSeqLength: number): number {
  if (rows.length === 0) return 0;
  const tokens = rows.reduce((n, r) => n + r.inputIds.length, 0);
  return tokens / (rows.length * maxSeqLength);
}

export interface PaddedBatch {
  /** [batch][length] each, right-padded. */
  inputIds: Int32Array[];
  labels: Int32Array[];
  positionIds: Int32Array[];
  attentionMask: Uint8Array[];
  length: number;
}

/** Right-pads rows to the longest (or to `length`): pad id, label -100, attention 0, positions continuing. */
export function padBatch(rows: readonly TrainingRow[], padTokenId: number, length = Math.max(0, ...rows.map((r) => r.inputIds.length))): PaddedBatch {
  const batch: PaddedBatch = { inputIds: [], labels: [], positionIds: [], attentionMask: [], length };
  for (const r of rows) {
    const n = r.inputIds.length;
    if (n > length) throw new Error(`a row of ${n} tokens is longer than the batch length ${length}`);
    const ids = new Int32Array(length).fill(padTokenId);
    ids.set(r.inputIds);
    const labels = new Int32Array(length).fill(IGNORE_INDEX);
    labels.set(r.labels);
    const positions = new Int32Array(length);
    positions.set(r.positionIds);
    const last = n > 0 ? r.positionIds[n - 1]! : -1;
    for (let i = n; i < length; i++) positions[i] = last + 1 + (i - n);
    const mask = new Uint8Array(length);
    mask.fill(1, 0, n);
    batch.inputIds.push(ids);
    batch.labels.push(labels);
    batch.positionIds.push(positions);
    batch.attentionMask.push(mask);
  }
  return batch;
}

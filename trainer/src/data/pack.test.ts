import { describe, expect, it } from 'vitest';
import { bestFitDecreasing, packBfd, packingEfficiency, padBatch, toRow, type TokenSequence } from './pack.js';
import { IGNORE_INDEX } from './tokenize.js';

/** An example of n tokens whose ids are base, base+1, ...; labels = ids except the first two masked. */
function example(n: number, base: number): TokenSequence {
  const inputIds = Int32Array.from({ length: n }, (_, i) => base + i);
  const labels = inputIds.map((id, i) => (i < 2 ? IGNORE_INDEX : id));
  return { inputIds, labels };
}

describe('bestFitDecreasing', () => {
  it('places longest first, each into the row with the least room that fits', () => {
    // 9 → row A (room 1); 7 → row B (room 3); 4 → row C (room 6); 4 → C (room 2);
    // 2 → C, the best fit (room 2), where first-fit would pick B (room 3).
    expect(bestFitDecreasing([7, 4, 9, 4, 2], 10)).toEqual([[2], [0], [1, 3, 4]]);
  });

  it('breaks ties by input order and by which row reached the room first', () => {
    expect(bestFitDecreasing([3, 3, 3, 3, 2, 2], 5)).toEqual([[0, 4], [1, 5], [2], [3]]);
  });

  it('refuses an example longer than a row', () => {
    expect(() => bestFitDecreasing([11], 10)).toThrow('an example of 11 tokens does not fit in rows of 10: truncate before packing');
  });

  it('places every example once and never overfills (random lengths)', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const lengths = Array.from({ length: 500 }, () => 1 + Math.floor(rand() * 128));
    const bins = bestFitDecreasing(lengths, 128);
    expect(bins.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    for (const b of bins) expect(b.reduce((n, i) => n + lengths[i]!, 0)).toBeLessThanOrEqual(128);
    const total = lengths.reduce((a, b) => a + b, 0);
    expect(bins.length).toBeGreaterThanOrEqual(Math.ceil(total / 128));
    expect(total / (bins.length * 128)).toBeGreaterThan(0.95);
  });
});

describe('packBfd', () => {
  const examples = [example(7, 100), example(4, 200), example(9, 300), example(4, 400), example(2, 500)];
  const rows = packBfd(examples, 10);

  it('concatenates the documents of each row in placement order', () => {
    expect(rows.map((r) => r.seqLengths)).toEqual([[9], [7], [4, 4, 2]]);
    expect(Array.from(rows[2]!.inputIds)).toEqual([200, 201, 202, 203, 400, 401, 402, 403, 500, 501]);
  });

  it('restarts position ids at 0 for each document', () => {
    expect(Array.from(rows[2]!.positionIds)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    expect(Array.from(rows[0]!.positionIds)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('masks the label where a document starts (position 0) and keeps the others', () => {
    const r = rows[2]!;
    r.positionIds.forEach((p, i) => {
      if (p === 0) expect(r.labels[i]).toBe(IGNORE_INDEX);
    });
    expect(Array.from(r.labels)).toEqual([-100, -100, 202, 203, -100, -100, 402, 403, -100, -100]);
  });

  it('keeps rows within maxSeqLength and reports the efficiency', () => {
    for (const r of rows) expect(r.inputIds.length).toBeLessThanOrEqual(10);
    expect(packingEfficiency(rows, 10)).toBeCloseTo(26 / 30, 10);
    expect(packingEfficiency([], 10)).toBe(0);
  });
});

describe('toRow and padBatch', () => {
  it('one example, one row', () => {
    const r = toRow(example(5, 10));
    expect(Array.from(r.positionIds)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(r.labels)).toEqual([-100, -100, 12, 13, 14]);
    expect(r.seqLengths).toEqual([5]);
  });

  it('right-pads with the pad id, label -100 and attention 0', () => {
    const b = padBatch([toRow(example(3, 10)), toRow(example(5, 20))], 0);
    expect(b.length).toBe(5);
    expect(b.inputIds.map((a) => Array.from(a))).toEqual([
      [10, 11, 12, 0, 0],
      [20, 21, 22, 23, 24],
    ]);
    expect(Array.from(b.labels[0]!)).toEqual([-100, -100, 12, -100, -100]);
    expect(Array.from(b.attentionMask[0]!)).toEqual([1, 1, 1, 0, 0]);
    expect(Array.from(b.positionIds[0]!)).toEqual([0, 1, 2, 3, 4]);
    expect(() => padBatch([toRow(example(6, 0))], 0, 4)).toThrow('a row of 6 tokens is longer than the batch length 4');
  });
});

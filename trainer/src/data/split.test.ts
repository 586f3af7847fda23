import { describe, expect, it } from 'vitest';
import { mulberry32, seededPermutation, splitIndices, splitItems } from './split.js';

describe('splitIndices', () => {
  it('is deterministic: same seed, same split', () => {
    expect(splitIndices(100, 0.1, 42)).toEqual(splitIndices(100, 0.1, 42));
    expect(splitIndices(100, 0.1, 42).validation).not.toEqual(splitIndices(100, 0.1, 43).validation);
  });

  it('holds out ceil(n × fraction), disjoint from train, together all of 0..n-1, each ascending', () => {
    const { train, validation } = splitIndices(101, 0.1, 7);
    expect(validation).toHaveLength(11);
    expect(train).toHaveLength(90);
    expect([...train, ...validation].sort((a, b) => a - b)).toEqual(Array.from({ length: 101 }, (_, i) => i));
    expect(validation).toEqual([...validation].sort((a, b) => a - b));
    expect(train).toEqual([...train].sort((a, b) => a - b));
  });

  it('pins the split for a seed (a change here changes which rows users evaluate on)', () => {
    expect(seededPermutation(10, 42)).toEqual([0, 7, 3, 5, 2, 1, 8, 9, 4, 6]);
    expect(splitIndices(10, 0.2, 42)).toEqual({ validation: [0, 7], train: [1, 2, 3, 4, 5, 6, 8, 9] });
  });

  it('holds nothing out for fraction 0, and refuses to leave nothing to train on', () => {
    expect(splitIndices(3, 0, 1)).toEqual({ train: [0, 1, 2], validation: [] });
    expect(() => splitIndices(1, 0.1, 1)).toThrow('1 example(s) are too few to hold out 0.1 for validation and still train');
    expect(() => splitIndices(5, 1, 1)).toThrow(RangeError);
  });

  it('splits items the same way', () => {
    const items = 'abcdefghij'.split('');
    expect(splitItems(items, 0.2, 42)).toEqual({ validation: ['a', 'h'], train: ['b', 'c', 'd', 'e', 'f', 'g', 'i', 'j'] });
  });

  it('mulberry32 is uniform enough in [0, 1)', () => {
    const r = mulberry32(1);
    const xs = Array.from({ length: 10000 }, r);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(0.5, 1);
  });
});

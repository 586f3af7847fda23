import { describe, expect, it } from 'vitest';
import { MAX_PARTS, MIN_PART_SIZE, MiB, rangeHeader, splitParts, uploadPartSize } from './parts.js';

describe('splitParts', () => {
  it('covers the object with consecutive parts, the last one shorter', () => {
    expect(splitParts(10, 4)).toEqual([
      { number: 1, start: 0, end: 4, size: 4 },
      { number: 2, start: 4, end: 8, size: 4 },
      { number: 3, start: 8, end: 10, size: 2 },
    ]);
    expect(splitParts(8, 4)).toHaveLength(2);
    expect(splitParts(0, 4)).toEqual([]);
    expect(splitParts(3, 4)).toEqual([{ number: 1, start: 0, end: 3, size: 3 }]);
  });

  it('refuses nonsense sizes', () => {
    expect(() => splitParts(-1, 4)).toThrow(RangeError);
    expect(() => splitParts(10, 0)).toThrow(RangeError);
    expect(() => splitParts(1.5, 4)).toThrow(RangeError);
  });

  it('gives inclusive Range headers', () => {
    expect(rangeHeader({ start: 0, end: 8 * MiB })).toBe(`bytes=0-${8 * MiB - 1}`);
  });
});

describe('uploadPartSize', () => {
  it('is at least 5 MiB and keeps an upload within 10,000 parts', () => {
    expect(uploadPartSize(100, MiB)).toBe(MIN_PART_SIZE);
    expect(uploadPartSize(100 * MiB, 8 * MiB)).toBe(8 * MiB);
    const huge = 200 * 1024 * MiB; // 200 GiB
    const ps = uploadPartSize(huge, 8 * MiB);
    expect(Math.ceil(huge / ps)).toBeLessThanOrEqual(MAX_PARTS);
    expect(ps).toBe(32 * MiB);
  });
});

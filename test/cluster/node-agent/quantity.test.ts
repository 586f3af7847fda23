import { describe, expect, it } from 'vitest';
import { parseQuantity } from './quantity.js';

describe('parseQuantity', () => {
  it('reads binary, decimal and milli suffixes and exponents', () => {
    expect(parseQuantity('128Mi')).toBe(128 * 2 ** 20);
    expect(parseQuantity('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseQuantity('2G')).toBe(2e9);
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('1e3')).toBe(1000);
  });
  it('rejects what is not a quantity', () => {
    expect(() => parseQuantity('12 apples')).toThrow('invalid quantity');
  });
});

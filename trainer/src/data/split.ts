// A seeded, deterministic train/validation split: a Fisher-Yates permutation from a seeded PRNG,
// the first ceil(n × fraction) indices held out (the shape of datasets' train_test_split); each
// split keeps file order. Same seed, same n, same fraction: same split.

/** mulberry32: a small 32-bit PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededPermutation(n: number, seed: number): number[] {
  const random = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

export interface SplitIndices {
  train: number[];
  validation: number[];
}

/** Indices 0..n-1 split into train and validation, each ascending. */
export function splitIndices(n: number, validationFraction: number, seed: number): SplitIndices {
  if (!(validationFraction >= 0 && validationFraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${validationFraction}`);
  const held = validationFraction === 0 ? 0 : Math.ceil(n * validationFraction);
  if (held > 0 && held >= n) throw new RangeError(`${n} example(s) are too few to hold out ${validationFraction} for validation and still train`);
  const p = seededPermutation(n, seed);
  const asc = (a: number, b: number) => a - b;
  return { validation: p.slice(0, held).sort(asc), train: p.slice(held).sort(asc) };
}

/** The items of each split. */
export function splitItems<T>(items: readonly T[], validationFraction: number, seed: number): { train: T[]; validation: T[] } {
  const { train, validation } = splitIndices(items.length, validationFraction, seed);
  return { train: train.map((i) => items[i]!), validation: validation.map((i) => items[i]!) };
}

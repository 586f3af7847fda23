// Reads the reference goldens (test/reference/goldens) for the binding's tests: safetensors and inputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const GOLDENS = join(import.meta.dirname, '../../test/reference/goldens');

/** float32 tensors of a safetensors file by name (other dtypes are skipped). */
export function readF32Safetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLen;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const bytes = buf.subarray(base + t.data_offsets[0], base + t.data_offsets[1]);
    out.set(name, { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) });
  }
  return out;
}

export interface GoldenInputs {
  input_ids: number[][];
  labels: number[][];
}

export const readInputs = (goldenCase: string): GoldenInputs => JSON.parse(readFileSync(join(GOLDENS, goldenCase, 'inputs.json'), 'utf8')) as GoldenInputs;

/** max |a - b| / max |b|: the relative error the parity tests use. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** relativeError over every float32 tensor of two safetensors files (the same names in both), taken as one vector. */
export function safetensorsRelativeError(a: string, b: string): number {
  const [x, y] = [readF32Safetensors(a), readF32Safetensors(b)];
  const names = [...x.keys()].sort();
  if (names.join() !== [...y.keys()].sort().join()) throw new Error(`${a} and ${b} hold different tensors`);
  const flat = (m: typeof x) => Float32Array.from(names.flatMap((n) => Array.from(m.get(n)!.data)));
  return relativeError(flat(x), flat(y));
}

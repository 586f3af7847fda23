// Shared by the data tests: fixture paths and temporary dataset files.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadModelTokenizer } from './model-tokenizer.js';

export const DATASETS = join(import.meta.dirname, '../../../test/fixtures/datasets');
export const TOKENIZER = join(import.meta.dirname, '../../../test/fixtures/tokenizer');
/** The fixture tokenizer as data preparation takes a base model's. */
export const BASE_TOKENIZER = loadModelTokenizer(TOKENIZER);

/** Writes files (name → content) into a fresh temporary folder; returns the folder. */
export function tempDataset(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'loraplane-data-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Collects an async generator. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

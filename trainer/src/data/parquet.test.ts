import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { plainValue, readParquet } from './parquet.js';
import { prepareDataset } from './prepare.js';
import { readRows } from './read.js';
import { BASE_TOKENIZER, DATASETS, collect, tempDataset } from './test-helpers.js';

// The fixtures are written by pyarrow (scripts/make-parquet-fixture.py).
const MESSAGES = join(DATASETS, 'parquet/messages.parquet');
const MALFORMED = join(DATASETS, 'malformed/rows.parquet');
// 4 alpaca rows: row 2's output is 16 MiB + 1 byte, row 3's instruction holds the byte 0xE9 (not
// UTF-8); a plain binary column `meta` (no string annotation) holds "\x89PNG", "", null, "plain".
const LIMITS = join(DATASETS, 'malformed/limits.parquet');

describe('readParquet', () => {
  it('reads every row group in order, numbering rows from 1 across the file', async () => {
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(MESSAGES));
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([4, 4, 2]);
    const items = await collect(readParquet(MESSAGES));
    expect(items.map((i) => `${i.at.file}:${i.at.line}`)).toEqual(Array.from({ length: 10 }, (_, i) => `messages.parquet:${i + 1}`));
    expect(items[5]).toMatchObject({
      value: {
        id: 6,
        messages: [
          { role: 'system', content: 'You are a customer support agent. Be concise.' },
          { role: 'user', content: 'Where is my order number 1006?' },
          { role: 'assistant', content: 'Order 1006 ships in 3 days.' },
        ],
      },
    });
  });

  it('reads zstd and gzip files, a null field being one the row does not have', async () => {
    const rows = await collect(readRows(join(DATASETS, 'parquet/alpaca.parquet')));
    expect(rows[1]).toEqual({ at: { file: 'alpaca.parquet', line: 2 }, value: { instruction: 'What is the capital of France?', output: 'Paris.' } });
    const malformed = await collect(readParquet(MALFORMED));
    expect(malformed[2]).toEqual({ at: { file: 'rows.parquet', line: 3 }, value: { instruction: 'Translate to French.', input: 'Good morning.' } });
  });

  it('turns int64 into numbers (strings beyond 2^53) and keeps nulls inside lists', () => {
    expect(plainValue({ a: 7n, b: 2n ** 60n, c: [null, { d: null, e: 'x' }] })).toEqual({ a: 7, b: '1152921504606846976', c: [null, { e: 'x' }] });
  });

  it('refuses a file that is not Parquet as a whole, naming it', async () => {
    const dir = tempDataset({});
    writeFileSync(join(dir, 'train.parquet'), '{"text": "not parquet"}\n');
    const err = await collect(readParquet(join(dir, 'train.parquet'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toMatch(/^train\.parquet: not a readable Parquet file: /);
    expect((err as DatasetError).skippable).toBe(false);
  });
});

describe('Parquet rows over MAX_ROW_BYTES or not UTF-8', () => {
  it('are row errors at their row number; the other rows are read, plain binary values as text where they are UTF-8', async () => {
    const items = await collect(readParquet(LIMITS));
    expect(items.map((i) => ('error' in i ? [i.error.message, i.error.reason, i.error.skippable] : i.value))).toEqual([
      { instruction: 'Say hi.', output: 'Hi.', meta: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) },
      ['limits.parquet:2: row too long: more than 16 MiB in one row (the limit for one row)', 'row-too-long', true],
      ['limits.parquet:3: invalid UTF-8 in "instruction": byte 0xE9 at byte 4 of the value', 'invalid-utf8', true],
      { instruction: 'Say bye.', output: 'Bye.', meta: 'plain' },
    ]);
  });
});

describe('a Parquet dataset through the pipeline', () => {
  const spec = (skipInvalidRows: boolean) => ({
    dataset: { format: 'auto' as const, validationSplit: 0, seed: 42, skipInvalidRows },
    training: { maxSeqLength: 512, packing: false, loss: 'assistant' as const },
  });

  it('stops at a malformed row with its row number', async () => {
    await expect(prepareDataset({ dataset: MALFORMED, tokenizer: BASE_TOKENIZER, spec: spec(false) })).rejects.toThrow(
      'rows.parquet:3: missing field "output"',
    );
  });

  it('skips malformed rows when allowed, counting them by reason', async () => {
    const skipped: string[] = [];
    const r = await prepareDataset({ dataset: MALFORMED, tokenizer: BASE_TOKENIZER, spec: spec(true), onSkip: (e) => skipped.push(e.message) });
    expect(skipped).toEqual(['rows.parquet:3: missing field "output"', 'rows.parquet:5: empty field "instruction"']);
    expect(r.stats).toMatchObject({
      format: 'alpaca',
      rowsRead: 6,
      examples: { train: 4 },
      skipped: { total: 2, byReason: { 'missing-field': 1, 'empty-content': 1 } },
    });
  });
});

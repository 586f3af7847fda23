import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { listDatasetFiles, readJsonArray, readJsonl, readRows, type ReadItem } from './read.js';
import { DATASETS, collect, tempDataset } from './test-helpers.js';

const lines = (items: ReadItem[]) => items.map((i) => `${i.at.file}:${i.at.line}`);
const errors = (items: ReadItem[]) => items.flatMap((i) => ('error' in i ? [i.error.message] : []));

describe('readJsonl', () => {
  it('yields one row per non-blank line with its line number', async () => {
    const items = await collect(readJsonl(join(DATASETS, 'messages.jsonl')));
    expect(lines(items)).toEqual(['messages.jsonl:1', 'messages.jsonl:2', 'messages.jsonl:4']);
    expect(items[2]).toMatchObject({ value: { id: 'c3' } });
  });

  it('yields a JSON syntax error as an item at file:line and goes on', async () => {
    const items = await collect(readJsonl(join(DATASETS, 'malformed/mixed.jsonl')));
    expect(items).toHaveLength(9);
    expect(errors(items)).toEqual(["mixed.jsonl:3: invalid JSON: Expected ',' or ']' after array element (column 92)"]);
  });

  it('strips a BOM and handles CRLF', async () => {
    const dir = tempDataset({ 'a.jsonl': '\uFEFF{"text": "a"}\r\n\r\n{"text": "b"}\r\n' });
    const items = await collect(readJsonl(join(dir, 'a.jsonl')));
    expect(items.map((i) => ('value' in i ? i.value : i.error))).toEqual([{ text: 'a' }, { text: 'b' }]);
    expect(lines(items)).toEqual(['a.jsonl:1', 'a.jsonl:3']);
  });
});

describe('readJsonArray', () => {
  it('gives each element the line it starts on', async () => {
    const items = await collect(readJsonArray(join(DATASETS, 'alpaca.json')));
    expect(lines(items)).toEqual(['alpaca.json:2', 'alpaca.json:7', 'alpaca.json:12']);
    expect(items[1]).toMatchObject({ value: { instruction: 'What is the capital of France?', input: '' } });
  });

  it('reports a bad element at the line of the error and reads on', async () => {
    const items = await collect(readJsonArray(join(DATASETS, 'malformed/bad-element.json')));
    expect(lines(items)).toEqual(['bad-element.json:2', 'bad-element.json:5', 'bad-element.json:7']);
    expect(errors(items)).toEqual(["bad-element.json:5: invalid JSON: Expected ',' or '}' after property value (column 5)"]);
  });

  it('throws on an array that is never closed', async () => {
    await expect(collect(readJsonArray(join(DATASETS, 'malformed/unclosed.json')))).rejects.toThrow(
      'unclosed.json:4: unexpected end of file: the JSON array opened on line 1 is not closed',
    );
  });

  it.each([
    ['{"text": "a"}', 'x.json:1: expected a JSON array of rows, got an object; use .jsonl for one row per line'],
    ['[{"text": "a"},\n]', 'x.json:2: unexpected "]" in the JSON array: a missing or extra comma?'],
    ['[{"text": "a"}\n {"text": "b"}]', 'x.json:2: expected "," or "]" after the row that starts on line 1, got "{"'],
    ['[{"text": "a"}] x', 'x.json:1: unexpected "x" after the end of the JSON array'],
    ['', 'x.json:1: empty file: expected a JSON array of rows'],
  ])('throws on a broken array: %j', async (content, message) => {
    const dir = tempDataset({ 'x.json': content });
    const err = await collect(readJsonArray(join(dir, 'x.json'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toBe(message);
    expect((err as DatasetError).skippable).toBe(false);
  });

  it('reads scalars, strings with brackets and escapes, and an empty array', async () => {
    const dir = tempDataset({ 'x.json': '[1, "a]\\"}", {"t": "[{"}, null, true]', 'e.json': ' [ ] ' });
    const items = await collect(readJsonArray(join(dir, 'x.json')));
    expect(items.map((i) => ('value' in i ? i.value : undefined))).toEqual([1, 'a]"}', { t: '[{' }, null, true]);
    expect(await collect(readJsonArray(join(dir, 'e.json')))).toEqual([]);
  });

  it('finds elements across read chunks (a file larger than the stream buffer)', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ text: `row ${i} ${'x'.repeat(i % 97)} "q" \\ ]}` }));
    const dir = tempDataset({ 'big.json': `[\n${rows.map((r) => JSON.stringify(r, null, 1)).join(',\n')}\n]\n` });
    const items = await collect(readJsonArray(join(dir, 'big.json')));
    expect(items.map((i) => ('value' in i ? i.value : i.error))).toEqual(rows);
    // each element is 3 lines ("{", "text", "}") plus nothing between: element k starts on line 2 + 3k
    expect(items[2999]!.at.line).toBe(2 + 3 * 2999);
  });
});

describe('listDatasetFiles / readRows', () => {
  it('reads a folder in sorted order, skipping hidden and _ files', async () => {
    const files = await listDatasetFiles(join(DATASETS, 'sharded'));
    expect(files.map((f) => f.name)).toEqual(['part-00000.json', 'part-00001.jsonl']);
    const items = await collect(readRows(join(DATASETS, 'sharded')));
    expect(lines(items)).toEqual(['part-00000.json:2', 'part-00000.json:3', 'part-00001.jsonl:1']);
  });

  it('names files in subfolders by their relative path', async () => {
    const dir = tempDataset({ 'b/2.jsonl': '{"text": "c"}\n', 'a.jsonl': '{"text": "a"}\n', 'b/1.jsonl': '{"text": "b"}\n', '.hidden/x.jsonl': 'junk' });
    expect(lines(await collect(readRows(dir)))).toEqual(['a.jsonl:1', 'b/1.jsonl:1', 'b/2.jsonl:1']);
  });

  it('lists Parquet files beside JSON ones', async () => {
    const dir = tempDataset({ 'b.parquet': '', 'a.jsonl': '' });
    expect((await listDatasetFiles(dir)).map((f) => [f.name, f.kind])).toEqual([
      ['a.jsonl', 'jsonl'],
      ['b.parquet', 'parquet'],
    ]);
  });

  it('rejects unknown files, empty folders and missing paths', async () => {
    await expect(listDatasetFiles(tempDataset({ 'train.csv': '' }))).rejects.toThrow('train.csv: unsupported dataset file (expected .jsonl, .json or .parquet)');
    await expect(listDatasetFiles(tempDataset({ '_SUCCESS': '' }))).rejects.toThrow(/^no .jsonl, .json or .parquet files in /);
    await expect(listDatasetFiles('/nonexistent/data.jsonl')).rejects.toThrow(/^cannot read the dataset at \/nonexistent\/data.jsonl/);
  });
});

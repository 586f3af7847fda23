import { appendFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, MAX_ROW_BYTES } from './errors.js';
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

  it('ends lines at \\n, \\r\\n and a lone \\r, as readline does, a \\r\\n split between read chunks too', async () => {
    const first = `{"text": "${'a'.repeat(65536 - 13)}"}`; // 65535 bytes: its \r is the last byte of the first 64 KiB chunk
    const dir = tempDataset({ 'a.jsonl': `${first}\r\n{"text": "b"}\r{"text": "c"}\r\r\n{"text": "d"}\n\n{"text": "e"}` });
    const items = await collect(readJsonl(join(dir, 'a.jsonl')));
    expect(items.map((i) => ('value' in i ? (i.value as { text: string }).text.slice(0, 1) : i.error))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(lines(items)).toEqual(['a.jsonl:1', 'a.jsonl:2', 'a.jsonl:3', 'a.jsonl:5', 'a.jsonl:7']);
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
    await expect(listDatasetFiles(tempDataset({ 'train.csv': '' }))).rejects.toThrow(
      'train.csv: unsupported dataset file (expected .jsonl, .ndjson, .json, .parquet)',
    );
    await expect(listDatasetFiles(tempDataset({ _SUCCESS: '' }))).rejects.toThrow(/^no dataset files \(.jsonl, .ndjson, .json, .parquet\) in /);
    await expect(listDatasetFiles('/nonexistent/data.jsonl')).rejects.toThrow(/^cannot read the dataset at \/nonexistent\/data.jsonl/);
  });
});

describe('rows over MAX_ROW_BYTES and bytes that are not UTF-8', () => {
  const reasons = (items: ReadItem[]) => items.map((i) => ('error' in i ? [i.error.reason, i.error.skippable] : 'ok'));
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const file = (name: string, content: Buffer) => {
    const dir = tempDataset({});
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };

  it('the limit is 16 MiB', () => {
    expect(MAX_ROW_BYTES).toBe(16 * 1024 * 1024);
  });

  it('a .jsonl line over the limit is a row error at its line; the next lines are read', async () => {
    const huge = `{"text": "${'x'.repeat(MAX_ROW_BYTES)}"}`;
    const items = await collect(readJsonl(file('a.jsonl', bytes('{"text": "a"}\n', huge, '\n{"text": "b"}\n'))));
    expect(lines(items)).toEqual(['a.jsonl:1', 'a.jsonl:2', 'a.jsonl:3']);
    expect(errors(items)).toEqual(['a.jsonl:2: row too long: more than 16 MiB on one line (the limit for one row)']);
    expect(reasons(items)).toEqual(['ok', ['row-too-long', true], 'ok']);
  });

  it('a huge .jsonl line is not held in memory: reading stops collecting it at the limit', async () => {
    // 600 MiB without a line break (a sparse file, nothing written): longer than the longest string V8
    // can make, so a reader that collected the whole line would fail
    const path = file('a.jsonl', Buffer.alloc(0));
    truncateSync(path, 600 * 1024 * 1024);
    appendFileSync(path, '\n{"text": "after"}');
    const items = await collect(readJsonl(path));
    expect(reasons(items)).toEqual([['row-too-long', true], 'ok']);
    expect(items[1]).toEqual({ at: { file: 'a.jsonl', line: 2 }, value: { text: 'after' } });
  }, 60_000);

  it('invalid UTF-8 in a .jsonl line is a row error naming the line and the byte', async () => {
    const items = await collect(readJsonl(file('a.jsonl', bytes('{"text": "ok"}\n{"text": "caf', [0xe9, 0x20, 0xff, 0xfe], '"}\r\n{"text": "caf\u00e9"}\n'))));
    expect(errors(items)).toEqual(['a.jsonl:2: invalid UTF-8: byte 0xE9 at byte 14 of the line']);
    expect(reasons(items)).toEqual(['ok', ['invalid-utf8', true], 'ok']);
    expect(items[2]).toEqual({ at: { file: 'a.jsonl', line: 3 }, value: { text: 'café' } });
  });

  it('a UTF-16 file is named as such', async () => {
    const items = await collect(readJsonl(file('a.jsonl', Buffer.from('\uFEFF{"text": "a"}\n', 'utf16le'))));
    expect(errors(items)[0]).toBe('a.jsonl:1: invalid UTF-8: byte 0xFF at byte 1 of the line (the file looks like UTF-16: save it as UTF-8)');
  });

  it('decodes characters split across read chunks', async () => {
    const rows = [{ text: 'é€😀'.repeat(30_000) }, { text: 'ü'.repeat(50_000) }];
    const jsonl = await collect(readJsonl(file('a.jsonl', bytes(rows.map((r) => JSON.stringify(r)).join('\n')))));
    expect(jsonl.map((i) => ('value' in i ? i.value : i.error))).toEqual(rows);
    const array = await collect(readJsonArray(file('a.json', bytes(`[${rows.map((r) => JSON.stringify(r)).join(',\n')}]`))));
    expect(array.map((i) => ('value' in i ? i.value : i.error))).toEqual(rows);
  });

  it('a .json array element over the limit is a row error at the line it starts on; the next elements are read', async () => {
    const huge = `{"text": "${'x'.repeat(MAX_ROW_BYTES)}", "more": [1, {"a": "]"}]}`;
    const items = await collect(readJsonArray(file('a.json', bytes('[\n{"text": "a"},\n', huge, ',\n{"text": "b"}\n]\n'))));
    expect(lines(items)).toEqual(['a.json:2', 'a.json:3', 'a.json:4']);
    expect(errors(items)).toEqual(['a.json:3: row too long: more than 16 MiB in one array element (the limit for one row)']);
    expect(reasons(items)).toEqual(['ok', ['row-too-long', true], 'ok']);
  });

  it('invalid UTF-8 in a .json array element is a row error at the line of the byte', async () => {
    const items = await collect(readJsonArray(file('a.json', bytes('[\n{"text": "a"},\n{"text":\n "caf', [0xe9], '"},\n{"text": "b"}]'))));
    expect(errors(items)).toEqual(['a.json:4: invalid UTF-8: byte 0xE9 at byte 6 of the line']);
    expect(reasons(items)).toEqual(['ok', ['invalid-utf8', true], 'ok']);
    expect(lines(items)).toEqual(['a.json:2', 'a.json:4', 'a.json:5']);
  });
});

// Reading dataset rows: a .jsonl file line by line, a .json file holding an array (element by element,
// with the line each element starts on), a .parquet file row group by row group (parquet.ts), or a
// folder of them in sorted order. Streams bytes: one line, array element or row group in memory at a
// time, and never more than MAX_ROW_BYTES of one row (a longer one stops being collected at the
// limit and becomes a row error). Each row's bytes are decoded as strict UTF-8. Yields row errors
// (invalid JSON, a row too long, bytes that are not UTF-8) as items so that skipInvalidRows can go
// on; errors that leave the rest of a file unreadable (an unclosed array) are thrown.
import { createReadStream, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, sep } from 'node:path';
import { DatasetError, MAX_ROW_BYTES, rowTooLong, type RowRef } from './errors.js';
import { readParquet } from './parquet.js';
import { decodeUtf8, describeInvalidByte, looksLikeUtf16 } from './utf8.js';

export type ReadItem = { at: RowRef; value: unknown } | { at: RowRef; error: DatasetError };

export interface DatasetFile {
  /** Absolute or caller-relative path to open. */
  path: string;
  /** Name used in messages: the path relative to the dataset folder, or the file's base name. */
  name: string;
  kind: 'jsonl' | 'json' | 'parquet';
}

/** The dataset files the trainer reads, by extension (docs/datasets.md names each; test/unit/docs-drift.test.ts). */
export const DATASET_FILE_KINDS: Readonly<Record<string, DatasetFile['kind']>> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.parquet': 'parquet',
};
const EXPECTED = Object.keys(DATASET_FILE_KINDS).join(', ');

function fileKind(path: string, name: string): DatasetFile['kind'] {
  const kind = DATASET_FILE_KINDS[extname(path).toLowerCase()];
  if (kind) return kind;
  throw new DatasetError('format', `${name}: unsupported dataset file (expected ${EXPECTED})`);
}

/** Names skipped in a folder: hidden files and markers such as _SUCCESS or .crc files. */
const ignored = (name: string): boolean => name.startsWith('.') || name.startsWith('_');

/** The dataset's files: the file itself, or every .jsonl/.json/.parquet under the folder, sorted by relative path. */
export async function listDatasetFiles(path: string): Promise<DatasetFile[]> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (err) {
    throw new DatasetError('io', `cannot read the dataset at ${path}: ${(err as Error).message}`);
  }
  if (info.isFile()) return [{ path, name: basename(path), kind: fileKind(path, basename(path)) }];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  const files: DatasetFile[] = [];
  for (const entry of entries) {
    const full = join(entry.parentPath, entry.name);
    if (!entry.isFile() && !(entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isFile())) continue;
    const name = relative(path, full).split(sep).join('/');
    if (name.split('/').some(ignored)) continue;
    files.push({ path: full, name, kind: fileKind(full, name) });
  }
  if (files.length === 0) throw new DatasetError('empty', `no dataset files (${EXPECTED}) in ${path}`);
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every row of the dataset, in order. */
export async function* readRows(path: string): AsyncGenerator<ReadItem> {
  for (const file of await listDatasetFiles(path)) yield* readFile(file);
}

export function readFile(file: DatasetFile): AsyncGenerator<ReadItem> {
  if (file.kind === 'parquet') return readParquet(file.path, file.name);
  return file.kind === 'jsonl' ? readJsonl(file.path, file.name) : readJsonArray(file.path, file.name);
}

function parseError(err: unknown, at: RowRef, text: string, firstColumn = 1): DatasetError {
  const message = (err as Error).message;
  // V8 says "... in JSON at position N" for some errors: N is inside this line or element; report
  // its line and column instead.
  const position = /in JSON at position (\d+)/.exec(message);
  if (!position) return new DatasetError('invalid-json', `invalid JSON: ${message}`, at);
  const upTo = text.slice(0, Number(position[1]));
  const newlines = upTo.split('\n').length - 1;
  const column = upTo.length - upTo.lastIndexOf('\n') + (newlines === 0 ? firstColumn - 1 : 0);
  // Node 20 says "in JSON at position N", Node 22 adds "(line L column C)" of the parsed text: ours count in the file.
  const detail = `${message.replace(/ in JSON at position \d+(?: \(line \d+ column \d+\))?/, '')} (column ${column})`;
  return new DatasetError('invalid-json', `invalid JSON: ${detail}`, { file: at.file, line: at.line + newlines });
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * One row per non-blank line; line numbers count every line. Lines end at \n, \r\n or a lone \r (as
 * node's readline splits them); a UTF-8 BOM at the start is skipped.
 */
export async function* readJsonl(path: string, name = basename(path)): AsyncGenerator<ReadItem> {
  let line = 0;
  // The line being collected: its parts (views of the read chunks), their size, and whether it went
  // past MAX_ROW_BYTES (then its bytes are dropped and the rest of it is only skipped).
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;

  const endLine = (): ReadItem | undefined => {
    line++;
    const at = { file: name, line };
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const over = tooLong;
    parts = [];
    size = 0;
    tooLong = false;
    if (over) return { at, error: rowTooLong(at, 'on one line') };
    const decoded = decodeUtf8(bytes);
    if (typeof decoded !== 'string') {
      const hint = line === 1 && decoded.invalidAt === 0 && looksLikeUtf16(bytes) ? ' (the file looks like UTF-16: save it as UTF-8)' : '';
      return { at, error: new DatasetError('invalid-utf8', `invalid UTF-8: ${describeInvalidByte(bytes, decoded.invalidAt)} of the line${hint}`, at) };
    }
    const text = line === 1 && decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
    if (text.trim() === '') return undefined;
    try {
      return { at, value: JSON.parse(text) as unknown };
    } catch (err) {
      const error = parseError(err, at, text);
      return { at: error.at!, error };
    }
  };

  let afterCr = false; // the last line ended with a \r: a \n right after it belongs to that \r
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let from = 0;
    if (afterCr) {
      if (chunk[0] === LF) from = 1;
      afterCr = false;
    }
    // The next \n and \r at or after `from`, each searched for again only once passed.
    let lf = -2;
    let cr = -2;
    for (;;) {
      if (lf !== -1 && lf < from) lf = chunk.indexOf(LF, from);
      if (cr !== -1 && cr < from) cr = chunk.indexOf(CR, from);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      const stop = end === -1 ? chunk.length : end;
      if (!tooLong && stop > from) {
        size += stop - from;
        if (size > MAX_ROW_BYTES) {
          tooLong = true;
          parts = [];
        } else parts.push(chunk.subarray(from, stop));
      }
      if (end === -1) break;
      const item = endLine();
      if (item) yield item;
      from = end + 1;
      if (end === cr) {
        if (from === chunk.length) afterCr = true;
        else if (chunk[from] === LF) from++;
      }
    }
  }
  if (size > 0 || tooLong) {
    const item = endLine();
    if (item) yield item;
  }
}

// Bytes the array scanner looks at: all ASCII, so they never occur inside a multi-byte UTF-8 character.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const isWs = (b: number): boolean => b === 0x20 || b === 0x09 || b === LF || b === CR;

/** The character at `i` for a message: `"x"`, or `byte 0xE9` where the bytes there are not UTF-8. */
function charAt(chunk: Buffer, i: number): string {
  const b = chunk[i]!;
  if (b < 0x80) return `"${String.fromCharCode(b)}"`;
  const n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
  const decoded = decodeUtf8(chunk.subarray(i, i + n));
  return typeof decoded === 'string' && decoded.length > 0 ? `"${decoded}"` : `byte 0x${b.toString(16).toUpperCase()}`;
}

/**
 * The elements of a top-level JSON array, each parsed on its own, with the line it starts on.
 * A scanner finds where each element ends (tracking strings, escapes and bracket depth) in the
 * file's bytes, so a bad element is reported at its line and the rest of the file can still be read;
 * an element over MAX_ROW_BYTES is scanned to its end without being collected.
 */
export async function* readJsonArray(path: string, name = basename(path)): AsyncGenerator<ReadItem> {
  const fatal = (line: number, detail: string) => new DatasetError('structure', detail, { file: name, line }, false);
  type State = 'start' | 'first' | 'element' | 'separator' | 'done';
  let state: State = 'start';
  let line = 1;
  let arrayLine = 1;
  // UTF-16 code units (as in JS strings and V8's messages) and bytes since the start of the line.
  let column = 0;
  let lineStart = 0; // absolute byte offset of the current line's first byte
  // The element being collected.
  let parts: Buffer[] = [];
  let size = 0; // bytes of the element in `parts`
  let tooLong = false;
  let elementLine = 0;
  let elementColumn = 1;
  let elementByteColumn = 1;
  let consumed = 0; // bytes in the chunks before this one
  let depth = 0;
  let inString = false;
  let escaped = false;
  let scalar = false;

  /** Adds chunk[from, to) to the element, dropping it once it is over the limit. */
  const collect = (chunk: Buffer, from: number, to: number) => {
    if (tooLong || to <= from) return;
    size += to - from;
    if (size > MAX_ROW_BYTES) {
      tooLong = true;
      parts = [];
    } else parts.push(chunk.subarray(from, to));
  };

  const finish = (): ReadItem => {
    const at = { file: name, line: elementLine };
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const over = tooLong;
    parts = [];
    size = 0;
    tooLong = false;
    if (over) return { at, error: rowTooLong(at, 'in one array element') };
    const text = decodeUtf8(bytes);
    if (typeof text !== 'string') {
      // the line and the byte within it where the bad byte is
      const before = bytes.subarray(0, text.invalidAt);
      const newlines = before.filter((b) => b === LF).length;
      const lastLf = before.lastIndexOf(LF);
      const position = newlines === 0 ? elementByteColumn + text.invalidAt : text.invalidAt - lastLf;
      const where = describeInvalidByte(bytes, text.invalidAt, position);
      const bad = { file: name, line: elementLine + newlines };
      return { at: bad, error: new DatasetError('invalid-utf8', `invalid UTF-8: ${where} of the line`, bad) };
    }
    try {
      return { at, value: JSON.parse(text) as unknown };
    } catch (err) {
      const error = parseError(err, at, text, elementColumn);
      return { at: error.at!, error };
    }
  };

  let firstChunk = true;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let i = 0;
    if (firstChunk && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = lineStart = 3;
    firstChunk = false;
    let from = 0; // start of the part of this chunk that belongs to the current element
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      // Lines and columns are counted in every state, inside strings too.
      if (c === LF) {
        line++;
        lineStart = consumed + i + 1;
        column = -1;
      }
      if ((c & 0xc0) !== 0x80) column += c >= 0xf0 ? 2 : 1;
      if (state === 'element') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (scalar && depth === 0) {
              collect(chunk, from, i + 1);
              yield finish();
              state = 'separator';
            }
          }
          continue;
        }
        if (scalar && depth === 0 && (c === COMMA || c === CLOSE_BRACKET || isWs(c))) {
          collect(chunk, from, i);
          yield finish();
          state = 'separator';
          // fall through to handle the delimiter as a separator
        } else {
          if (c === QUOTE) inString = true;
          else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
          else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
            depth--;
            if (depth === 0 && !scalar) {
              collect(chunk, from, i + 1);
              yield finish();
              state = 'separator';
            }
          }
          continue;
        }
      }
      if (isWs(c)) continue;
      if (state === 'start') {
        if (c !== OPEN_BRACKET)
          throw fatal(line, `expected a JSON array of rows, got ${c === OPEN_BRACE ? 'an object' : charAt(chunk, i)}; use .jsonl for one row per line`);
        arrayLine = line;
        state = 'first';
      } else if (state === 'separator' && c === COMMA) {
        state = 'first';
        // a trailing comma is caught below: ']' right after ',' is not an element
        elementLine = -1;
      } else if ((state === 'separator' || (state === 'first' && elementLine === 0)) && c === CLOSE_BRACKET) {
        state = 'done';
      } else if (state === 'first') {
        if (c === CLOSE_BRACKET || c === COMMA) throw fatal(line, `unexpected ${charAt(chunk, i)} in the JSON array: a missing or extra comma?`);
        state = 'element';
        elementLine = line;
        elementColumn = column;
        elementByteColumn = consumed + i - lineStart + 1;
        depth = c === OPEN_BRACE || c === OPEN_BRACKET ? 1 : 0;
        scalar = depth === 0;
        inString = c === QUOTE;
        escaped = false;
        from = i;
      } else if (state === 'separator') {
        throw fatal(line, `expected "," or "]" after the row that starts on line ${elementLine}, got ${charAt(chunk, i)}`);
      } else {
        throw fatal(line, `unexpected ${charAt(chunk, i)} after the end of the JSON array`);
      }
    }
    if (state === 'element') collect(chunk, from, chunk.length);
    consumed += chunk.length;
  }
  if (state === 'element' && scalar && !inString) {
    yield finish();
    state = 'separator';
  }
  const end = state as State;
  if (end === 'start') throw fatal(line, 'empty file: expected a JSON array of rows');
  if (end !== 'done') throw fatal(line, `unexpected end of file: the JSON array opened on line ${arrayLine} is not closed`);
}

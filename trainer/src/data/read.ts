// Reading dataset rows: a .jsonl file line by line, a .json file holding an array (element by element,
// with the line each element starts on), a .parquet file row group by row group (parquet.ts), or a
// folder of them in sorted order. Streams: one line, array element or row group in memory at a time.
// Yields parse errors as items so that skipInvalidRows can go on; errors that leave the rest of a
// file unreadable (an unclosed array) are thrown.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { DatasetError, type RowRef } from './errors.js';
import { readParquet } from './parquet.js';

export type ReadItem = { at: RowRef; value: unknown } | { at: RowRef; error: DatasetError };

export interface DatasetFile {
  /** Absolute or caller-relative path to open. */
  path: string;
  /** Name used in messages: the path relative to the dataset folder, or the file's base name. */
  name: string;
  kind: 'jsonl' | 'json' | 'parquet';
}

const KINDS: Record<string, DatasetFile['kind']> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.json': 'json', '.parquet': 'parquet' };

function fileKind(path: string, name: string): DatasetFile['kind'] {
  const kind = KINDS[extname(path).toLowerCase()];
  if (kind) return kind;
  throw new DatasetError('format', `${name}: unsupported dataset file (expected .jsonl, .json or .parquet)`);
}

/** Names skipped in a folder: hidden files and markers such as _SUCCESS or .crc files. */
const ignored = (name: string): boolean => name.startsWith('.') || name.startsWith('_');

/** The dataset's files: the file itself, or every .jsonl/.json/.parquet under the folder, sorted by relative path. */
export async function listDatasetFiles(path: string): Promise<DatasetFile[]> {
  let info;
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
  if (files.length === 0) throw new DatasetError('empty', `no .jsonl, .json or .parquet files in ${path}`);
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
  const detail = `${message.replace(/ in JSON at position \d+/, '')} (column ${column})`;
  return new DatasetError('invalid-json', `invalid JSON: ${detail}`, { file: at.file, line: at.line + newlines });
}

/** One row per non-blank line; line numbers count every line. */
export async function* readJsonl(path: string, name = basename(path)): AsyncGenerator<ReadItem> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (let text of lines) {
    line++;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') continue;
    const at = { file: name, line };
    try {
      yield { at, value: JSON.parse(text) as unknown };
    } catch (err) {
      const error = parseError(err, at, text);
      yield { at: error.at!, error };
    }
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * The elements of a top-level JSON array, each parsed on its own, with the line it starts on.
 * A scanner finds where each element ends (tracking strings, escapes and bracket depth), so a bad
 * element is reported at its line and the rest of the file can still be read.
 */
export async function* readJsonArray(path: string, name = basename(path)): AsyncGenerator<ReadItem> {
  const fatal = (line: number, detail: string) => new DatasetError('structure', detail, { file: name, line }, false);
  type State = 'start' | 'first' | 'element' | 'separator' | 'done';
  let state: State = 'start';
  let line = 1;
  let arrayLine = 1;
  // The element being collected.
  let parts: string[] = [];
  let elementLine = 0;
  let elementColumn = 1;
  let consumed = 0; // characters in the chunks before this one
  let lineStart = 0; // absolute index of the current line's first character
  let depth = 0;
  let inString = false;
  let escaped = false;
  let scalar = false;
  let firstChunk = true;

  const finish = (): ReadItem => {
    const text = parts.join('');
    parts = [];
    const at = { file: name, line: elementLine };
    try {
      return { at, value: JSON.parse(text) as unknown };
    } catch (err) {
      const error = parseError(err, at, text, elementColumn);
      return { at: error.at!, error };
    }
  };

  for await (const raw of createReadStream(path, { encoding: 'utf8' })) {
    let chunk = raw as string;
    if (firstChunk && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    firstChunk = false;
    let from = 0; // start of the part of this chunk that belongs to the current element
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      // Lines are counted in every state, inside strings too.
      if (c === '\n') {
        line++;
        lineStart = consumed + i + 1;
      }
      if (state === 'element') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') {
            inString = false;
            if (scalar && depth === 0) {
              parts.push(chunk.slice(from, i + 1));
              yield finish();
              state = 'separator';
            }
          }
          continue;
        }
        if (scalar && depth === 0 && (c === ',' || c === ']' || WS.has(c))) {
          parts.push(chunk.slice(from, i));
          yield finish();
          state = 'separator';
          // fall through to handle the delimiter as a separator
        } else {
          if (c === '"') inString = true;
          else if (c === '{' || c === '[') depth++;
          else if (c === '}' || c === ']') {
            depth--;
            if (depth === 0 && !scalar) {
              parts.push(chunk.slice(from, i + 1));
              yield finish();
              state = 'separator';
            }
          }
          continue;
        }
      }
      if (WS.has(c)) continue;
      if (state === 'start') {
        if (c !== '[')
          throw fatal(line, `expected a JSON array of rows, got ${c === '{' ? 'an object' : `"${c}"`}; use .jsonl for one row per line`);
        arrayLine = line;
        state = 'first';
      } else if (state === 'separator' && c === ',') {
        state = 'first';
        // a trailing comma is caught below: ']' right after ',' is not an element
        elementLine = -1;
      } else if ((state === 'separator' || (state === 'first' && elementLine === 0)) && c === ']') {
        state = 'done';
      } else if (state === 'first') {
        if (c === ']' || c === ',') throw fatal(line, `unexpected "${c}" in the JSON array: a missing or extra comma?`);
        state = 'element';
        elementLine = line;
        elementColumn = consumed + i - lineStart + 1;
        depth = c === '{' || c === '[' ? 1 : 0;
        scalar = depth === 0;
        inString = c === '"';
        escaped = false;
        from = i;
      } else if (state === 'separator') {
        throw fatal(line, `expected "," or "]" after the row that starts on line ${elementLine}, got "${c}"`);
      } else {
        throw fatal(line, `unexpected "${c}" after the end of the JSON array`);
      }
    }
    if (state === 'element') parts.push(chunk.slice(from));
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

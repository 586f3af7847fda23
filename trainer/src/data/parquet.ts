// Reading dataset rows from a .parquet file with hyparquet (pure JS; snappy built in, gzip, zstd,
// brotli and lz4 from hyparquet-compressors). One row group at a time is decoded and held in
// memory, never the whole file. Rows are numbered from 1 across the file, and that number stands
// where JSONL puts the line: `train.parquet:5: missing field "output"`. As for JSONL, a row whose
// values take more than MAX_ROW_BYTES, or a string that is not UTF-8, is a row error.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { basename } from 'node:path';
import { DatasetError, MAX_ROW_BYTES, rowTooLong, type RowRef } from './errors.js';
import type { ReadItem } from './read.js';
import { decodeUtf8, describeInvalidByte } from './utf8.js';

/**
 * A string value left as bytes: not UTF-8 (`invalidAt` says where; hyparquet would decode it with
 * U+FFFD), or longer than a row may be (never decoded). Its row is refused.
 */
class RawString {
  constructor(
    readonly bytes: Uint8Array,
    readonly invalidAt?: number,
  ) {}
}

/**
 * hyparquet's parser for string columns (annotated STRING/UTF8), strict: bytes that are not UTF-8,
 * or too many of them, stay a RawString. Plain binary columns (image bytes, say) are read with
 * `utf8: false` and stay bytes until plainValue.
 */
const parsers = {
  stringFromBytes(bytes: Uint8Array | undefined): unknown {
    if (!bytes) return bytes;
    if (bytes.length > MAX_ROW_BYTES) return new RawString(bytes);
    const text = decodeUtf8(bytes);
    return typeof text === 'string' ? text : new RawString(bytes, text.invalidAt);
  },
};

/**
 * What is wrong with a decoded row, if anything: a string that is not UTF-8 (its field named), or
 * values over MAX_ROW_BYTES (strings counted in UTF-8 bytes, other values as 8).
 */
function checkRow(row: unknown, at: RowRef): DatasetError | undefined {
  let size = 0;
  const walk = (value: unknown, path: string): DatasetError | undefined => {
    if (value instanceof RawString && value.invalidAt !== undefined) {
      return new DatasetError('invalid-utf8', `invalid UTF-8 in "${path}": ${describeInvalidByte(value.bytes, value.invalidAt)} of the value`, at);
    }
    if (value instanceof RawString) size += value.bytes.length;
    else if (typeof value === 'string') size += Buffer.byteLength(value);
    else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) {
        const error = walk(v, `${path}[${i}]`);
        if (error) return error;
      }
    } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      for (const [k, v] of Object.entries(value)) {
        const error = walk(v, path ? `${path}.${k}` : k);
        if (error) return error;
      }
    } else size += ArrayBuffer.isView(value) ? value.byteLength : 8;
    return size > MAX_ROW_BYTES ? rowTooLong(at, 'in one row') : undefined;
  };
  return walk(row, '');
}

/**
 * A Parquet value as the JSON-shaped value the formats expect. A null field is a field the row does
 * not have (a column is shared by every row, so an absent key can only be written as null); int64
 * values arrive as BigInt and become numbers; plain binary values become strings where they are
 * UTF-8.
 */
export function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  // A plain binary value: text if it is UTF-8 (old writers store strings so), else left as bytes.
  if (value instanceof Uint8Array) {
    const text = decodeUtf8(value);
    return typeof text === 'string' ? text : value;
  }
  if (Array.isArray(value)) return value.map(plainValue);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = plainValue(v);
    return out;
  }
  return value;
}

/** Every row of a Parquet file, in order, with its 1-based row number as the line. */
export async function* readParquet(path: string, name = basename(path)): AsyncGenerator<ReadItem> {
  // A file hyparquet cannot decode is unreadable as a whole: never skipped as a row.
  const unreadable = (err: unknown) => new DatasetError('structure', `${name}: not a readable Parquet file: ${(err as Error).message}`);
  let file: AsyncBuffer;
  let metadata: FileMetaData;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw unreadable(err);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors, parsers, utf8: false });
    } catch (err) {
      throw unreadable(err);
    }
    for (const [i, row] of rows.entries()) {
      const at = { file: name, line: rowStart + i + 1 };
      const error = checkRow(row, at);
      yield error ? { at, error } : { at, value: plainValue(row) };
    }
    rowStart = rowEnd;
  }
}

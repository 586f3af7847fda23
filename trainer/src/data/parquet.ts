// Reading dataset rows from a .parquet file with hyparquet (pure JS; snappy built in, gzip, zstd,
// brotli and lz4 from hyparquet-compressors). One row group at a time is decoded and held in
// memory, never the whole file. Rows are numbered from 1 across the file, and that number stands
// where JSONL puts the line: `train.parquet:5: missing field "output"`.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { basename } from 'node:path';
import { DatasetError } from './errors.js';
import type { ReadItem } from './read.js';

/**
 * A Parquet value as the JSON-shaped value the formats expect. A null field is a field the row does
 * not have (a column is shared by every row, so an absent key can only be written as null); int64
 * values arrive as BigInt and become numbers.
 */
export function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
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
  let file;
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
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors });
    } catch (err) {
      throw unreadable(err);
    }
    for (const [i, row] of rows.entries()) yield { at: { file: name, line: rowStart + i + 1 }, value: plainValue(row) };
    rowStart = rowEnd;
  }
}

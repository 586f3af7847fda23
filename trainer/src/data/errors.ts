// Dataset errors: where (file:line) and what is wrong with a row, or with the dataset as a whole,
// and the tally of rows skipped when the spec allows skipping (spec.dataset.skipInvalidRows).

/** A row's place: the file (relative to the dataset root) and its 1-based line. */
export interface RowRef {
  file: string;
  line: number;
}

/**
 * The most bytes one row may take in its file: a .jsonl line, a .json array element, or the values
 * of a Parquet row. Readers stop collecting a row at this size, so a huge row costs no more memory
 * than this; the row is then a `row-too-long` error (skipped and counted with skipInvalidRows).
 * Well above any row that can be trained whole (maxSeqLength is at most 131072 tokens: 1 to 2 MiB
 * of JSON), so rows with large ignored fields still pass. A row under it is tokenized whole, which
 * takes a few hundred bytes of memory per byte of text for a while (about 4 to 5 GiB and a minute
 * at the limit, measured with the bundled tokenizers); prepare.ts tokenizes rows that long one at a time.
 */
export const MAX_ROW_BYTES = 16 * 1024 * 1024;

/** The limit in words, for messages and docs: "16 MiB". */
export const MAX_ROW_SIZE = `${MAX_ROW_BYTES / (1024 * 1024)} MiB`;

/** Why a row is rejected; the keys of the skipped-rows summary. */
export const ROW_ERROR_REASONS = [
  'row-too-long', // the line, array element or Parquet row is over MAX_ROW_BYTES
  'invalid-utf8', // the row's bytes are not UTF-8
  'invalid-json', // the line (or array element) is not JSON
  'not-an-object', // the row is JSON but not an object
  'missing-field', // a field the format needs is absent
  'wrong-type', // a field has the wrong JSON type
  'invalid-value', // a field is outside its allowed values (e.g. a role)
  'empty-content', // an empty turn, text, output or completion
  'turn-order', // system not first, two turns of one role in a row, no user turn first
  'no-assistant-turn', // nothing to train on: the conversation does not end with an assistant turn
  'chat-template', // the model's chat template refused the conversation or rendered it unexpectedly
] as const;
export type RowErrorReason = (typeof ROW_ERROR_REASONS)[number];

/** Errors about the dataset as a whole: never skipped. */
export type DatasetErrorReason = RowErrorReason | 'io' | 'structure' | 'format' | 'config' | 'empty';

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  /** `file:line: detail` when the error is about one row, else just the detail. */
  constructor(
    readonly reason: DatasetErrorReason,
    readonly detail: string,
    readonly at?: RowRef,
    /** A row error that skipInvalidRows may skip; structural errors (an unclosed JSON array) are not. */
    readonly skippable: boolean = at !== undefined && (ROW_ERROR_REASONS as readonly string[]).includes(reason),
  ) {
    super(at ? `${at.file}:${at.line}: ${detail}` : detail);
  }
}

/** A row over MAX_ROW_BYTES; `where` says what the row is in its file: "on one line", "in one array element". */
export const rowTooLong = (at: RowRef, where: string): DatasetError =>
  new DatasetError('row-too-long', `row too long: more than ${MAX_ROW_SIZE} ${where} (the limit for one row)`, at);

export interface SkippedRows {
  total: number;
  byReason: Partial<Record<RowErrorReason, number>>;
  /** The first messages, in file order, for the log. */
  samples: string[];
}

/** Counts skipped rows per reason; keeps the first few messages. */
export class SkipTally {
  private readonly counts = new Map<RowErrorReason, number>();
  private readonly samples: string[] = [];
  private total = 0;

  constructor(private readonly maxSamples = 10) {}

  record(error: DatasetError): void {
    const reason = error.reason as RowErrorReason;
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    this.total++;
    if (this.samples.length < this.maxSamples) this.samples.push(error.message);
  }

  summary(): SkippedRows {
    const byReason: Partial<Record<RowErrorReason, number>> = {};
    for (const reason of ROW_ERROR_REASONS) {
      const n = this.counts.get(reason);
      if (n) byReason[reason] = n;
    }
    return { total: this.total, byReason, samples: [...this.samples] };
  }
}

/** A short rendering of a JSON value for messages: strings quoted (cut at 40 chars), containers by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return 'binary data that is not UTF-8 text';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

// The dataset pipeline: files → rows → format (detected for `auto`) → normalised rows → chat
// template / plain text → tokens and labels (loss mode, truncation) → seeded train/validation
// split → rows for training (one example per row, or packed best-fit decreasing), with stats and a
// preview of the first examples for the log.
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import { ChatTemplate } from './chat-template.js';
import { DatasetError, MAX_ROW_BYTES, SkipTally, type RowRef, type SkippedRows } from './errors.js';
import { normalizeRow, resolveFormat, type RowFormat } from './formats.js';
import { packBfd, packingEfficiency, toRow, type TrainingRow } from './pack.js';
import { previewExamples, type PreviewExample } from './preview.js';
import { listDatasetFiles, readFile, type DatasetFile, type ReadItem } from './read.js';
import { checkLossForFormat, renderExample, type RenderedExample } from './render.js';
import { splitItems } from './split.js';
import type { ModelTokenizer } from './model-tokenizer.js';
import { IGNORE_INDEX, isTruncated, tokenizeExample, type Example } from './tokenize.js';

/** Rows looked at to detect the format. */
export const DETECT_ROWS = 32;
/** Rows tokenized concurrently (tokenizers encodes on libuv's thread pool)... */
const TOKENIZE_BATCH = 64;
/**
 * ...or fewer: as many as hold at most this much text (UTF-16 code units; a longer row alone), so
 * that long rows, which take hundreds of bytes of memory per character while they are tokenized,
 * are not tokenized 64 at once.
 */
const TOKENIZE_BATCH_TEXT = MAX_ROW_BYTES;

export interface DataSpec {
  dataset: Pick<FineTuneJobSpec['dataset'], 'format' | 'validationSplit' | 'seed' | 'skipInvalidRows'>;
  training: Pick<FineTuneJobSpec['training'], 'maxSeqLength' | 'packing' | 'loss'>;
}

export interface PrepareInput {
  /** A .jsonl, .json or .parquet file, or a folder of them. */
  dataset: string;
  /** The base model's tokenizer (model-tokenizer.ts). */
  tokenizer: ModelTokenizer;
  /** The FineTuneJob spec, or the parts of it the data needs. */
  spec: DataSpec;
  /** Examples to preview; default 3. */
  previewCount?: number;
  /** Called for each skipped row (with skipInvalidRows), e.g. to log it. */
  onSkip?: (error: DatasetError) => void;
}

export interface PerSplit {
  train: number;
  validation: number;
}

export interface DatasetStats {
  format: RowFormat;
  files: number;
  /** Rows read, valid or not (blank lines not counted). */
  rowsRead: number;
  skipped: SkippedRows;
  /** Examples with no trained token left (after truncation): dropped, as TRL does. */
  droppedFullyMasked: number;
  /** Examples cut to maxSeqLength (among those kept). */
  truncated: number;
  examples: PerSplit;
  rows: PerSplit;
  tokens: PerSplit;
  /** Tokens with a label (not -100), after packing. */
  trainedTokens: PerSplit;
  /** Tokens over rows × maxSeqLength; only when packing. */
  packingEfficiency: PerSplit | undefined;
}

export interface PreparedDataset {
  format: RowFormat;
  train: TrainingRow[];
  validation: TrainingRow[];
  /** For the batcher's right padding: pad_token, else eos_token (as the article sets it), else 0. */
  padTokenId: number;
  stats: DatasetStats;
  preview: PreviewExample[];
}

const isError = (item: ReadItem): item is { at: RowRef; error: DatasetError } => 'error' in item;

async function* chain(head: readonly ReadItem[], rest: AsyncIterator<ReadItem>): AsyncGenerator<ReadItem> {
  yield* head;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

async function* readAll(files: readonly DatasetFile[]): AsyncGenerator<ReadItem> {
  for (const file of files) yield* readFile(file);
}

/** A dataset with no row at all (blank lines and empty arrays only): named, rather than a failed format detection. */
function emptyDataset(path: string, files: readonly DatasetFile[]): DatasetError {
  if (files.length === 1 && files[0]!.path === path) return new DatasetError('empty', `dataset ${files[0]!.name} is empty: no rows`);
  const names =
    files
      .slice(0, 5)
      .map((f) => f.name)
      .join(', ') + (files.length > 5 ? ', …' : '');
  return new DatasetError('empty', `dataset folder ${path} is empty: no rows in its ${files.length} file${files.length === 1 ? '' : 's'} (${names})`);
}

export async function prepareDataset(input: PrepareInput): Promise<PreparedDataset> {
  const { dataset: ds, training } = input.spec;
  const { tokenizer, config } = input.tokenizer;
  const template = ChatTemplate.fromConfig(config);
  const files = await listDatasetFiles(input.dataset);

  // The first rows decide the format under `auto`.
  const rows = readAll(files)[Symbol.asyncIterator]();
  const head: ReadItem[] = [];
  for (let r = await rows.next(); ; r = await rows.next()) {
    if (r.done) break;
    head.push(r.value);
    if (head.length >= DETECT_ROWS) break;
  }
  if (head.length === 0) throw emptyDataset(input.dataset, files);
  let format: RowFormat;
  try {
    format = resolveFormat(
      ds.format,
      head.filter((i): i is { at: RowRef; value: unknown } => !isError(i)),
    );
  } catch (err) {
    // Without skipping, a broken first row is the better message; with it, when every row looked
    // at is broken (a file that is not UTF-8, say), the first of them is.
    const firstBroken = head.find(isError);
    if (!firstBroken) throw err;
    if (!ds.skipInvalidRows) throw firstBroken.error;
    if (!head.every(isError)) throw err;
    throw new DatasetError(
      'format',
      `cannot detect the dataset format: the first ${head.length} rows are all invalid, the first: ${firstBroken.error.message}`,
    );
  }
  checkLossForFormat(training.loss, format);

  const tally = new SkipTally();
  const reject = (error: unknown): void => {
    if (!(error instanceof DatasetError) || !error.skippable || !ds.skipInvalidRows) throw error;
    tally.record(error);
    input.onSkip?.(error);
  };

  const ctx = { loss: training.loss, template, eosToken: config.eosToken };
  const examples: Example[] = [];
  let rowsRead = 0;
  let droppedFullyMasked = 0;
  let pending: { at: RowRef; rendered: RenderedExample }[] = [];
  let pendingText = 0;
  const flush = async () => {
    const batch = await Promise.all(pending.map((p) => tokenizeExample(tokenizer, p.rendered, training.maxSeqLength, p.at)));
    pending = [];
    pendingText = 0;
    for (const e of batch) {
      if (e.labels.some((l) => l !== IGNORE_INDEX)) examples.push(e);
      else droppedFullyMasked++;
    }
  };
  for await (const item of chain(head, rows)) {
    rowsRead++;
    if (isError(item)) {
      reject(item.error);
      continue;
    }
    let rendered: RenderedExample;
    try {
      rendered = renderExample(normalizeRow(item.value, format, item.at), ctx, item.at);
    } catch (err) {
      reject(err);
      continue;
    }
    if (pending.length > 0 && pendingText + rendered.text.length > TOKENIZE_BATCH_TEXT) await flush();
    pending.push({ at: item.at, rendered });
    pendingText += rendered.text.length;
    if (pending.length >= TOKENIZE_BATCH) await flush();
  }
  await flush();

  const skipped = tally.summary();
  if (examples.length === 0) {
    throw new DatasetError(
      'empty',
      `no examples to train on: ${rowsRead} rows read, ${skipped.total} skipped, ${droppedFullyMasked} left with no trained token after truncation to ${training.maxSeqLength}`,
    );
  }
  let split: { train: Example[]; validation: Example[] };
  try {
    split = splitItems(examples, ds.validationSplit, ds.seed);
  } catch (err) {
    throw new DatasetError('empty', `cannot split the dataset: ${(err as Error).message}`);
  }
  const toRows = (list: Example[]) => (training.packing ? packBfd(list, training.maxSeqLength) : list.map(toRow));
  const train = toRows(split.train);
  const validation = toRows(split.validation);

  const sum = (list: TrainingRow[], f: (r: TrainingRow) => number) => list.reduce((n, r) => n + f(r), 0);
  const trained = (r: TrainingRow) => r.labels.reduce((n, l) => (l === IGNORE_INDEX ? n : n + 1), 0);
  const padToken = config.padToken ?? config.eosToken;
  const stats: DatasetStats = {
    format,
    files: files.length,
    rowsRead,
    skipped,
    droppedFullyMasked,
    truncated: examples.filter(isTruncated).length,
    examples: { train: split.train.length, validation: split.validation.length },
    rows: { train: train.length, validation: validation.length },
    tokens: { train: sum(train, (r) => r.inputIds.length), validation: sum(validation, (r) => r.inputIds.length) },
    trainedTokens: { train: sum(train, trained), validation: sum(validation, trained) },
    packingEfficiency: training.packing
      ? { train: packingEfficiency(train, training.maxSeqLength), validation: packingEfficiency(validation, training.maxSeqLength) }
      : undefined,
  };
  return {
    format,
    train,
    validation,
    padTokenId: (padToken === undefined ? undefined : tokenizer.tokenToId(padToken)) ?? 0,
    stats,
    preview: await previewExamples(tokenizer, examples, input.previewCount ?? 3),
  };
}

// The first examples as the model will see them, for the log (the article's "data format mismatch"
// pitfall: print a few tokenised examples before training): decoded text with the masked part
// (label -100, not trained) wrapped in ⟦…⟧, and token counts.
import type { RowRef } from './errors.js';
import { IGNORE_INDEX, type TextTokenizer } from './tokenize.js';

export const MASK_OPEN = '⟦';
export const MASK_CLOSE = '⟧';

export interface PreviewExample {
  at: RowRef;
  tokens: number;
  trainedTokens: number;
  /** Tokens the example had before truncation to maxSeqLength. */
  fullLength: number;
  /** Decoded tokens, the masked runs wrapped in ⟦…⟧. */
  marked: string;
  /** The first token ids, for checking special tokens by eye. */
  firstIds: number[];
}

/** Runs of consecutive tokens that are all trained or all masked. */
function runs(labels: Int32Array): { end: number; masked: boolean }[] {
  const out: { end: number; masked: boolean }[] = [];
  for (let i = 0; i < labels.length; i++) {
    const masked = labels[i] === IGNORE_INDEX;
    const last = out.at(-1);
    if (last && last.masked === masked) last.end = i + 1;
    else out.push({ end: i + 1, masked });
  }
  return out;
}

/**
 * Decodes by prefixes (decode(ids[:end]) minus decode(ids[:start])) so that decoders which treat
 * the first token specially (Metaspace) keep their spaces; falls back to decoding the run alone.
 */
export async function markMasked(tokenizer: TextTokenizer, inputIds: Int32Array, labels: Int32Array): Promise<string> {
  const ids = Array.from(inputIds);
  let out = '';
  let before = '';
  let start = 0;
  for (const run of runs(labels)) {
    const upTo = await tokenizer.decode(ids.slice(0, run.end));
    const piece = upTo.startsWith(before) ? upTo.slice(before.length) : await tokenizer.decode(ids.slice(start, run.end));
    out += run.masked ? `${MASK_OPEN}${piece}${MASK_CLOSE}` : piece;
    before = upTo;
    start = run.end;
  }
  return out;
}

export async function previewExamples(
  tokenizer: TextTokenizer,
  examples: readonly { at: RowRef; inputIds: Int32Array; labels: Int32Array; fullLength: number }[],
  count = 3,
): Promise<PreviewExample[]> {
  const out: PreviewExample[] = [];
  for (const e of examples.slice(0, count)) {
    out.push({
      at: e.at,
      tokens: e.inputIds.length,
      trainedTokens: e.labels.reduce((n, l) => (l === IGNORE_INDEX ? n : n + 1), 0),
      fullLength: e.fullLength,
      marked: await markMasked(tokenizer, e.inputIds, e.labels),
      firstIds: Array.from(e.inputIds.subarray(0, 16)),
    });
  }
  return out;
}

/** One example as a log block. */
export function formatPreview(p: PreviewExample): string {
  const truncated = p.fullLength > p.tokens ? `, truncated from ${p.fullLength}` : '';
  return [
    `${p.at.file}:${p.at.line}: ${p.tokens} tokens (${p.trainedTokens} trained${truncated}); ${MASK_OPEN}masked${MASK_CLOSE}`,
    `ids: [${p.firstIds.join(', ')}${p.tokens > p.firstIds.length ? ', …' : ''}]`,
    p.marked,
  ].join('\n');
}

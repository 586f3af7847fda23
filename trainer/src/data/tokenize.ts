// Tokenization with HF's tokenizers (tokenizer.json), and labels: the token ids where the loss
// trains, -100 elsewhere; truncation to maxSeqLength keeps the start.
import { join } from 'node:path';
import { Tokenizer } from 'tokenizers';
import type { CharSpan } from './chat-template.js';
import { DatasetError, type RowRef } from './errors.js';
import type { RenderedExample } from './render.js';

export const IGNORE_INDEX = -100;

export interface Encoded {
  ids: number[];
  /** Per token, [start, end) in UTF-16 code units of the encoded string; special tokens the tokenizer added have [0, 0]. */
  offsets: [number, number][];
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Code point index → UTF-16 index, for strings with characters outside the BMP (tokenizers reports code points). */
function codePointToUtf16(text: string): (cp: number) => number {
  if (!SURROGATE.test(text)) return (cp) => cp;
  const map: number[] = [];
  let u = 0;
  for (const ch of text) {
    map.push(u);
    u += ch.length;
  }
  map.push(u);
  return (cp) => map[Math.min(cp, map.length - 1)]!;
}

/** A tokenizer.json, loaded through HF's tokenizers. */
export class TextTokenizer {
  constructor(private readonly tokenizer: Tokenizer) {}

  static fromFile(path: string): TextTokenizer {
    try {
      return new TextTokenizer(Tokenizer.fromFile(path));
    } catch (err) {
      throw new DatasetError('config', `cannot load the tokenizer ${path}: ${(err as Error).message}`);
    }
  }

  /** A tokenizer.json built in memory (from a GGUF's metadata); `where` names its origin in errors. */
  static fromJson(json: unknown, where: string): TextTokenizer {
    try {
      return new TextTokenizer(Tokenizer.fromString(JSON.stringify(json)));
    } catch (err) {
      throw new DatasetError('config', `cannot load the tokenizer of ${where}: ${(err as Error).message}`);
    }
  }

  /** tokenizer.json in a model or tokenizer folder. */
  static fromDir(dir: string): TextTokenizer {
    return TextTokenizer.fromFile(join(dir, 'tokenizer.json'));
  }

  /** With `withOffsets` false, offsets are left empty (they cost more than the ids to fetch). */
  async encode(text: string, addSpecialTokens: boolean, withOffsets = true): Promise<Encoded> {
    const encoding = await this.tokenizer.encode(text, null, { addSpecialTokens });
    if (!withOffsets) return { ids: encoding.getIds(), offsets: [] };
    const toUtf16 = codePointToUtf16(text);
    const offsets = encoding.getOffsets().map(([s, e]) => [toUtf16(s!), toUtf16(e!)] as [number, number]);
    return { ids: encoding.getIds(), offsets };
  }

  decode(ids: readonly number[], skipSpecialTokens = false): Promise<string> {
    return this.tokenizer.decode([...ids], skipSpecialTokens);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.idToToken(id) ?? undefined;
  }
}

/** Labels: each token's id where it overlaps a trained span (or everywhere for 'all'), else -100. */
export function labelsFromSpans(ids: readonly number[], offsets: readonly (readonly [number, number])[], trained: 'all' | readonly CharSpan[]): Int32Array {
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  for (let t = 0; t < ids.length; t++) {
    if (trained === 'all') {
      labels[t] = ids[t]!;
      continue;
    }
    const [s, e] = offsets[t]!;
    if (e > s && trained.some((span) => s < span.end && e > span.start)) labels[t] = ids[t]!;
  }
  return labels;
}

export interface Example {
  at: RowRef;
  inputIds: Int32Array;
  labels: Int32Array;
  /** Tokens before truncation. */
  fullLength: number;
}

export const isTruncated = (e: Example): boolean => e.fullLength > e.inputIds.length;
export const trainedTokenCount = (labels: Int32Array): number => labels.reduce((n, l) => (l === IGNORE_INDEX ? n : n + 1), 0);

/** Tokenizes a rendered example, labels it, and keeps its first maxSeqLength tokens. */
export async function tokenizeExample(tokenizer: TextTokenizer, rendered: RenderedExample, maxSeqLength: number, at: RowRef): Promise<Example> {
  const { ids, offsets } = await tokenizer.encode(rendered.text, rendered.addSpecialTokens, rendered.trained !== 'all');
  const labels = labelsFromSpans(ids, offsets, rendered.trained);
  const n = Math.min(ids.length, maxSeqLength);
  return { at, inputIds: Int32Array.from(ids.slice(0, n)), labels: labels.slice(0, n), fullLength: ids.length };
}

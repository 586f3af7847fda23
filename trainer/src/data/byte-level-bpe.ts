// Byte-level BPE as HF's tokenizers describes it in tokenizer.json (GPT-2's scheme, which Llama 3, Qwen2 and
// SmolLM2 use): every token spelled in a 256-character alphabet that stands for the bytes, a BPE model over
// it and a ByteLevel decoder. What varies between models is passed in.

/** GPT-2's byte → printable character table (bytes_to_unicode). */
export const BYTE_CHARS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const chars: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  return chars;
})();

export interface ByteLevelBpe {
  addedTokens: unknown[];
  preTokenizer: unknown;
  postProcessor: unknown;
  vocab: Record<string, number>;
  /** "a b" strings (as a GGUF stores them) or [a, b] pairs. */
  merges: readonly (string | readonly [string, string])[];
  /** Whether a word that is itself a vocabulary token skips the merges (Llama 3's tokenizer does). */
  ignoreMerges: boolean;
}

/** The tokenizer.json object, keys in the order tokenizers writes them. */
export function byteLevelBpeJson(t: ByteLevelBpe): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: t.addedTokens,
    normalizer: null,
    pre_tokenizer: t.preTokenizer,
    post_processor: t.postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: t.ignoreMerges,
      vocab: t.vocab,
      merges: t.merges,
    },
  };
}

// The tokenizer a .gguf file describes, rebuilt as the tokenizer.json HF's tokenizers loads, and the
// tokenizer_config.json fields the trainer reads (chat template, special tokens). A GGUF stores the
// vocabulary, merges, token types and special token ids as metadata under llama.cpp's key names; the
// pre-tokenizer is only named (`tokenizer.ggml.pre`), so the split regex for each supported name is the
// one llama.cpp's llama-vocab.cpp uses for it. Byte-level BPE (`gpt2`) only: SentencePiece (`llama`)
// and the other models are refused naming the file.
import { BYTE_CHARS, byteLevelBpeJson } from './byte-level-bpe.js';
import { DatasetError } from './errors.js';
import type { TokenizerConfig } from './chat-template.js';

/** A metadata value as the runtime's ggufMetadata returns it. */
export type GgufMetadataValue = number | boolean | string | GgufMetadataValue[];
export type GgufMetadata = Readonly<Record<string, GgufMetadataValue>>;

export interface GgufTokenizerFiles {
  /** tokenizer.json for HF's tokenizers (and transformers' PreTrainedTokenizerFast). */
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json: the chat template, special tokens and add_bos/add_eos as transformers reads them. */
  tokenizerConfigJson: Record<string, unknown>;
  /** The same, in the shape loadTokenizerConfig returns. */
  config: TokenizerConfig;
}

// llama.cpp's token types (llama_token_type / gguf-py's TokenType).
const TOKEN_TYPE = { control: 3, userDefined: 4 } as const;

const BYTE_ALPHABET = new Set(BYTE_CHARS);
const spelledInBytes = (token: string): boolean => [...token].every((c) => BYTE_ALPHABET.has(c));
const utf8Encoder = new TextEncoder();
const toByteSpelling = (text: string): string => Array.from(utf8Encoder.encode(text), (b) => BYTE_CHARS[b]).join('');

// The pre-tokenizer per `tokenizer.ggml.pre`, from llama.cpp's llama_vocab::impl::load (regex_exprs).
// ByteLevel with use_regex is GPT-2's split ('s|'t|…| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+).
const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (pattern: string) => ({ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false });
const LLAMA3_SPLIT =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const PRE_TOKENIZERS: Readonly<Record<string, unknown>> = {
  // GPT-2's own split (llama.cpp's LLAMA_VOCAB_PRE_TYPE_GPT2).
  gpt2: byteLevel(true),
  // Every digit alone, then GPT-2's split (LLAMA_VOCAB_PRE_TYPE_SMOLLM and STARCODER: "\p{N}" first):
  // what SmolLM2's and StarCoder's own tokenizer.json say.
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
  starcoder: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
  'llama-bpe': { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
  llama3: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
  qwen2: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
};

class GgufMetadataReader {
  constructor(
    private readonly md: GgufMetadata,
    private readonly path: string,
  ) {}

  fail(what: string): never {
    throw new DatasetError('config', `${this.path}: ${what}`);
  }

  has(key: string): boolean {
    return this.md[key] !== undefined;
  }

  string(key: string): string | undefined {
    const v = this.md[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(`metadata ${key} must be a string, not ${JSON.stringify(v).slice(0, 60)}`);
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = this.md[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(`metadata ${key} must be a bool, not ${JSON.stringify(v).slice(0, 60)}`);
    return v;
  }

  tokenId(key: string, vocabSize: number): number | undefined {
    const v = this.md[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize)
      this.fail(`metadata ${key} = ${JSON.stringify(v)} is not a token id (the vocabulary has ${vocabSize} tokens)`);
    return v;
  }

  strings(key: string): string[] | undefined {
    const v = this.md[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) this.fail(`metadata ${key} must be an array of strings`);
    return v as string[];
  }

  ints(key: string): number[] | undefined {
    const v = this.md[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((n) => typeof n === 'number' && Number.isInteger(n))) this.fail(`metadata ${key} must be an array of integers`);
    return v as number[];
  }
}

/** tokenizer.json and tokenizer_config.json for the tokenizer in a GGUF's metadata; `path` names the file in errors. */
export function ggufTokenizerFiles(metadata: GgufMetadata, path: string): GgufTokenizerFiles {
  const md = new GgufMetadataReader(metadata, path);
  const model = md.string('tokenizer.ggml.model');
  if (model === undefined) md.fail('has no tokenizer (no tokenizer.ggml.model in its metadata)');
  if (model !== 'gpt2') {
    md.fail(
      `tokenizer.ggml.model is "${model}"; loraplane builds only byte-level BPE tokenizers ("gpt2": Llama 3, Qwen2, SmolLM2, …) from a GGUF — use the model's Hugging Face folder instead`,
    );
  }
  // A file without the key predates it; llama.cpp then uses GPT-2's split ("default"), as transformers does.
  const pre = md.string('tokenizer.ggml.pre') ?? 'gpt2';
  const preTokenizer = PRE_TOKENIZERS[pre === 'default' ? 'gpt2' : pre];
  if (preTokenizer === undefined)
    md.fail(`tokenizer.ggml.pre is "${pre}", a pre-tokenizer loraplane does not know; supported: ${Object.keys(PRE_TOKENIZERS).join(', ')}`);

  const tokens = md.strings('tokenizer.ggml.tokens') ?? md.fail('has no tokenizer.ggml.tokens in its metadata');
  const merges = md.strings('tokenizer.ggml.merges') ?? md.fail('has no tokenizer.ggml.merges in its metadata (a byte-level BPE tokenizer needs them)');
  const types = md.ints('tokenizer.ggml.token_type');
  if (types !== undefined && types.length !== tokens.length) md.fail(`tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);

  // The vocabulary as the file spells it; a token written in plain text (llama.cpp keeps some added
  // tokens so) is respelled in the byte alphabet, as transformers' GGUF loader does.
  const vocab: Record<string, number> = {};
  const addedTokens: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    const inBytes = spelledInBytes(token);
    const key = inBytes ? token : toByteSpelling(token);
    if (Object.hasOwn(vocab, key)) md.fail(`tokenizer.ggml.tokens has "${token}" twice (ids ${vocab[key]} and ${id})`);
    vocab[key] = id;
    // Control tokens (<|im_start|>) are special, user-defined ones (<think>) plain added tokens: both
    // matched whole in the text. A control token outside the byte alphabet is a llama.cpp mislabel
    // (transformers skips it too).
    const type = types?.[id];
    if ((type === TOKEN_TYPE.control || type === TOKEN_TYPE.userDefined) && inBytes) {
      addedTokens.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TOKEN_TYPE.control });
    }
  });
  for (const [i, m] of merges.entries()) {
    const parts = m.split(' ');
    if (parts.length !== 2 || !Object.hasOwn(vocab, parts[0]!) || !Object.hasOwn(vocab, parts[1]!))
      md.fail(`tokenizer.ggml.merges[${i}] "${m}" is not two tokens of the vocabulary`);
  }

  const token = (key: string): string | undefined => {
    const id = md.tokenId(key, tokens.length);
    return id === undefined ? undefined : tokens[id];
  };
  const bos = token('tokenizer.ggml.bos_token_id');
  const eos = token('tokenizer.ggml.eos_token_id');
  const pad = token('tokenizer.ggml.padding_token_id');
  const unk = token('tokenizer.ggml.unknown_token_id');
  // Without the flags, no BOS/EOS: GPT-2's default, which transformers keeps for a byte-level GGUF.
  const addBos = md.bool('tokenizer.ggml.add_bos_token') ?? false;
  const addEos = md.bool('tokenizer.ggml.add_eos_token') ?? false;
  if (addBos && bos === undefined) md.fail('tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id');
  if (addEos && eos === undefined) md.fail('tokenizer.ggml.add_eos_token is true but there is no tokenizer.ggml.eos_token_id');

  const tokenizerJson = byteLevelBpeJson({
    addedTokens,
    preTokenizer,
    postProcessor: postProcessor(addBos ? bos : undefined, addEos ? eos : undefined, vocab),
    vocab,
    merges,
    ignoreMerges: false,
  });
  const chatTemplate = md.string('tokenizer.chat_template');
  const tokenizerConfigJson: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: addBos,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: false,
    ...(bos === undefined ? {} : { bos_token: bos }),
    ...(eos === undefined ? {} : { eos_token: eos }),
    ...(pad === undefined ? {} : { pad_token: pad }),
    ...(unk === undefined ? {} : { unk_token: unk }),
    ...(chatTemplate === undefined ? {} : { chat_template: chatTemplate }),
  };
  return { tokenizerJson, tokenizerConfigJson, config: { chatTemplate, bosToken: bos, eosToken: eos, padToken: pad, unkToken: unk } };
}

/** GPT-2's ByteLevel offsets, and BOS/EOS around the text when the file asks for them. */
function postProcessor(bos: string | undefined, eos: string | undefined, vocab: Record<string, number>): unknown {
  const byteLevelPost = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
  if (bos === undefined && eos === undefined) return byteLevelPost;
  const specials = [bos, eos].filter((t): t is string => t !== undefined);
  const piece = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  const seq = (id: 'A' | 'B') => ({ Sequence: { id, type_id: 0 } });
  const around = (id: 'A' | 'B') => [...(bos ? [piece(bos)] : []), seq(id), ...(eos ? [piece(eos)] : [])];
  const template = {
    type: 'TemplateProcessing',
    single: around('A'),
    pair: [...around('A'), ...around('B')],
    special_tokens: Object.fromEntries(specials.map((t) => [t, { id: t, ids: [vocab[t] ?? vocab[toByteSpelling(t)]], tokens: [t] }])),
  };
  return { type: 'Sequence', processors: [byteLevelPost, template] };
}

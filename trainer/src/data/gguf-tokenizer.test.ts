// A tokenizer from GGUF metadata: a small byte-level BPE vocabulary round-trips through HF's tokenizers,
// and metadata it cannot build from is an error naming the file and the key. The real-model check
// against transformers is test/reference/gguf-tokenizer.test.ts.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type GgufMetadata, ggufTokenizerFiles } from './gguf-tokenizer.js';
import { ggufTokenizer } from './model-tokenizer.js';
import { TextTokenizer } from './tokenize.js';

// "a", "b", " " (Ġ), "ab", "Ġab", and two special tokens; merges a+b, Ġ+ab.
const small = (extra: Record<string, GgufMetadata[string]> = {}): GgufMetadata => ({
  'tokenizer.ggml.model': 'gpt2',
  'tokenizer.ggml.pre': 'gpt2',
  'tokenizer.ggml.tokens': ['<s>', '</s>', 'a', 'b', 'Ġ', 'ab', 'Ġab'],
  'tokenizer.ggml.token_type': [3, 3, 1, 1, 1, 1, 1],
  'tokenizer.ggml.merges': ['a b', 'Ġ ab'],
  'tokenizer.ggml.bos_token_id': 0,
  'tokenizer.ggml.eos_token_id': 1,
  'tokenizer.chat_template': '{% for m in messages %}{{ bos_token + m.content + eos_token }}{% endfor %}',
  ...extra,
});

describe('ggufTokenizerFiles', () => {
  it('builds a byte-level BPE tokenizer with its special tokens and template', async () => {
    const files = ggufTokenizerFiles(small(), 'm.gguf');
    const tok = TextTokenizer.fromJson(files.tokenizerJson, 'm.gguf');
    expect((await tok.encode('ab ab<s>', false, false)).ids).toEqual([5, 6, 0]);
    expect(files.config).toMatchObject({ bosToken: '<s>', eosToken: '</s>', chatTemplate: expect.stringContaining('bos_token') });
    expect(files.tokenizerConfigJson).toMatchObject({ add_bos_token: false, bos_token: '<s>', eos_token: '</s>' });
  });

  it('adds BOS and EOS when the file asks for them', async () => {
    const files = ggufTokenizerFiles(small({ 'tokenizer.ggml.add_bos_token': true, 'tokenizer.ggml.add_eos_token': true }), 'm.gguf');
    const tok = TextTokenizer.fromJson(files.tokenizerJson, 'm.gguf');
    expect((await tok.encode('ab', true, false)).ids).toEqual([0, 5, 1]);
    expect((await tok.encode('ab', false, false)).ids).toEqual([5]);
  });

  it('refuses what it cannot build, naming the file and the key', () => {
    expect(() => ggufTokenizerFiles(small({ 'tokenizer.ggml.model': 'llama' }), '/m/x.gguf')).toThrow(/\/m\/x\.gguf: tokenizer\.ggml\.model is "llama"/);
    expect(() => ggufTokenizerFiles(small({ 'tokenizer.ggml.pre': 'tekken' }), 'x.gguf')).toThrow(/x\.gguf: tokenizer\.ggml\.pre is "tekken"/);
    expect(() => ggufTokenizerFiles({ 'general.architecture': 'llama' }, 'x.gguf')).toThrow(/x\.gguf: has no tokenizer/);
    expect(() => ggufTokenizerFiles(small({ 'tokenizer.ggml.merges': ['a c'] }), 'x.gguf')).toThrow(/merges\[0\] "a c" is not two tokens/);
    expect(() => ggufTokenizerFiles(small({ 'tokenizer.ggml.token_type': [1] }), 'x.gguf')).toThrow(/token_type has 1 entries for 7 tokens/);
    expect(() => ggufTokenizerFiles(small({ 'tokenizer.ggml.eos_token_id': 99 }), 'x.gguf')).toThrow(/eos_token_id = 99 is not a token id/);
  });

  it('reads the metadata through the runtime: a GGUF without merges, and a file that is not a GGUF', () => {
    const golden = join(import.meta.dirname, '../../../test/reference/goldens/gguf/llama.gguf');
    expect(() => ggufTokenizer(golden)).toThrow(/llama\.gguf: has no tokenizer\.ggml\.merges/);
    const notGguf = join(import.meta.dirname, '../../../test/reference/goldens/gguf/metadata.json');
    expect(() => ggufTokenizer(notGguf)).toThrow(/cannot read the metadata of the GGUF: .*metadata\.json/);
  });
});

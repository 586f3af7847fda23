// The tokenizer and chat template loraplane builds from a GGUF file's metadata (trainer/src/data/
// gguf-tokenizer.ts, through the runtime's GGUF reader) against transformers' own GGUF tokenizer
// (gguf_tokenizer_reference.py) on SmolLM2-135M-Instruct's Q4_1 GGUF (fetch-smollm2.sh): the same ids
// for ASCII, Unicode, code, numbers, whitespace and chat-rendered text with special tokens, the same
// rendered chat template and special tokens. transformers loads only the tokenizer: about 30 s.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '@loraplane/trainer/data/chat-template';
import type { Message } from '@loraplane/trainer/data/formats';
import { loadModelTokenizer, type ModelTokenizer } from '@loraplane/trainer/data/model-tokenizer';
import { referencePython } from './reference-python.js';

const TEXTS = [
  'Hello, world! How are you today?',
  'The quick brown fox jumps over the lazy dog.',
  "I'm sure they'll say it's fine; we've done it — haven't we?",
  'Café, naïve, façade, Ünïcödé; 日本語のテキスト; Привет мир; emoji 🚀🎉 and 👩‍💻.',
  'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  'const x = { a: [1, 2, 3], b: "str" }; // comment\n\tindented\r\n',
  'Order #12345 costs $1,299.99 (3.14159e-10, 0x1F, 2026-12-07).',
  '   leading and   multiple    spaces\n\n\nand newlines   ',
  '<|im_start|>user\nWhere is my order?<|im_end|>\n<|im_start|>assistant\nIt ships today.<|im_end|>\n',
  '<|endoftext|>text right after a special token<|im_end|>',
  '',
];

const CONVERSATIONS: Message[][] = [
  [{ role: 'user', content: 'How do I reset my password?' }],
  [
    { role: 'system', content: 'You are a support agent for Acme.' },
    { role: 'user', content: 'My order #4521 is late.' },
    { role: 'assistant', content: 'Sorry about that! It ships tomorrow.' },
    { role: 'user', content: 'Thanks — café ☕?' },
  ],
];

interface Reference {
  ids: number[][];
  ids_plain: number[][];
  rendered: string[];
  prompts: string[];
  special: Record<'bos_token' | 'eos_token' | 'pad_token' | 'unk_token', string | null>;
}

let gguf: string;
let ref: Reference;
let ours: ModelTokenizer;

beforeAll(() => {
  const python = referencePython();
  gguf = execFileSync('bash', [join(import.meta.dirname, 'fetch-smollm2.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const started = performance.now();
  ours = loadModelTokenizer(gguf);
  console.log(`[gguf-tokenizer] built from the GGUF metadata in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  const out = execFileSync(python, [join(import.meta.dirname, 'gguf_tokenizer_reference.py'), gguf], {
    encoding: 'utf8',
    input: JSON.stringify({ texts: TEXTS, conversations: CONVERSATIONS }),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  ref = JSON.parse(out) as Reference;
}, 600_000);

describe("SmolLM2-135M-Instruct's tokenizer from its GGUF", () => {
  it("encodes as transformers' GGUF tokenizer does", async () => {
    let tokens = 0;
    for (const [i, text] of TEXTS.entries()) {
      const withSpecials = await ours.tokenizer.encode(text, true, false);
      const plain = await ours.tokenizer.encode(text, false, false);
      expect(withSpecials.ids, JSON.stringify(text)).toEqual(ref.ids[i]);
      expect(plain.ids, JSON.stringify(text)).toEqual(ref.ids_plain[i]);
      tokens += plain.ids.length;
      // Byte-level BPE loses nothing: decoding gives the text back.
      expect(await ours.tokenizer.decode(plain.ids)).toBe(text);
    }
    console.log(`[gguf-tokenizer] ${TEXTS.length} texts, ${tokens} tokens: ids identical to transformers'`);
  });

  it('keeps the special tokens whole and knows them by name', () => {
    expect(ours.config).toMatchObject({
      bosToken: ref.special.bos_token,
      eosToken: ref.special.eos_token,
      padToken: ref.special.pad_token,
      unkToken: ref.special.unk_token,
    });
    expect(ours.tokenizer.tokenToId('<|im_start|>')).toBe(1);
    expect(ours.tokenizer.tokenToId('<|im_end|>')).toBe(2);
  });

  it('renders the chat template from the metadata as transformers does', async () => {
    const template = ChatTemplate.fromConfig(ours.config);
    expect(template).toBeDefined();
    for (const [i, conversation] of CONVERSATIONS.entries()) {
      expect(template!.render(conversation, { addGenerationPrompt: false })).toBe(ref.rendered[i]);
      expect(template!.render(conversation, { addGenerationPrompt: true })).toBe(ref.prompts[i]);
      // and the rendered conversation tokenizes the same, special tokens included
      const ids = (await ours.tokenizer.encode(ref.rendered[i]!, true, false)).ids;
      expect(ids.filter((id) => id === 1 || id === 2).length).toBe(2 * (conversation.length + (conversation[0]!.role === 'system' ? 0 : 1)));
    }
  });
});

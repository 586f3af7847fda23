import { describe, expect, it } from 'vitest';
import { ChatTemplate, loadTokenizerConfig } from './chat-template.js';
import type { Message, NormalizedRow } from './formats.js';
import { renderExample, type LossMode } from './render.js';
import { IGNORE_INDEX, TextTokenizer, labelsFromSpans, tokenizeExample, trainedTokenCount, type Example } from './tokenize.js';
import { TOKENIZER } from './test-helpers.js';

const config = loadTokenizerConfig(TOKENIZER);
const template = ChatTemplate.fromConfig(config)!;
const tokenizer = TextTokenizer.fromDir(TOKENIZER);
const at = { file: 'train.jsonl', line: 1 };

async function tokenized(row: NormalizedRow, loss: LossMode, maxSeqLength = 1024): Promise<Example> {
  return tokenizeExample(tokenizer, renderExample(row, { loss, template, eosToken: config.eosToken }, at), maxSeqLength, at);
}

/** [start, end) index runs of trained tokens. */
function trainedRuns(labels: Int32Array): [number, number][] {
  const runs: [number, number][] = [];
  labels.forEach((l, i) => {
    if (l === IGNORE_INDEX) return;
    const last = runs.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else runs.push([i, i + 1]);
  });
  return runs;
}

const decodeRuns = (e: Example) => Promise.all(trainedRuns(e.labels).map(([s, t]) => tokenizer.decode(Array.from(e.inputIds.subarray(s, t)))));
const promptLength = async (messages: Message[]) => (await tokenizer.encode(template.render(messages, { addGenerationPrompt: true }), false)).ids.length;

const multiTurn: NormalizedRow = {
  kind: 'conversation',
  messages: [
    { role: 'system', content: 'Be concise.' },
    { role: 'user', content: 'Translate to French: Good morning.' },
    { role: 'assistant', content: 'Bonjour.' },
    { role: 'user', content: 'And thank you?' },
    { role: 'assistant', content: 'Merci.' },
  ],
  completionStart: 4,
};
const plain: NormalizedRow = { kind: 'prompt-completion', prompt: 'Q: What is the capital of France?\nA:', completion: ' Paris.' };

describe('labels per loss mode', () => {
  it('assistant: exactly the tokens of each assistant turn, end-of-turn token included', async () => {
    const e = await tokenized(multiTurn, 'assistant');
    const ms = multiTurn.kind === 'conversation' ? multiTurn.messages : [];
    const first = await promptLength(ms.slice(0, 2));
    const second = await promptLength(ms.slice(0, 4));
    const eot = tokenizer.tokenToId('<|eot_id|>')!;
    // the runs start right after each generation prompt and end with <|eot_id|>
    const runs = trainedRuns(e.labels);
    expect(runs.map(([s]) => s)).toEqual([first, second]);
    expect(runs[1]![1]).toBe(e.inputIds.length);
    expect(runs.map(([, t]) => e.inputIds[t - 1])).toEqual([eot, eot]);
    expect(await decodeRuns(e)).toEqual(['Bonjour.<|eot_id|>', 'Merci.<|eot_id|>']);
    // a trained label is the token's own id (the model shifts labels itself)
    for (const [i, l] of e.labels.entries()) if (l !== IGNORE_INDEX) expect(l).toBe(e.inputIds[i]);
  });

  it('completion: only the last assistant turn of a conversation', async () => {
    const e = await tokenized(multiTurn, 'completion');
    expect(await decodeRuns(e)).toEqual(['Merci.<|eot_id|>']);
    expect(trainedRuns(e.labels)[0]![1]).toBe(e.inputIds.length);
  });

  it('all: every token', async () => {
    const e = await tokenized(multiTurn, 'all');
    expect(Array.from(e.labels)).toEqual(Array.from(e.inputIds));
    expect(await tokenizer.decode(Array.from(e.inputIds))).toBe(
      template.render(multiTurn.kind === 'conversation' ? multiTurn.messages : [], { addGenerationPrompt: false }),
    );
  });

  it('plain prompt/completion: BOS from the tokenizer, eos appended, the completion trained', async () => {
    for (const loss of ['assistant', 'completion'] as const) {
      const e = await tokenized(plain, loss);
      expect(await tokenizer.decode(Array.from(e.inputIds))).toBe('<|begin_of_text|>Q: What is the capital of France?\nA: Paris.<|eot_id|>');
      expect(await decodeRuns(e)).toEqual([' Paris.<|eot_id|>']);
    }
    const all = await tokenized(plain, 'all');
    expect(trainedTokenCount(all.labels)).toBe(all.inputIds.length);
  });

  it('text: eos appended once, every token trained', async () => {
    const e = await tokenized({ kind: 'text', text: 'Thank you<|eot_id|>' }, 'all');
    expect(await tokenizer.decode(Array.from(e.inputIds))).toBe('<|begin_of_text|>Thank you<|eot_id|>');
    expect(() => renderExample({ kind: 'text', text: 'x' }, { loss: 'assistant', template, eosToken: undefined })).toThrow(
      'training.loss "assistant" trains on assistant turns or completions, but format "text" has neither: set training.loss to "all" or use a conversational or prompt-completion dataset',
    );
  });

  it('maps offsets right past characters outside the BMP (tokenizers counts code points)', async () => {
    const row: NormalizedRow = {
      kind: 'conversation',
      messages: [
        { role: 'user', content: 'Say 😀 – twice 😀😀' },
        { role: 'assistant', content: 'Have a nice day 😀!' },
      ],
      completionStart: 1,
    };
    const e = await tokenized(row, 'assistant');
    expect(await decodeRuns(e)).toEqual(['Have a nice day 😀!<|eot_id|>']);
    const enc = await tokenizer.encode('a😀b', false);
    expect(enc.offsets.at(-1)).toEqual([3, 4]); // JS string indices: the emoji takes two
  });

  it('a conversation needs a chat template', () => {
    expect(() => renderExample(multiTurn, { loss: 'assistant', template: undefined, eosToken: '</s>' })).toThrow(/^the model has no chat template/);
  });
});

describe('truncation', () => {
  it('keeps the first maxSeqLength tokens and their labels', async () => {
    const full = await tokenized(multiTurn, 'assistant');
    const cut = await tokenized(multiTurn, 'assistant', full.inputIds.length - 3);
    expect(cut.inputIds.length).toBe(full.inputIds.length - 3);
    expect(cut.fullLength).toBe(full.inputIds.length);
    expect(Array.from(cut.inputIds)).toEqual(Array.from(full.inputIds.subarray(0, cut.inputIds.length)));
    expect(Array.from(cut.labels)).toEqual(Array.from(full.labels.subarray(0, cut.inputIds.length)));
  });

  it('can leave an example with no trained token (the pipeline drops it)', async () => {
    const e = await tokenized(multiTurn, 'assistant', 16);
    expect(e.inputIds.length).toBe(16);
    expect(trainedTokenCount(e.labels)).toBe(0);
  });
});

describe('labelsFromSpans', () => {
  it('labels tokens that overlap a span; zero-width (added special) tokens never', () => {
    const ids = [1, 2, 3, 4, 5];
    const offsets: [number, number][] = [
      [0, 0],
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 10],
    ];
    expect(Array.from(labelsFromSpans(ids, offsets, [{ start: 4, end: 7 }]))).toEqual([-100, -100, 3, 4, -100]);
    expect(
      Array.from(
        labelsFromSpans(ids, offsets, [
          { start: 0, end: 3 },
          { start: 9, end: 10 },
        ]),
      ),
    ).toEqual([-100, 2, -100, -100, 5]);
    expect(Array.from(labelsFromSpans(ids, offsets, 'all'))).toEqual(ids);
    expect(Array.from(labelsFromSpans(ids, offsets, []))).toEqual([-100, -100, -100, -100, -100]);
  });
});

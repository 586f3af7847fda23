import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_ROW_BYTES, type DatasetError } from './errors.js';
import { prepareDataset, type DataSpec, type PrepareInput } from './prepare.js';
import { IGNORE_INDEX } from './tokenize.js';
import { BASE_TOKENIZER, DATASETS, tempDataset } from './test-helpers.js';

function spec(overrides: { dataset?: Partial<DataSpec['dataset']>; training?: Partial<DataSpec['training']> } = {}): DataSpec {
  return {
    dataset: { format: 'auto', validationSplit: 0, seed: 42, skipInvalidRows: false, ...overrides.dataset },
    training: { maxSeqLength: 1024, packing: false, loss: 'assistant', ...overrides.training },
  };
}

const prepare = (dataset: string, s: DataSpec = spec(), extra: Partial<PrepareInput> = {}) =>
  prepareDataset({ dataset: join(DATASETS, dataset), tokenizer: BASE_TOKENIZER, spec: s, ...extra });

describe('prepareDataset: every format, detected by auto', () => {
  it.each([
    ['messages.jsonl', 'messages', 3],
    ['system-user-assistant.jsonl', 'system-user-assistant', 2],
    ['prompt-completion.jsonl', 'prompt-completion', 2],
    ['prompt-completion-conversational.jsonl', 'prompt-completion', 1],
    ['alpaca.json', 'alpaca', 3],
    ['sharegpt.jsonl', 'sharegpt', 2],
    ['text.jsonl', 'text', 2],
    ['sharded', 'messages', 3],
    ['parquet/messages.parquet', 'messages', 10],
    ['parquet/alpaca.parquet', 'alpaca', 6],
  ])('%s → %s, %i examples', async (file, format, n) => {
    const loss = format === 'text' ? 'all' : 'assistant';
    const r = await prepare(file, spec({ training: { loss } }));
    expect(r.format).toBe(format);
    expect(r.stats).toMatchObject({ rowsRead: n, examples: { train: n, validation: 0 }, rows: { train: n, validation: 0 }, droppedFullyMasked: 0 });
    expect(r.stats.skipped.total).toBe(0);
    for (const row of r.train) {
      expect(row.labels.some((l) => l !== IGNORE_INDEX)).toBe(true);
      expect(row.inputIds.length).toBe(row.labels.length);
    }
    expect(r.stats.tokens.train).toBe(r.train.reduce((a, row) => a + row.inputIds.length, 0));
    expect(r.padTokenId).toBe(374); // no pad_token: eos (<|eot_id|>), as the article sets it
  });

  it('the explicit spec format is enforced row by row', async () => {
    await expect(prepare('messages.jsonl', spec({ dataset: { format: 'alpaca' } }))).rejects.toThrow('messages.jsonl:1: missing field "instruction"');
  });

  it('format messages takes the raw system/user/assistant rows too', async () => {
    const r = await prepare('system-user-assistant.jsonl', spec({ dataset: { format: 'messages' } }));
    expect(r.stats.examples.train).toBe(2);
  });
});

describe('malformed rows', () => {
  it('stop the run at the first one, with file:line and what is wrong', async () => {
    await expect(prepare('malformed/mixed.jsonl')).rejects.toThrow('mixed.jsonl:2: messages[1].role must be one of system, user, assistant, got "bot"');
  });

  it('are skipped and counted by reason with skipInvalidRows', async () => {
    const skipped: string[] = [];
    const r = await prepare('malformed/mixed.jsonl', spec({ dataset: { skipInvalidRows: true } }), { onSkip: (e: DatasetError) => skipped.push(e.message) });
    expect(r.stats.rowsRead).toBe(9);
    expect(r.stats.examples.train).toBe(3);
    expect(r.stats.skipped).toEqual({
      total: 6,
      byReason: { 'invalid-json': 1, 'missing-field': 1, 'invalid-value': 1, 'empty-content': 2, 'no-assistant-turn': 1 },
      samples: [
        'mixed.jsonl:2: messages[1].role must be one of system, user, assistant, got "bot"',
        "mixed.jsonl:3: invalid JSON: Expected ',' or ']' after array element (column 92)",
        'mixed.jsonl:5: messages[1]: empty assistant turn',
        'mixed.jsonl:6: conversation must end with an assistant turn',
        'mixed.jsonl:7: missing field "messages"',
        'mixed.jsonl:8: messages[1]: empty assistant turn',
      ],
    });
    expect(skipped).toEqual(r.stats.skipped.samples);
    expect(r.preview.map((p) => `${p.at.file}:${p.at.line}`)).toEqual(['mixed.jsonl:1', 'mixed.jsonl:4', 'mixed.jsonl:9']);
  });

  it('a bad element of a .json array is skippable; an unclosed array never is', async () => {
    const r = await prepare('malformed/bad-element.json', spec({ dataset: { skipInvalidRows: true }, training: { loss: 'all' } }));
    expect(r.stats.skipped.byReason).toEqual({ 'invalid-json': 1 });
    expect(r.stats.examples.train).toBe(2);
    await expect(prepare('malformed/unclosed.json', spec({ dataset: { skipInvalidRows: true }, training: { loss: 'all' } }))).rejects.toThrow(
      'unclosed.json:4: unexpected end of file: the JSON array opened on line 1 is not closed',
    );
  });

  it('a broken first row is reported before a failed detection', async () => {
    const dir = tempDataset({ 'train.jsonl': '{"messages": [\n' });
    await expect(prepareDataset({ dataset: dir, tokenizer: BASE_TOKENIZER, spec: spec() })).rejects.toThrow(
      'train.jsonl:1: invalid JSON: Unexpected end of JSON input',
    );
    const unknown = tempDataset({ 'train.jsonl': '{"question": "a", "answer": "b"}\n' });
    await expect(prepareDataset({ dataset: unknown, tokenizer: BASE_TOKENIZER, spec: spec() })).rejects.toThrow(
      'cannot detect the dataset format: keys seen: answer, question; expected one of:',
    );
  });

  it('rows over MAX_ROW_BYTES and rows that are not UTF-8 stop the run, or are skipped and counted', async () => {
    const row = (content: string | number[]) =>
      Buffer.concat([
        Buffer.from('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "'),
        Buffer.from(content),
        Buffer.from('"}]}\n'),
      ]);
    const dir = tempDataset({});
    const write = (...rows: Buffer[]) => writeFileSync(join(dir, 'train.jsonl'), Buffer.concat(rows));
    const prep = (skipInvalidRows: boolean, onSkip?: (e: DatasetError) => void) =>
      prepareDataset({ dataset: dir, tokenizer: BASE_TOKENIZER, spec: spec({ dataset: { skipInvalidRows } }), onSkip });

    write(row('Hello.'), row('caf'), row([0x63, 0x61, 0x66, 0xe9]), row('Bye.'));
    await expect(prep(false)).rejects.toThrow('train.jsonl:3: invalid UTF-8: byte 0xE9 at byte 87 of the line');
    write(row('Hello.'), row('x'.repeat(MAX_ROW_BYTES)), row([0x63, 0x61, 0x66, 0xe9]), row('Bye.'));
    await expect(prep(false)).rejects.toThrow('train.jsonl:2: row too long: more than 16 MiB on one line (the limit for one row)');

    const skipped: string[] = [];
    const r = await prep(true, (e) => skipped.push(e.message));
    expect(skipped).toEqual([
      'train.jsonl:2: row too long: more than 16 MiB on one line (the limit for one row)',
      'train.jsonl:3: invalid UTF-8: byte 0xE9 at byte 87 of the line',
    ]);
    expect(r.stats).toMatchObject({ rowsRead: 4, examples: { train: 2 }, skipped: { total: 2, byReason: { 'row-too-long': 1, 'invalid-utf8': 1 } } });

    // a file that is not UTF-8 at all (Latin-1): with skipping, detection names the first bad row, not "keys seen: none"
    write(row([0x63, 0x61, 0x66, 0xe9]), row([0x6e, 0x61, 0xef, 0x76, 0x65]));
    await expect(prep(true)).rejects.toThrow(
      'cannot detect the dataset format: the first 2 rows are all invalid, the first: train.jsonl:1: invalid UTF-8: byte 0xE9 at byte 87 of the line',
    );
  });

  it('an empty dataset is named as such', async () => {
    const run = (files: Record<string, string>, path = '', format: DataSpec['dataset']['format'] = 'auto') =>
      prepareDataset({ dataset: join(tempDataset(files), path), tokenizer: BASE_TOKENIZER, spec: spec({ dataset: { format } }) });
    await expect(run({ 'train.jsonl': '' }, 'train.jsonl')).rejects.toThrow(/^dataset train\.jsonl is empty: no rows$/);
    await expect(run({ 'train.jsonl': '\n  \n\r\n' }, 'train.jsonl', 'messages')).rejects.toThrow(/^dataset train\.jsonl is empty: no rows$/);
    await expect(run({ 'train.json': ' [ ]\n' }, 'train.json')).rejects.toThrow(/^dataset train\.json is empty: no rows$/);
    await expect(run({ 'a.jsonl': '', 'b/c.jsonl': '\n', 'd.json': '[]' })).rejects.toThrow(
      /^dataset folder \/.+ is empty: no rows in its 3 files \(a\.jsonl, b\/c\.jsonl, d\.json\)$/,
    );
  });

  it('nothing left to train on is an error', async () => {
    const dir = tempDataset({ 'train.jsonl': '{"messages": []}\n{"messages": 1}\n' });
    await expect(
      prepareDataset({ dataset: dir, tokenizer: BASE_TOKENIZER, spec: spec({ dataset: { format: 'messages', skipInvalidRows: true } }) }),
    ).rejects.toThrow('no examples to train on: 2 rows read, 2 skipped, 0 left with no trained token after truncation to 1024');
  });

  it('loss assistant on plain text is refused before reading on', async () => {
    await expect(prepare('text.jsonl')).rejects.toThrow('training.loss "assistant" trains on assistant turns or completions, but format "text" has neither');
  });
});

describe('truncation, dropping, loss modes', () => {
  it('drops examples left with no trained token, counts the truncated ones', async () => {
    // messages.jsonl rows are 80, 79 and 54 tokens, their first trained token at 68, 41 and 41:
    // at 50 the first is left with nothing to train on, the others are cut
    const r = await prepare('messages.jsonl', spec({ training: { maxSeqLength: 50 } }));
    expect(r.stats.droppedFullyMasked).toBe(1);
    expect(r.stats.examples.train).toBe(2);
    expect(r.stats.truncated).toBe(2);
    expect(r.train.map((row) => row.inputIds.length)).toEqual([50, 50]);
    expect(r.preview.map((p) => p.at.line)).toEqual([2, 4]);
  });

  it('trains fewer tokens for completion than for assistant, all for all', async () => {
    const counts = await Promise.all(
      (['completion', 'assistant', 'all'] as const).map(
        async (loss) => (await prepare('sharegpt.jsonl', spec({ training: { loss } }))).stats.trainedTokens.train,
      ),
    );
    expect(counts[0]).toBeLessThan(counts[1]!);
    expect(counts[1]).toBeLessThan(counts[2]!);
  });
});

describe('split and packing', () => {
  it('splits by the seed, the same way every time', async () => {
    const s = spec({ dataset: { validationSplit: 0.4, seed: 3 } });
    const a = await prepare('alpaca.json', s);
    const b = await prepare('alpaca.json', s);
    expect(a.stats.examples).toEqual({ train: 1, validation: 2 });
    expect(a.validation.map((r) => Array.from(r.inputIds))).toEqual(b.validation.map((r) => Array.from(r.inputIds)));
    expect(a.train.map((r) => Array.from(r.inputIds))).toEqual(b.train.map((r) => Array.from(r.inputIds)));
  });

  it('packs best-fit decreasing within maxSeqLength, positions restarting per document', async () => {
    const plain = await prepare('sharded', spec({ training: { maxSeqLength: 128 } }));
    const packed = await prepare('sharded', spec({ training: { maxSeqLength: 128, packing: true } }));
    const lengths = plain.train.map((r) => r.inputIds.length).sort((a, b) => b - a);
    expect(lengths).toEqual([47, 33, 30]);
    // 47 + 33 + 30 = 110 fit in one row of 128, longest first
    expect(packed.train).toHaveLength(1);
    const row = packed.train[0]!;
    expect(row.seqLengths).toEqual([47, 33, 30]);
    expect(Array.from(row.positionIds).flatMap((p, i) => (p === 0 ? [i] : []))).toEqual([0, 47, 80]);
    for (const start of [0, 47, 80]) expect(row.labels[start]).toBe(IGNORE_INDEX);
    expect(Array.from(row.inputIds.subarray(0, 47))).toEqual(Array.from(plain.train.find((r) => r.inputIds.length === 47)!.inputIds));
    expect(packed.stats.packingEfficiency).toEqual({ train: 110 / 128, validation: 0 });
    expect(packed.stats.tokens.train).toBe(plain.stats.tokens.train);
    expect(plain.stats.packingEfficiency).toBeUndefined();
  });
});

describe('preview', () => {
  it('shows the first examples tokenized and decoded, the masked part marked', async () => {
    const r = await prepare('system-user-assistant.jsonl', spec(), { previewCount: 1 });
    expect(r.preview).toHaveLength(1);
    expect(r.preview[0]!.marked).toMatch(/^⟦<\|begin_of_text\|><\|start_header_id\|>system<\|end_header_id\|>\n\nYou are a customer support agent/);
    expect(r.preview[0]!.marked).toMatch(
      /<\|start_header_id\|>assistant<\|end_header_id\|>\n\n⟧You can return any item within 30 days.*returns\.<\|eot_id\|>$/s,
    );
  });
});

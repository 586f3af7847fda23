import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, type RowRef } from './errors.js';
import { detectFormat, normalizeRow, resolveFormat, ROW_FORMATS, type NormalizedRow, type RowFormat } from './formats.js';
import { readRows } from './read.js';
import { DATASETS, collect, tempDataset } from './test-helpers.js';

async function rowsOf(file: string): Promise<{ at: RowRef; value: unknown }[]> {
  const items = await collect(readRows(join(DATASETS, file)));
  return items.map((i) => {
    if ('error' in i) throw i.error;
    return i;
  });
}

async function normalized(file: string): Promise<{ format: RowFormat; rows: NormalizedRow[] }> {
  const rows = await rowsOf(file);
  const format = detectFormat(rows);
  return { format, rows: rows.map((r) => normalizeRow(r.value, format, r.at)) };
}

const SYSTEM = 'You are a customer support agent for an e-commerce platform. Be concise and helpful.';

describe('each format, detected by auto and normalised', () => {
  it('messages', async () => {
    const { format, rows } = await normalized('messages.jsonl');
    expect(format).toBe('messages');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toEqual({
      kind: 'conversation',
      messages: [
        { role: 'user', content: 'Translate to French: Good morning.' },
        { role: 'assistant', content: 'Bonjour.' },
        { role: 'user', content: 'And thank you?' },
        { role: 'assistant', content: 'Merci.' },
      ],
      completionStart: 3,
    });
  });

  it("system/user/assistant (the article's raw rows)", async () => {
    const { format, rows } = await normalized('system-user-assistant.jsonl');
    expect(format).toBe('system-user-assistant');
    expect(rows[0]).toEqual({
      kind: 'conversation',
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'What is your return policy?' },
        {
          role: 'assistant',
          content:
            'You can return any item within 30 days of delivery for a full refund. Items must be unused and in original packaging. Start a return at account.example.com/returns.',
        },
      ],
      completionStart: 2,
    });
    // format: messages accepts them too (the article calls them its chat format)
    const raw = (await rowsOf('system-user-assistant.jsonl'))[1]!;
    expect(normalizeRow(raw.value, 'messages', raw.at)).toEqual(normalizeRow(raw.value, 'system-user-assistant', raw.at));
  });

  it('prompt-completion, plain and conversational', async () => {
    const plain = await normalized('prompt-completion.jsonl');
    expect(plain.format).toBe('prompt-completion');
    expect(plain.rows[0]).toEqual({ kind: 'prompt-completion', prompt: 'Q: What is the capital of France?\nA:', completion: ' Paris.' });
    const conv = await normalized('prompt-completion-conversational.jsonl');
    expect(conv.format).toBe('prompt-completion');
    expect(conv.rows[0]).toEqual({
      kind: 'conversation',
      messages: [
        { role: 'system', content: 'Be concise.' },
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris.' },
      ],
      completionStart: 2,
    });
  });

  it('alpaca (a .json array), with and without input', async () => {
    const { format, rows } = await normalized('alpaca.json');
    expect(format).toBe('alpaca');
    expect(rows.map((r) => (r.kind === 'conversation' ? r.messages : []))).toEqual([
      [
        { role: 'user', content: 'Summarise the text.\n\nThe weather is nice today. The sun is out.' },
        { role: 'assistant', content: 'Nice, sunny weather.' },
      ],
      [
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris.' },
      ],
      [
        { role: 'user', content: 'Translate to French: Good morning.' },
        { role: 'assistant', content: 'Bonjour.' },
      ],
    ]);
  });

  it('sharegpt: system/human/gpt become system/user/assistant', async () => {
    const { format, rows } = await normalized('sharegpt.jsonl');
    expect(format).toBe('sharegpt');
    expect(rows[0]).toEqual({
      kind: 'conversation',
      messages: [
        { role: 'system', content: 'Be concise.' },
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris.' },
      ],
      completionStart: 2,
    });
  });

  it('text', async () => {
    const { format, rows } = await normalized('text.jsonl');
    expect(format).toBe('text');
    expect(rows).toEqual([
      { kind: 'text', text: 'The quick brown fox jumps over the lazy dog.' },
      { kind: 'text', text: 'Thank you, have a nice day!' },
    ]);
  });

  it('an explicit spec format is taken as is; auto detects', () => {
    const rows = [{ at: { file: 'x', line: 1 }, value: { text: 'a' } }];
    expect(resolveFormat('alpaca', rows)).toBe('alpaca');
    expect(resolveFormat('auto', rows)).toBe('text');
  });
});

describe('detectFormat', () => {
  const at = (line: number) => ({ file: 'train.jsonl', line });
  const rows = (...values: unknown[]) => values.map((value, i) => ({ at: at(i + 1), value }));

  it('goes with the majority; rows of no known shape do not vote', () => {
    expect(detectFormat(rows({ text: 'a' }, { junk: 1 }, 'not an object', { messages: [] }, { text: 'b' }))).toBe('text');
  });

  it('names the keys seen and the formats expected when nothing matches', () => {
    expect(() => detectFormat(rows({ id: 1, content: 'x' }, { id: 2 }))).toThrow(
      'cannot detect the dataset format: keys seen: content, id; expected one of: messages (messages), system-user-assistant (user + assistant), prompt-completion (prompt + completion), alpaca (instruction + output), sharegpt (conversations), text (text)',
    );
    expect(() => detectFormat([])).toThrow('cannot detect the dataset format: keys seen: none; expected one of:');
  });

  it('refuses rows that match several formats', () => {
    expect(() => detectFormat(rows({ prompt: 'a', completion: 'b', text: 'ab' }))).toThrow(
      'cannot detect the dataset format: train.jsonl:1 matches prompt-completion and text; keys seen: completion, prompt, text; set dataset.format',
    );
  });

  it('refuses a tie between formats', () => {
    expect(() => detectFormat(rows({ text: 'a' }, { instruction: 'i', output: 'o' }))).toThrow(
      'cannot detect the dataset format: the first rows are as many of one format as of another: text (1, first at train.jsonl:1), alpaca (1, first at train.jsonl:2); set dataset.format',
    );
  });

  it('knows every format', () => {
    expect(ROW_FORMATS).toEqual(['messages', 'system-user-assistant', 'prompt-completion', 'alpaca', 'sharegpt', 'text']);
  });
});

/** The malformed-rows table of README.md: `| # | format | \`row\` | \`message\` |`. */
function readmeTable(): { n: number; format: RowFormat; row: string; message: string }[] {
  const readme = readFileSync(join(import.meta.dirname, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Malformed rows'));
  return [...section.matchAll(/^\| (\d+) \| ([\w-]+) \| `(.*)` \| `(.*)` \|$/gm)].map((m) => ({
    n: Number(m[1]),
    format: m[2] as RowFormat,
    row: m[3]!,
    message: m[4]!,
  }));
}

describe('malformed rows: the README table', () => {
  const table = readmeTable();

  it('has at least 12 cases, numbered as lines', () => {
    expect(table.length).toBeGreaterThanOrEqual(12);
    expect(table.map((c) => c.n)).toEqual(table.map((_, i) => i + 1));
  });

  it('gives each row its exact file:line message', async () => {
    const dir = tempDataset({ 'rows.jsonl': `${table.map((c) => c.row).join('\n')}\n` });
    const items = await collect(readRows(dir));
    expect(items).toHaveLength(table.length);
    const messages = items.map((item, i) => {
      try {
        if ('error' in item) throw item.error;
        normalizeRow(item.value, table[i]!.format, item.at);
        return 'no error';
      } catch (err) {
        expect(err).toBeInstanceOf(DatasetError);
        expect((err as DatasetError).skippable).toBe(true);
        return (err as DatasetError).message;
      }
    });
    expect(messages).toEqual(table.map((c) => c.message));
  });
});

// Dataset row formats: a zod schema per format, detection for `format: auto`, and normalisation of
// every row to one of three shapes that say what the loss may train on (NormalizedRow).
import { z } from 'zod';
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import { DatasetError, describeValue, type RowErrorReason, type RowRef } from './errors.js';

export type SpecFormat = FineTuneJobSpec['dataset']['format'];
/**
 * The formats rows come in. `system-user-assistant` is the article's raw row (dataset_prep.py's
 * RAW_DATA: keys system, user, assistant); the spec has no name for it: `auto` detects it and
 * `messages` accepts it as well as `{messages: [...]}`.
 */
export const ROW_FORMATS = ['messages', 'system-user-assistant', 'prompt-completion', 'alpaca', 'sharegpt', 'text'] as const;
export type RowFormat = (typeof ROW_FORMATS)[number];

export const ROLES = ['system', 'user', 'assistant'] as const;
export type Role = (typeof ROLES)[number];
export interface Message {
  role: Role;
  content: string;
}

/**
 * A row after normalisation.
 * - `conversation`: rendered with the model's chat template. Loss `assistant` trains on every
 *   assistant turn; loss `completion` trains on `messages.slice(completionStart)` (the last
 *   assistant turn of a `messages` row, the completion of a conversational prompt/completion row).
 * - `prompt-completion`: plain strings, `prompt + completion + eos`; loss `assistant` or `completion`
 *   trains on the completion (and eos).
 * - `text`: plain text + eos; only loss `all` applies.
 */
export type NormalizedRow =
  | { kind: 'conversation'; messages: Message[]; completionStart: number }
  | { kind: 'prompt-completion'; prompt: string; completion: string }
  | { kind: 'text'; text: string };

/** The keys that identify each format; a row carrying all of a format's keys matches it. */
export const FORMAT_KEYS: Record<RowFormat, readonly string[]> = {
  messages: ['messages'],
  'system-user-assistant': ['user', 'assistant'],
  'prompt-completion': ['prompt', 'completion'],
  alpaca: ['instruction', 'output'],
  sharegpt: ['conversations'],
  text: ['text'],
};

// ---- schemas (zod, at the trust boundary: rows come from users' files) ----

const message = z.object({ role: z.enum(ROLES), content: z.string() });
const sharegptTurn = z.object({ from: z.enum(['system', 'human', 'gpt']), value: z.string() });

export const rowSchemas = {
  messages: z.object({ messages: z.array(message).min(1) }),
  'system-user-assistant': z.object({ system: z.string().optional(), user: z.string(), assistant: z.string() }),
  'prompt-completion': z.object({ prompt: z.string(), completion: z.string() }),
  'prompt-completion-conversational': z.object({ prompt: z.array(message), completion: z.array(message).min(1) }),
  alpaca: z.object({ instruction: z.string(), input: z.string().optional(), output: z.string() }),
  sharegpt: z.object({ conversations: z.array(sharegptTurn).min(1) }),
  text: z.object({ text: z.string() }),
} as const;

const formatPath = (path: readonly PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');

const A_TYPE: Record<string, string> = { string: 'a string', array: 'an array', object: 'an object', number: 'a number', boolean: 'a boolean' };

/** The first zod issue as a sentence, e.g. `messages[2].role must be one of system, user, assistant, got "bot"`. */
export function describeIssue(issue: z.core.$ZodIssue): { reason: RowErrorReason; detail: string } {
  const path = formatPath(issue.path);
  const hasInput = 'input' in issue;
  const input: unknown = hasInput ? issue.input : undefined;
  switch (issue.code) {
    case 'invalid_type':
      if (!hasInput || input === undefined) return { reason: 'missing-field', detail: `missing field "${path}"` };
      return { reason: 'wrong-type', detail: `${path} must be ${A_TYPE[issue.expected] ?? issue.expected}, got ${describeValue(input)}` };
    case 'invalid_value':
      return { reason: 'invalid-value', detail: `${path} must be one of ${issue.values.map(String).join(', ')}, got ${describeValue(input)}` };
    case 'too_small':
      return { reason: 'empty-content', detail: `${path} must not be empty` };
    default:
      return { reason: 'invalid-value', detail: `${path}: ${issue.message}` };
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, at: RowRef): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const { reason, detail } = describeIssue(issue);
  throw new DatasetError(reason, detail, at);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

// ---- detection ----

/** The formats whose keys a row carries. */
export function matchingFormats(row: Record<string, unknown>): RowFormat[] {
  return ROW_FORMATS.filter((f) => FORMAT_KEYS[f].every((k) => k in row));
}

const expectedList = (): string => ROW_FORMATS.map((f) => `${f} (${FORMAT_KEYS[f].join(' + ')})`).join(', ');

/**
 * `format: auto`: the format of the first rows. Each row that matches exactly one format votes;
 * the format with most votes wins, and rows of another shape then fail validation at their own
 * line (or are skipped and counted). A tie, rows that each match several formats, or no match at
 * all is an error that lists the keys seen and the formats expected.
 */
export function detectFormat(rows: readonly { at: RowRef; value: unknown }[]): RowFormat {
  const keysSeen = new Set<string>();
  const votes = new Map<RowFormat, { first: RowRef; count: number }>();
  let ambiguous: { at: RowRef; formats: RowFormat[] } | undefined;
  for (const { at, value } of rows) {
    if (!isObject(value)) continue;
    for (const k of Object.keys(value)) keysSeen.add(k);
    const formats = matchingFormats(value);
    if (formats.length === 1) {
      const vote = votes.get(formats[0]!);
      if (vote) vote.count++;
      else votes.set(formats[0]!, { first: at, count: 1 });
    } else if (formats.length > 1) ambiguous ??= { at, formats };
  }
  const ranked = [...votes].sort((a, b) => b[1].count - a[1].count);
  if (ranked.length === 1 || (ranked.length > 1 && ranked[0]![1].count > ranked[1]![1].count)) return ranked[0]![0];
  if (ranked.length > 1) {
    const seen = ranked.map(([f, v]) => `${f} (${v.count}, first at ${v.first.file}:${v.first.line})`).join(', ');
    throw new DatasetError('format', `cannot detect the dataset format: the first rows are as many of one format as of another: ${seen}; set dataset.format`);
  }
  const keys = keysSeen.size ? [...keysSeen].sort().join(', ') : 'none';
  if (ambiguous) {
    throw new DatasetError(
      'format',
      `cannot detect the dataset format: ${ambiguous.at.file}:${ambiguous.at.line} matches ${ambiguous.formats.join(' and ')}; keys seen: ${keys}; set dataset.format`,
    );
  }
  throw new DatasetError('format', `cannot detect the dataset format: keys seen: ${keys}; expected one of: ${expectedList()}`);
}

/** The row format a spec format means; `auto` detects it from the first rows. */
export function resolveFormat(format: SpecFormat, firstRows: readonly { at: RowRef; value: unknown }[]): RowFormat {
  return format === 'auto' ? detectFormat(firstRows) : format;
}

// ---- conversation checks (shared by messages, system/user/assistant, sharegpt, conversational prompt/completion) ----

function checkConversation(messages: readonly Message[], field: string, at: RowRef): void {
  messages.forEach((m, i) => {
    const where = `${field}[${i}]`;
    if (m.content.trim() === '') throw new DatasetError('empty-content', `${where}: empty ${m.role} turn`, at);
    if (m.role === 'system') {
      if (i !== 0) throw new DatasetError('turn-order', `${where}: a system turn must come first`, at);
      return;
    }
    const prev = messages[i - 1];
    if (!prev || prev.role === 'system') {
      if (m.role !== 'user') throw new DatasetError('turn-order', `${where}: the conversation must start with a user turn, got ${m.role}`, at);
    } else if (prev.role === m.role) throw new DatasetError('turn-order', `${where}: two ${m.role} turns in a row`, at);
  });
}

function nonEmpty(value: string, field: string, at: RowRef): string {
  if (value.trim() === '') throw new DatasetError('empty-content', `empty field "${field}"`, at);
  return value;
}

// ---- normalisation ----

function conversation(messages: Message[], field: string, at: RowRef): NormalizedRow {
  checkConversation(messages, field, at);
  if (messages.at(-1)!.role !== 'assistant') throw new DatasetError('no-assistant-turn', 'conversation must end with an assistant turn', at);
  return { kind: 'conversation', messages, completionStart: messages.length - 1 };
}

const SHAREGPT_ROLES: Record<string, Role> = { system: 'system', human: 'user', gpt: 'assistant' };

const normalizers: Record<RowFormat, (row: Record<string, unknown>, at: RowRef) => NormalizedRow> = {
  messages(row, at) {
    // The article's raw rows are conversations too: accept them under `messages`.
    if (!('messages' in row) && ('user' in row || 'assistant' in row)) return normalizers['system-user-assistant'](row, at);
    const { messages } = parseWith(rowSchemas.messages, row, at);
    return conversation(messages, 'messages', at);
  },
  'system-user-assistant'(row, at) {
    const r = parseWith(rowSchemas['system-user-assistant'], row, at);
    const messages: Message[] = [];
    if (r.system !== undefined) messages.push({ role: 'system', content: nonEmpty(r.system, 'system', at) });
    messages.push({ role: 'user', content: nonEmpty(r.user, 'user', at) });
    messages.push({ role: 'assistant', content: nonEmpty(r.assistant, 'assistant', at) });
    return { kind: 'conversation', messages, completionStart: messages.length - 1 };
  },
  'prompt-completion'(row, at) {
    if (Array.isArray(row.prompt) || Array.isArray(row.completion)) {
      if (!Array.isArray(row.prompt) || !Array.isArray(row.completion)) {
        throw new DatasetError('wrong-type', 'prompt and completion must both be strings or both be arrays of messages', at);
      }
      const r = parseWith(rowSchemas['prompt-completion-conversational'], row, at);
      const messages = [...r.prompt, ...r.completion];
      checkConversation(messages, 'prompt+completion', at);
      if (!r.completion.some((m) => m.role === 'assistant')) throw new DatasetError('no-assistant-turn', 'completion has no assistant turn', at);
      if (messages.at(-1)!.role !== 'assistant') throw new DatasetError('no-assistant-turn', 'conversation must end with an assistant turn', at);
      return { kind: 'conversation', messages, completionStart: r.prompt.length };
    }
    const r = parseWith(rowSchemas['prompt-completion'], row, at);
    return { kind: 'prompt-completion', prompt: r.prompt, completion: nonEmpty(r.completion, 'completion', at) };
  },
  alpaca(row, at) {
    const r = parseWith(rowSchemas.alpaca, row, at);
    const instruction = nonEmpty(r.instruction, 'instruction', at);
    const input = r.input?.trim() ? r.input : undefined;
    const messages: Message[] = [
      { role: 'user', content: input ? `${instruction}\n\n${input}` : instruction },
      { role: 'assistant', content: nonEmpty(r.output, 'output', at) },
    ];
    return { kind: 'conversation', messages, completionStart: 1 };
  },
  sharegpt(row, at) {
    const r = parseWith(rowSchemas.sharegpt, row, at);
    const messages = r.conversations.map((t) => ({ role: SHAREGPT_ROLES[t.from]!, content: t.value }));
    return conversation(messages, 'conversations', at);
  },
  text(row, at) {
    const r = parseWith(rowSchemas.text, row, at);
    return { kind: 'text', text: nonEmpty(r.text, 'text', at) };
  },
};

/** Validates a row against its format and normalises it; throws a DatasetError with `file:line`. */
export function normalizeRow(value: unknown, format: RowFormat, at: RowRef): NormalizedRow {
  if (!isObject(value)) throw new DatasetError('not-an-object', `row must be a JSON object, got ${describeValue(value)}`, at);
  return normalizers[format](value, at);
}

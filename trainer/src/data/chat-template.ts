// The model's chat template: loaded from tokenizer_config.json (a string, or the list of named
// templates, or a chat_template.jinja beside it), rendered with @huggingface/jinja, and the
// character spans of the assistant turns found by rendering prefixes of the conversation (what TRL
// does for templates without {% generation %} tags): the text rendered for messages[:i] with a
// generation prompt, subtracted from the text rendered for messages[:i+1], is assistant turn i.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { z } from 'zod';
import { DatasetError, type RowRef } from './errors.js';
import type { Message } from './formats.js';

/** [start, end) in UTF-16 code units of a JS string. */
export interface CharSpan {
  start: number;
  end: number;
}

// tokenizer_config.json, as far as we use it. Token fields are a string or an AddedToken object.
const tokenField = z
  .union([z.string(), z.object({ content: z.string() }).loose()])
  .nullish()
  .transform((t) => (t == null ? undefined : typeof t === 'string' ? t : t.content));
const tokenizerConfigSchema = z
  .object({
    chat_template: z.union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }).loose())]).optional(),
    bos_token: tokenField,
    eos_token: tokenField,
    pad_token: tokenField,
    unk_token: tokenField,
    add_bos_token: z.boolean().optional(),
    add_eos_token: z.boolean().optional(),
  })
  .loose();

export interface TokenizerConfig {
  /** The chat template source, or undefined for a model without one (a base model). */
  chatTemplate: string | undefined;
  bosToken: string | undefined;
  eosToken: string | undefined;
  padToken: string | undefined;
  unkToken: string | undefined;
}

/** Picks the template: a string as is; from the list form, the one named "default" (or the only one). */
export function pickChatTemplate(value: string | readonly { name: string; template: string }[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  const chosen = value.find((t) => t.name === 'default') ?? (value.length === 1 ? value[0] : undefined);
  if (!chosen) {
    throw new DatasetError('config', `tokenizer_config.json has several chat templates (${value.map((t) => t.name).join(', ')}) and none named "default"`);
  }
  return chosen.template;
}

/** Reads tokenizer_config.json in a model or tokenizer folder (and chat_template.jinja/.json when the config has no template). */
export function loadTokenizerConfig(dir: string): TokenizerConfig {
  const path = join(dir, 'tokenizer_config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DatasetError('config', `cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = tokenizerConfigSchema.safeParse(raw);
  if (!parsed.success) throw new DatasetError('config', `${path}: ${z.prettifyError(parsed.error)}`);
  const cfg = parsed.data;
  let chatTemplate = pickChatTemplate(cfg.chat_template);
  if (chatTemplate === undefined && existsSync(join(dir, 'chat_template.jinja'))) chatTemplate = readFileSync(join(dir, 'chat_template.jinja'), 'utf8');
  if (chatTemplate === undefined && existsSync(join(dir, 'chat_template.json'))) {
    const side = z.object({ chat_template: z.string() }).safeParse(JSON.parse(readFileSync(join(dir, 'chat_template.json'), 'utf8')));
    if (side.success) chatTemplate = side.data.chat_template;
  }
  return { chatTemplate, bosToken: cfg.bos_token, eosToken: cfg.eos_token, padToken: cfg.pad_token, unkToken: cfg.unk_token };
}

export class ChatTemplate {
  private readonly template: Template;
  private readonly specials: Record<string, string>;

  constructor(source: string, config: Partial<Pick<TokenizerConfig, 'bosToken' | 'eosToken' | 'padToken' | 'unkToken'>> = {}) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new DatasetError('config', `the chat template does not parse: ${(err as Error).message}`);
    }
    this.specials = {};
    if (config.bosToken !== undefined) this.specials.bos_token = config.bosToken;
    if (config.eosToken !== undefined) this.specials.eos_token = config.eosToken;
    if (config.padToken !== undefined) this.specials.pad_token = config.padToken;
    if (config.unkToken !== undefined) this.specials.unk_token = config.unkToken;
  }

  static fromConfig(config: TokenizerConfig): ChatTemplate | undefined {
    return config.chatTemplate === undefined ? undefined : new ChatTemplate(config.chatTemplate, config);
  }

  /** The conversation as the model sees it: add_generation_prompt false for training, true to prompt the model. */
  render(messages: readonly Message[], options: { addGenerationPrompt: boolean }, at?: RowRef): string {
    try {
      return this.template.render({
        ...this.specials,
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        // as transformers' apply_chat_template passes them: templates test `tools is not none`
        tools: null,
        documents: null,
        add_generation_prompt: options.addGenerationPrompt,
      });
    } catch (err) {
      throw new DatasetError('chat-template', `chat template: ${(err as Error).message}`, at);
    }
  }
}

export interface RenderedConversation {
  text: string;
  /** One span per assistant turn, in order: the turn's content and its end-of-turn token(s). */
  assistantSpans: CharSpan[];
  /** messages[completionStart:] as rendered after the generation prompt for messages[:completionStart]. */
  completionSpan: CharSpan;
}

function prefixOf(prefix: string, text: string, what: string, at: RowRef | undefined): void {
  if (!text.startsWith(prefix)) {
    throw new DatasetError('chat-template', `chat template: ${what} is not a prefix of the rendered conversation; cannot locate the trained tokens`, at);
  }
}

/**
 * Renders a conversation and finds its assistant turns and its completion by rendering prefixes,
 * and checks each span: every prefix rendering must be a prefix of the whole text, and each
 * assistant span must contain the turn's content (trimmed, as templates often trim it).
 */
export function renderConversation(template: ChatTemplate, messages: readonly Message[], completionStart: number, at?: RowRef): RenderedConversation {
  const text = template.render(messages, { addGenerationPrompt: false }, at);
  const prompts = new Map<number, number>();
  const spanAfterPrompt = (i: number, end: number): CharSpan => {
    let start = prompts.get(i);
    if (start === undefined) {
      const prompt = template.render(messages.slice(0, i), { addGenerationPrompt: true }, at);
      prefixOf(prompt, text, `the generation prompt for messages[:${i}]`, at);
      start = prompt.length;
      prompts.set(i, start);
    }
    return { start, end };
  };
  const assistantSpans: CharSpan[] = [];
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const upTo = i === messages.length - 1 ? text : template.render(messages.slice(0, i + 1), { addGenerationPrompt: false }, at);
    prefixOf(upTo, text, `the rendering of messages[:${i + 1}]`, at);
    const span = spanAfterPrompt(i, upTo.length);
    if (span.end < span.start || !text.slice(span.start, span.end).includes(m.content.trim())) {
      throw new DatasetError('chat-template', `chat template: the content of assistant turn messages[${i}] is not where the template's prefixes put it`, at);
    }
    assistantSpans.push(span);
  });
  return { text, assistantSpans, completionSpan: spanAfterPrompt(completionStart, text.length) };
}

// A normalised row as the text the model trains on, and the character spans the loss mode trains:
// conversations through the chat template (assistant turns, or the completion), plain
// prompt/completion and text rows as the strings themselves followed by the eos token (as TRL does).
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import { renderConversation, type CharSpan, type ChatTemplate } from './chat-template.js';
import { DatasetError, type RowRef } from './errors.js';
import type { NormalizedRow, RowFormat } from './formats.js';

export type LossMode = FineTuneJobSpec['training']['loss'];

export interface RenderedExample {
  text: string;
  /**
   * Let the tokenizer add its special tokens (its post-processor's BOS): true for plain strings;
   * false for chat-template output, which carries its own BOS.
   */
  addSpecialTokens: boolean;
  /** What the loss trains on: every token, or the tokens overlapping these spans. */
  trained: 'all' | CharSpan[];
}

export interface RenderContext {
  loss: LossMode;
  /** The model's chat template; undefined for a model without one. */
  template: ChatTemplate | undefined;
  /** Appended to plain text and completions, unless already there. */
  eosToken: string | undefined;
}

/** Loss `assistant` and `completion` need something that is not the prompt: plain text has nothing. */
export function checkLossForFormat(loss: LossMode, format: RowFormat): void {
  if (format === 'text' && loss !== 'all') {
    throw new DatasetError(
      'config',
      `training.loss "${loss}" trains on assistant turns or completions, but format "text" has neither: set training.loss to "all" or use a conversational or prompt-completion dataset`,
    );
  }
}

const withEos = (text: string, eos: string | undefined): string => (eos === undefined || text.endsWith(eos) ? text : text + eos);

export function renderExample(row: NormalizedRow, ctx: RenderContext, at?: RowRef): RenderedExample {
  switch (row.kind) {
    case 'conversation': {
      if (!ctx.template) {
        throw new DatasetError(
          'config',
          'the model has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja): conversational rows need one; use plain prompt/completion or text rows',
        );
      }
      if (ctx.loss === 'all') return { text: ctx.template.render(row.messages, { addGenerationPrompt: false }, at), addSpecialTokens: false, trained: 'all' };
      const r = renderConversation(ctx.template, row.messages, row.completionStart, at);
      return { text: r.text, addSpecialTokens: false, trained: ctx.loss === 'assistant' ? r.assistantSpans : [r.completionSpan] };
    }
    case 'prompt-completion': {
      const text = withEos(row.prompt + row.completion, ctx.eosToken);
      return { text, addSpecialTokens: true, trained: ctx.loss === 'all' ? 'all' : [{ start: row.prompt.length, end: text.length }] };
    }
    case 'text': {
      if (ctx.loss !== 'all') checkLossForFormat(ctx.loss, 'text');
      return { text: withEos(row.text, ctx.eosToken), addSpecialTokens: true, trained: 'all' };
    }
  }
}

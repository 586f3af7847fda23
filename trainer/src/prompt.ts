// A chat prompt for generation with the model's own template (add_generation_prompt), the tokens that
// end the answer, and a decoder.
import { ChatTemplate } from './data/chat-template.js';
import type { ModelTokenizer } from './data/model-tokenizer.js';

export interface ChatPrompt {
  ids: number[];
  stopIds: number[];
  decode: (ids: number[]) => Promise<string>;
}

export async function chatPrompt(base: ModelTokenizer, user: string, system?: string): Promise<ChatPrompt> {
  const template = ChatTemplate.fromConfig(base.config);
  if (!template) throw new Error(base.noTemplate);
  const messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: user }];
  const text = template.render(messages, { addGenerationPrompt: true });
  const { ids } = await base.tokenizer.encode(text, false);
  return { ids: [...ids], stopIds: base.stopIds, decode: (out) => base.tokenizer.decode(out, true) };
}

// A chat prompt for generation with the model's own template (add_generation_prompt), and a decoder.
import { ChatTemplate, loadTokenizerConfig } from './data/chat-template.js';
import { TextTokenizer } from './data/tokenize.js';

export interface ChatPrompt {
  ids: number[];
  decode: (ids: number[]) => Promise<string>;
}

export async function chatPrompt(modelDir: string, user: string, system?: string): Promise<ChatPrompt> {
  const template = ChatTemplate.fromConfig(loadTokenizerConfig(modelDir));
  if (!template) throw new Error(`${modelDir}/tokenizer_config.json has no chat_template`);
  const tokenizer = TextTokenizer.fromDir(modelDir);
  const messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: user }];
  const text = template.render(messages, { addGenerationPrompt: true });
  const { ids } = await tokenizer.encode(text, false);
  return { ids: [...ids], decode: (out) => tokenizer.decode(out, true) };
}

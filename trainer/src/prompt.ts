// A chat prompt for generation with the model's own template (add_generation_prompt), the tokens that
// end the answer (generation_config.json's eos_token_id, as transformers' generate uses; a .gguf's EOS
// token, as llama.cpp stops), and a decoder.
import { isGgufPath } from '@loraplane/api/finetunejob';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatTemplate } from './data/chat-template.js';
import { loadModelTokenizer } from './data/model-tokenizer.js';

export interface ChatPrompt {
  ids: number[];
  stopIds: number[];
  decode: (ids: number[]) => Promise<string>;
}

export async function chatPrompt(modelDir: string, user: string, system?: string): Promise<ChatPrompt> {
  const { tokenizer, config } = loadModelTokenizer(modelDir);
  const template = ChatTemplate.fromConfig(config);
  if (!template)
    throw new Error(
      isGgufPath(modelDir) ? `${modelDir} has no tokenizer.chat_template in its metadata` : `${modelDir}/tokenizer_config.json has no chat_template`,
    );
  const messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: user }];
  const text = template.render(messages, { addGenerationPrompt: true });
  const { ids } = await tokenizer.encode(text, false);
  const eos = config.eosToken === undefined ? undefined : tokenizer.tokenToId(config.eosToken);
  const stopIds = isGgufPath(modelDir) ? (eos === undefined ? [] : [eos]) : stopIdsOf(modelDir);
  return { ids: [...ids], stopIds, decode: (out) => tokenizer.decode(out, true) };
}

function stopIdsOf(modelDir: string): number[] {
  const path = join(modelDir, 'generation_config.json');
  if (!existsSync(path)) return [];
  const eos = (JSON.parse(readFileSync(path, 'utf8')) as { eos_token_id?: number | number[] }).eos_token_id;
  return eos === undefined ? [] : [eos].flat();
}

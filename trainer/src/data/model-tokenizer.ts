// The base model's tokenizer, resolved once from wherever the model is: a Hugging Face folder (tokenizer.json,
// tokenizer_config.json, generation_config.json) or a .gguf file (its metadata, rebuilt by gguf-tokenizer.ts).
// Data preparation, prompts and the adapter folder's tokenizer files all take it from here, so nothing else
// asks which kind of base model it is.
import { isGgufPath } from '@loraplane/api/finetunejob';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ggufMetadata } from '@loraplane/native/runtime';
import { type TokenizerConfig, loadTokenizerConfig } from './chat-template.js';
import { DatasetError } from './errors.js';
import { type GgufTokenizerFiles, ggufTokenizerFiles } from './gguf-tokenizer.js';
import { TextTokenizer } from './tokenize.js';

export interface ModelTokenizer {
  tokenizer: TextTokenizer;
  config: TokenizerConfig;
  /** The error when a chat template is needed and the model has none. */
  noTemplate: string;
  /** The tokens that end a generated answer: generation_config.json's eos_token_id, as transformers' generate
   * uses, or a .gguf's EOS token, as llama.cpp stops. */
  stopIds: number[];
  /** Writes the tokenizer files an adapter folder carries: the base folder's own, or for a .gguf the files its
   * metadata implies, so that transformers loads the adapter's tokenizer without the GGUF. */
  writeFiles(dir: string): void;
}

// What tokenizer.save_pretrained writes for a fast or a slow tokenizer.
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
];

/** tokenizer.json and tokenizer_config.json of a .gguf file; errors name the file. */
export function ggufTokenizer(path: string): GgufTokenizerFiles {
  let metadata: ReturnType<typeof ggufMetadata>;
  try {
    metadata = ggufMetadata(path);
  } catch (err) {
    // The reader's message names the file and what is wrong; drop its source location.
    throw new DatasetError(
      'config',
      `cannot read the metadata of the GGUF: ${(err as Error).message.replace(/\s*\(check `[\s\S]*` failed in [\s\S]*\)\s*$/, '')}`,
    );
  }
  return ggufTokenizerFiles(metadata, path);
}

function generationStopIds(modelDir: string): number[] {
  const path = join(modelDir, 'generation_config.json');
  if (!existsSync(path)) return [];
  const eos = (JSON.parse(readFileSync(path, 'utf8')) as { eos_token_id?: number | number[] }).eos_token_id;
  return eos === undefined ? [] : [eos].flat();
}

/** The tokenizer of a base model's folder or .gguf file. */
export function loadModelTokenizer(modelPath: string): ModelTokenizer {
  if (!isGgufPath(modelPath))
    return {
      tokenizer: TextTokenizer.fromDir(modelPath),
      config: loadTokenizerConfig(modelPath),
      noTemplate: `${modelPath}/tokenizer_config.json has no chat_template`,
      stopIds: generationStopIds(modelPath),
      writeFiles: (dir) => {
        for (const f of TOKENIZER_FILES) if (existsSync(join(modelPath, f))) copyFileSync(join(modelPath, f), join(dir, f));
      },
    };
  const gguf = ggufTokenizer(modelPath);
  const tokenizer = TextTokenizer.fromJson(gguf.tokenizerJson, modelPath);
  const eos = gguf.config.eosToken === undefined ? undefined : tokenizer.tokenToId(gguf.config.eosToken);
  return {
    tokenizer,
    config: gguf.config,
    noTemplate: `${modelPath} has no tokenizer.chat_template in its metadata`,
    stopIds: eos === undefined ? [] : [eos],
    writeFiles: (dir) => {
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(gguf.tokenizerJson));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(gguf.tokenizerConfigJson, null, 2));
    },
  };
}

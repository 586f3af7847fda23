// The base model's tokenizer and tokenizer config, from wherever the model is: a Hugging Face folder
// (tokenizer.json, tokenizer_config.json) or a .gguf file (its metadata, rebuilt by gguf-tokenizer.ts).
import { isGgufPath } from '@loraplane/api/finetunejob';
import { ggufMetadata } from '@loraplane/native/runtime';
import { type TokenizerConfig, loadTokenizerConfig } from './chat-template.js';
import { DatasetError } from './errors.js';
import { type GgufTokenizerFiles, ggufTokenizerFiles } from './gguf-tokenizer.js';
import { TextTokenizer } from './tokenize.js';

export interface ModelTokenizer {
  tokenizer: TextTokenizer;
  config: TokenizerConfig;
  /** For a .gguf: the tokenizer files it implies, written beside the adapter so that it loads without the GGUF. */
  gguf?: GgufTokenizerFiles;
}

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

export function loadModelTokenizer(modelPath: string): ModelTokenizer {
  if (!isGgufPath(modelPath)) return { tokenizer: TextTokenizer.fromDir(modelPath), config: loadTokenizerConfig(modelPath) };
  const gguf = ggufTokenizer(modelPath);
  return { tokenizer: TextTokenizer.fromJson(gguf.tokenizerJson, modelPath), config: gguf.config, gguf };
}

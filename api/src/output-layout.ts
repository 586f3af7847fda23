// Where each of spec.output.formats lies in the output folder, and so in the stored artifact: the trainer
// writes these names, the operator finds each format's files in the artifact's manifest by them.
import { OUTPUT_FORMATS, type OutputFormat } from './finetunejob.js';

export const PEFT_FILES = ['adapter_config.json', 'adapter_model.safetensors'] as const;
/** The GGUF LoRA adapter (llama.cpp --lora, Ollama ADAPTER). */
export const GGUF_ADAPTER_FILE = 'adapter.gguf';
/** The merged model as a Hugging Face folder (config.json, safetensors, tokenizer files). */
export const MERGED_DIR = 'merged';
/** The merged model as one GGUF file with its tokenizer (llama.cpp -m, Ollama FROM). */
export const MERGED_GGUF_FILE = 'merged.gguf';

/** The format a file of the artifact belongs to; undefined for the shared extras (tokenizer, model card, metrics). */
export function formatOf(path: string): OutputFormat | undefined {
  if ((PEFT_FILES as readonly string[]).includes(path)) return 'peft';
  if (path === GGUF_ADAPTER_FILE) return 'gguf';
  if (path === MERGED_GGUF_FILE || path.startsWith(`${MERGED_DIR}/`)) return 'merged';
  return undefined;
}

/** The formats an artifact's files hold, each with its files in their order: what LoraAdapter.status.formats shows. */
export function formatsOf<F extends { path: string }>(files: readonly F[]): { format: OutputFormat; files: F[] }[] {
  return OUTPUT_FORMATS.map((format) => ({ format, files: files.filter((f) => formatOf(f.path) === format) })).filter((f) => f.files.length > 0);
}

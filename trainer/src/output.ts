// The finished adapter as a directory: PEFT files, the formats spec.output.formats adds (api/output-layout), the
// tokenizer, training_metrics.json and a model card.
// Uploading it (manifest last) is the storage layer's job; the digest is that of the weights file.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GGUF_ADAPTER_FILE, MERGED_DIR, MERGED_GGUF_FILE } from '@loraplane/api/output-layout';
import { digestFile, toPrefixed } from '@loraplane/storage/digest';
import type { QLoraModel } from '@loraplane/native/runtime';
import type { LoopResult } from './loop.js';
import type { ModelTokenizer } from './data/model-tokenizer.js';
import { modelCard, type CardInput } from './model-card.js';

async function sha256File(path: string): Promise<string> {
  return toPrefixed((await digestFile(path)).sha256);
}

/** A file's digest, or for a folder the digest of its files' relative paths and digests, in order. */
export async function sha256Path(path: string): Promise<string> {
  if (!statSync(path).isDirectory()) return sha256File(path);
  const files = (readdirSync(path, { recursive: true }) as string[]).filter((f) => statSync(join(path, f)).isFile()).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0${await sha256File(join(path, f))}\n`);
  return `sha256:${hash.digest('hex')}`;
}

export interface WrittenOutput {
  dir: string;
  digest: string;
  sizeBytes: number;
  metrics: Record<string, number>;
}

export async function writeOutput(
  dir: string,
  model: QLoraModel,
  baseTokenizer: ModelTokenizer,
  loop: LoopResult,
  card: Omit<CardInput, 'steps' | 'trainLoss' | 'evalLoss'>,
): Promise<WrittenOutput> {
  mkdirSync(dir, { recursive: true });
  await model.saveAdapter(dir, card.spec.baseModel.name);
  // The extra formats (spec.output.formats) beside the PEFT files; the manifest lists them with their digests.
  const formats = card.spec.output.formats;
  if (formats.includes('gguf')) await model.exportGgufAdapter(join(dir, GGUF_ADAPTER_FILE), card.spec.baseModel.name);
  if (formats.includes('merged')) {
    await model.exportMerged(join(dir, MERGED_DIR));
    baseTokenizer.writeFiles(join(dir, MERGED_DIR));
    await model.exportMergedGguf(join(dir, MERGED_GGUF_FILE), card.spec.baseModel.name);
  }
  baseTokenizer.writeFiles(dir);
  const last = loop.history.at(-1);
  const metrics: Record<string, number> = {
    steps: loop.step,
    ...(last ? { trainLoss: last.loss } : {}),
    ...(loop.finalEvalLoss !== undefined ? { evalLoss: loop.finalEvalLoss, perplexity: Math.exp(loop.finalEvalLoss) } : {}),
    trainRows: card.trainRows,
    validationRows: card.validationRows,
  };
  writeFileSync(join(dir, 'training_metrics.json'), JSON.stringify({ metrics, bestStep: loop.bestStep, history: loop.history }, null, 2));
  writeFileSync(join(dir, 'README.md'), modelCard({ ...card, steps: loop.step, trainLoss: last?.loss, evalLoss: loop.finalEvalLoss }));
  const weights = join(dir, 'adapter_model.safetensors');
  return { dir, digest: await sha256File(weights), sizeBytes: statSync(weights).size, metrics };
}

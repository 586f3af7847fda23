// The QLoRA runtime's TypeScript API: validated options in, typed results out. Every long call runs
// on a libuv worker, so the event loop (metrics, signals) stays responsive during a training step.
import { loadNative, type NativeBatch, type NativeBuildInfo, type NativeModel, type NativeModelInfo, type NativeStepStats } from './binding.js';
import {
  generateOptions,
  groupOptions,
  loadOptions,
  trainingOptions,
  type GenerateOptions,
  type GroupOptions,
  type LoadOptions,
  type TrainingOptions,
} from './options.js';

export { generateOptions, groupOptions, loadOptions, trainingOptions, type GenerateOptions, type GroupOptions, type LoadOptions, type TrainingOptions };

/** Token rows for the runtime. labels follow Hugging Face (unshifted, -100 = ignored). */
export interface Batch {
  inputIds: number[][] | Int32Array;
  labels?: number[][] | Int32Array;
  /** Restart at 0 where a packed document begins; omitted = 0..T-1 per row. */
  positionIds?: number[][] | Int32Array;
  /** Needed with flat Int32Arrays. */
  rows?: number;
}

function flatten(name: string, value: number[][] | Int32Array, rows: number, tokens: number): Int32Array {
  const flat = value instanceof Int32Array ? value : Int32Array.from(value.flat());
  if (!(value instanceof Int32Array) && value.some((r) => r.length !== tokens)) {
    throw new Error(`Expected every row of ${name} to have ${tokens} tokens`);
  }
  if (flat.length !== rows * tokens) throw new Error(`Expected ${rows * tokens} values for ${name} but received ${flat.length}`);
  return flat;
}

export function toNativeBatch(batch: Batch, vocabSize: number): NativeBatch {
  const rows = batch.inputIds instanceof Int32Array ? (batch.rows ?? 1) : batch.inputIds.length;
  const total = batch.inputIds.length === 0 ? 0 : batch.inputIds instanceof Int32Array ? batch.inputIds.length : batch.inputIds.flat().length;
  if (rows < 1 || total === 0 || total % rows !== 0) throw new Error(`Expected a non-empty batch of equal rows but received ${total} ids in ${rows} rows`);
  const tokens = total / rows;
  const inputIds = flatten('inputIds', batch.inputIds, rows, tokens);
  const bad = inputIds.findIndex((id) => id < 0 || id >= vocabSize);
  if (bad >= 0) throw new Error(`Expected token ids in [0, ${vocabSize}) but inputIds[${bad}] is ${inputIds[bad]}`);
  return {
    rows,
    tokens,
    inputIds,
    labels: batch.labels ? flatten('labels', batch.labels, rows, tokens) : undefined,
    positionIds: batch.positionIds ? flatten('positionIds', batch.positionIds, rows, tokens) : undefined,
  };
}

export class QLoraModel {
  private constructor(
    private readonly native: NativeModel,
    readonly info: NativeModelInfo,
  ) {}

  /** Loads an HF model directory, quantizes it (NF4 by default) and attaches fresh LoRA adapters. */
  static async load(modelDir: string, options: LoadOptions = {}): Promise<QLoraModel> {
    const native = await loadNative().NativeModel.load(modelDir, loadOptions.parse(options));
    return new QLoraModel(native, native.info());
  }

  configureTraining(options: TrainingOptions): void {
    this.native.configureTraining(trainingOptions.parse(options));
  }

  /**
   * One optimizer step over the micro-batches (gradient accumulation); loss normalised over all their valid tokens.
   * In a group (joinGroup) every rank calls it together with its share of the step's micro-batches (possibly
   * none: []); tokens and loss are then the group's, and every rank takes the same optimizer step.
   */
  async step(microBatches: Batch[]): Promise<NativeStepStats> {
    if (!Array.isArray(microBatches)) throw new Error(`Expected an array of micro-batches for step but received ${typeof microBatches}`);
    return this.native.step(microBatches.map((b) => toNativeBatch(b, this.info.vocabSize)));
  }

  /**
   * Joins the data-parallel group as options.rank of options.worldSize; resolves once every rank has joined.
   * Every rank must load the same model with the same options. Gloo on the cpu backend, NCCL on cuda.
   */
  async joinGroup(options: GroupOptions): Promise<void> {
    return this.native.joinGroup(groupOptions.parse(options));
  }

  /** The element-wise sum of values over the group's ranks (each rank passes the same length); also a barrier. */
  async allReduceSum(values: Float32Array): Promise<Float32Array> {
    if (!(values instanceof Float32Array)) throw new Error(`Expected a Float32Array for allReduceSum but received ${typeof values}`);
    return this.native.allReduceSum(values);
  }

  async evaluate(batch: Batch): Promise<{ loss: number; tokens: number; perplexity: number }> {
    const { lossSum, tokens } = await this.native.evaluate(toNativeBatch(batch, this.info.vocabSize));
    const loss = tokens ? lossSum / tokens : Number.NaN;
    return { loss, tokens, perplexity: Math.exp(loss) };
  }

  /** Logits (rows, tokens, vocab), flattened. */
  async logits(batch: Batch): Promise<Float32Array> {
    return this.native.logits(toNativeBatch(batch, this.info.vocabSize));
  }

  async generate(prompt: number[], options: GenerateOptions = {}): Promise<number[]> {
    const parsed = generateOptions.parse(options);
    const out = await this.native.generate(Int32Array.from(prompt), { ...parsed, stopIds: Int32Array.from(parsed.stopIds) });
    return Array.from(out);
  }

  saveAdapter(dir: string, baseModelName: string): Promise<void> {
    return this.native.saveAdapter(dir, baseModelName);
  }

  loadAdapter(dir: string): Promise<void> {
    return this.native.loadAdapter(dir);
  }

  /** The base with the adapter merged (W + scaling·B·A over the dequantized base, fp32) as an HF folder in safetensors;
   * the caller writes the tokenizer files beside it. */
  exportMerged(dir: string): Promise<void> {
    return this.native.exportMerged(dir);
  }

  /** The adapter as a GGUF LoRA file (F32) for llama.cpp's --lora, as convert_lora_to_gguf.py writes it. */
  exportGgufAdapter(path: string, baseModelName: string): Promise<void> {
    return this.native.exportGgufAdapter(path, baseModelName);
  }

  /** The merged model (as exportMerged) as one F32 GGUF file with the tokenizer's metadata, for llama.cpp and Ollama. */
  exportMergedGguf(path: string, baseModelName: string): Promise<void> {
    return this.native.exportMergedGguf(path, baseModelName);
  }

  saveTrainerState(path: string): Promise<void> {
    return this.native.saveTrainerState(path);
  }

  loadTrainerState(path: string): Promise<void> {
    return this.native.loadTrainerState(path);
  }

  loraParameters(): { name: string; shape: number[]; value: Float32Array }[] {
    return this.native.loraParameters();
  }

  setAdaptersEnabled(on: boolean): void {
    this.native.setAdaptersEnabled(on);
  }

  free(): void {
    this.native.free();
  }
}

export function buildInfo(): NativeBuildInfo {
  return loadNative().buildInfo();
}

/** A metadata value of a .gguf file: integers and floats as numbers, bools, strings, and arrays of these. */
export type GgufValue = number | boolean | string | GgufValue[];

/**
 * The metadata of a .gguf file (key → value, in file order), read by the reader that loads the model
 * from it; the whole file is validated first, so a malformed one throws naming the file. 64-bit integers
 * past 2^53 come as the nearest double (no tokenizer key holds one).
 */
export function ggufMetadata(path: string): Record<string, GgufValue> {
  return JSON.parse(loadNative().ggufMetadata(path)) as Record<string, GgufValue>;
}

/** The backends this build of the runtime has: ['cpu'] or ['cpu', 'cuda']. A model's info.backend says which one it runs on. */
export function backends(): string[] {
  return buildInfo().backends;
}

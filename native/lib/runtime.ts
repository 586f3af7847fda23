// The QLoRA runtime's TypeScript API: validated options in, typed results out. Every long call runs
// on a libuv worker, so the event loop (metrics, signals) stays responsive during a training step.
import { z } from 'zod';
import { loadNative, type NativeBatch, type NativeBuildInfo, type NativeModel, type NativeModelInfo, type NativeStepStats } from './binding.js';

const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

const backendKind = z.enum(['auto', 'cpu', 'cuda']);
function backendFromEnv(): z.infer<typeof backendKind> {
  const raw = process.env.LORAPLANE_BACKEND;
  if (raw === undefined || raw === '') return 'auto';
  const parsed = backendKind.safeParse(raw);
  if (!parsed.success) throw new Error(`Expected auto, cpu or cuda for LORAPLANE_BACKEND but received "${raw}"`);
  return parsed.data;
}

export const loadOptions = z
  .object({
    quantize: z.boolean().default(true),
    quantType: z.enum(['nf4', 'fp4']).default('nf4'),
    doubleQuant: z.boolean().default(true),
    blockSize: z.number().int().refine((b) => [32, 64, 128, 256, 512, 1024, 2048, 4096].includes(b), 'a power of two in 32..4096').default(64),
    activationCheckpointing: z.boolean().default(true),
    /** auto: cuda when built with it and a GPU answers, else cpu. Default: LORAPLANE_BACKEND, else auto. */
    backend: backendKind.default(() => backendFromEnv()),
    /** The CUDA backend's GEMMs: bf16 tensor cores with fp32 accumulation, or fp32 throughout. */
    precision: z.enum(['bf16', 'fp32']).default('bf16'),
    lora: z
      .object({
        r: z.number().int().min(1).max(1024).default(16),
        alpha: z.number().positive().default(32),
        dropout: z.number().min(0).lt(1).default(0.05),
        useRslora: z.boolean().default(false),
        seed: z.number().int().min(0).default(42),
        targetModules: z.array(z.enum(TARGET_MODULES)).min(1).default([...TARGET_MODULES]),
      })
      .strict()
      // prefault: an omitted lora is parsed as {}, so the defaults above are the only list of them.
      .prefault({}),
  })
  .strict();
export type LoadOptions = z.input<typeof loadOptions>;

export const trainingOptions = z
  .object({
    learningRate: z.number().positive(),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0),
    maxGradNorm: z.number().positive().default(1),
    lrScheduler: z.enum(['linear', 'cosine', 'constant']).default('cosine'),
    warmupSteps: z.number().int().min(0).default(0),
    totalSteps: z.number().int().min(1),
  })
  .strict();
export type TrainingOptions = z.input<typeof trainingOptions>;

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

  /** One optimizer step over the micro-batches (gradient accumulation); loss normalised over all their valid tokens. */
  async step(microBatches: Batch[]): Promise<NativeStepStats> {
    return this.native.step(microBatches.map((b) => toNativeBatch(b, this.info.vocabSize)));
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

  async generate(prompt: number[], options: { maxNewTokens?: number; temperature?: number; topP?: number; seed?: number; stopIds?: number[] } = {}): Promise<number[]> {
    const out = await this.native.generate(Int32Array.from(prompt), { ...options, stopIds: options.stopIds ? Int32Array.from(options.stopIds) : undefined });
    return Array.from(out);
  }

  saveAdapter(dir: string, baseModelName: string): Promise<void> {
    return this.native.saveAdapter(dir, baseModelName);
  }

  loadAdapter(dir: string): Promise<void> {
    return this.native.loadAdapter(dir);
  }

  exportMerged(dir: string): Promise<void> {
    return this.native.exportMerged(dir);
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

/** The backends this build of the runtime has: ['cpu'] or ['cpu', 'cuda']. A model's info.backend says which one it runs on. */
export function backends(): string[] {
  return buildInfo().backends;
}

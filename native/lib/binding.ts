// The raw native module: its typed declaration and a loader that says what failed and how to fix it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import type { generateOptions, groupOptions, loadOptions, trainingOptions } from './options.js';

export interface NativeBatch {
  rows: number;
  tokens: number;
  inputIds: Int32Array;
  labels?: Int32Array;
  positionIds?: Int32Array;
}

/** The options as the native side takes them: parsed by options.ts's schemas, every key present. */
export type NativeLoadOptions = z.output<typeof loadOptions>;
export type NativeOptimOptions = z.output<typeof trainingOptions>;
export type NativeGroupOptions = z.output<typeof groupOptions>;
export type NativeGenerateOptions = Omit<z.output<typeof generateOptions>, 'stopIds'> & { stopIds: Int32Array };

export interface NativeStepStats {
  loss: number;
  gradNorm: number;
  learningRate: number;
  tokens: number;
  step: number;
  /** The most memory the model's backend held during the step (GPU memory on cuda). */
  peakMemoryBytes: number;
}

export interface NativeModelInfo {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  attentionHeads: number;
  keyValueHeads: number;
  baseBytes: number;
  trainableParameters: number;
  /** The backend the model runs on, and what it runs on (the GPU's name on cuda). */
  backend: 'cpu' | 'cuda';
  device: string;
}

export interface NativeModel {
  info(): NativeModelInfo;
  configureTraining(options: NativeOptimOptions): void;
  /** One optimizer step; in a group (joinGroup) as one rank of it, and then microBatches may be empty. */
  step(microBatches: NativeBatch[]): Promise<NativeStepStats>;
  /** Joins the data-parallel group: resolves once every rank has joined (rejects past joinTimeoutMs). */
  joinGroup(options: NativeGroupOptions): Promise<void>;
  /** The element-wise sum over the group's ranks (every rank calls it with the same length). */
  allReduceSum(values: Float32Array): Promise<Float32Array>;
  evaluate(batch: NativeBatch): Promise<{ lossSum: number; tokens: number }>;
  logits(batch: NativeBatch): Promise<Float32Array>;
  generate(prompt: Int32Array, options: NativeGenerateOptions): Promise<Int32Array>;
  saveAdapter(dir: string, baseModelName: string): Promise<void>;
  loadAdapter(dir: string): Promise<void>;
  exportMerged(dir: string): Promise<void>;
  exportGgufAdapter(path: string, baseModelName: string): Promise<void>;
  exportMergedGguf(path: string, baseModelName: string): Promise<void>;
  saveTrainerState(path: string): Promise<void>;
  loadTrainerState(path: string): Promise<void>;
  loraParameters(): { name: string; shape: number[]; value: Float32Array }[];
  setAdaptersEnabled(on: boolean): void;
  free(): void;
}

export interface NativeBuildInfo {
  /** The backends compiled in: ['cpu'] or ['cpu', 'cuda']. */
  backends: string[];
  /** What backend 'auto' takes on this machine now; backendNote says why when a CUDA build takes cpu. */
  backend: string;
  backendNote?: string;
  gemm: string;
  openmp: boolean;
}

export interface NativeModule {
  buildInfo(): NativeBuildInfo;
  /** A .gguf file's metadata as a JSON string (one object, in file order); throws naming the file and what is wrong. */
  ggufMetadata(path: string): string;
  NativeModel: { load(modelDir: string, options: NativeLoadOptions): Promise<NativeModel> };
}

const here = dirname(fileURLToPath(import.meta.url));
// From native/lib (sources) or native/dist (compiled): the addon lives in native/build/addon.
const CANDIDATES = [join(here, '../build/addon/Release/loraplane.node')];

let cached: NativeModule | undefined;

export function loadNative(): NativeModule {
  if (cached) return cached;
  const path = process.env.LORAPLANE_ADDON ? resolve(process.env.LORAPLANE_ADDON) : CANDIDATES.find((p) => existsSync(p));
  if (!path) {
    throw new Error(
      `loraplane's native addon is not built (looked for ${CANDIDATES.join(', ')}). ` +
        'Build it with `npm run build:native` (needs CMake >= 3.18 and a C++17 compiler), or set LORAPLANE_ADDON to its path.',
    );
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeModule;
  } catch (err) {
    throw new Error(`loraplane's native addon at ${path} failed to load: ${(err as Error).message}. Rebuild it with \`npm run build:native\`.`);
  }
  return cached;
}

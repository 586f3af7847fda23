// The runtime's options, declared once: each key with its type, its bounds and its default. runtime.ts
// parses what callers pass; binding.ts types the native calls with the parsed result (z.output: every
// key present); the addon (src/addon/convert.cc) requires every key and names any that is missing, so
// no default lives anywhere else.
import { z } from 'zod';

export const TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

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
    blockSize: z
      .number()
      .int()
      .refine((b) => [32, 64, 128, 256, 512, 1024, 2048, 4096].includes(b), 'a power of two in 32..4096')
      .default(64),
    activationCheckpointing: z.boolean().default(true),
    /** auto: cuda when built with it and a GPU answers, else cpu. Default: LORAPLANE_BACKEND, else auto. */
    backend: backendKind.default(() => backendFromEnv()),
    /** The GEMMs: bf16 with fp32 accumulation (on the CPU the 4-bit projections only, as bitsandbytes' bf16 compute dtype), or fp32 throughout. */
    precision: z.enum(['bf16', 'fp32']).default('bf16'),
    lora: z
      .object({
        r: z.number().int().min(1).max(1024).default(16),
        alpha: z.number().positive().default(32),
        dropout: z.number().min(0).lt(1).default(0.05),
        useRslora: z.boolean().default(false),
        seed: z.number().int().min(0).default(42),
        targetModules: z
          .array(z.enum(TARGET_MODULES))
          .min(1)
          .default([...TARGET_MODULES]),
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

/** Sampling (transformers' logits processors): temperature 0 is greedy; generation stops after a stop id. */
export const generateOptions = z
  .object({
    maxNewTokens: z.number().int().min(0).default(32),
    temperature: z.number().min(0).default(0),
    topP: z.number().gt(0).max(1).default(1),
    seed: z.number().int().min(0).default(0),
    stopIds: z.array(z.number().int()).default([]),
  })
  .strict();
export type GenerateOptions = z.input<typeof generateOptions>;

/**
 * A data-parallel group: one process per rank, every rank loading the same model with the same options.
 * Rank 0 serves the rendezvous on masterPort; every rank (rank 0 too) reaches it at masterAddr.
 */
export const groupOptions = z
  .object({
    rank: z.number().int().min(0),
    worldSize: z.number().int().min(1),
    /** Rank 0's address (DNS name or IP), reachable from every rank; unused when worldSize is 1. */
    masterAddr: z.string().default(''),
    masterPort: z.number().int().min(0).max(65535).default(0),
    /** How long to wait for every rank to join. */
    joinTimeoutMs: z.number().int().positive().default(600_000),
    /** How long one collective may wait for the other ranks (their compute up to the same call included). */
    opTimeoutMs: z.number().int().positive().default(1_800_000),
  })
  .strict()
  .refine((g) => g.rank < g.worldSize, { message: 'rank must be less than worldSize', path: ['rank'] })
  .refine((g) => g.worldSize === 1 || (g.masterAddr !== '' && g.masterPort > 0), {
    message: 'masterAddr and masterPort (1..65535) are required when worldSize > 1',
    path: ['masterAddr'],
  });
export type GroupOptions = z.input<typeof groupOptions>;

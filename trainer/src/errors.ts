// The trainer's own error classes, each a failure that exitCodeFor (exit-code.ts) can tell apart:
// a bad trainer config or manifest, a base model the runtime cannot load, training that diverged.

/** The trainer config (LORAPLANE_TRAINER_CONFIG), the manifest or the command line is invalid. */
export class TrainerConfigError extends Error {
  override readonly name = 'TrainerConfigError';
}

/** A step's loss or gradient norm, an eval loss or the adapter's weights are not finite numbers. */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';

  constructor(
    readonly step: number,
    readonly what: { loss?: number; gradNorm?: number; evalLoss?: number; weights?: string },
  ) {
    const parts = [
      what.loss !== undefined ? `loss ${what.loss}` : undefined,
      what.gradNorm !== undefined ? `grad norm ${what.gradNorm}` : undefined,
      what.evalLoss !== undefined ? `eval loss ${what.evalLoss}` : undefined,
      what.weights !== undefined ? `adapter weight ${what.weights} is not finite` : undefined,
    ].filter((p) => p !== undefined);
    super(`training diverged at step ${step}: ${parts.join(', ')}; lower learningRate or lora.alpha`);
  }
}

/**
 * The native runtime could not load the base model. `permanent` when the error is about the input
 * (no config.json, an unsupported architecture, a malformed safetensors file, invalid options), so a
 * retry would fail the same way; a CUDA error, memory or file-descriptor exhaustion and anything not
 * recognised stay retryable. The message is the runtime's own.
 */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';

  constructor(
    readonly modelDir: string,
    readonly permanent: boolean,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

// A failed check in the runtime names its place: "(check `...` failed in FUNC at FILE:LINE)". These
// files parse the model folder (config.json, safetensors headers and shapes) or .gguf file, and the LoRA options.
const INPUT_CHECK = /failed in \S+ at \S*\b(?:core\/(?:model_config|json|safetensors|gguf)\.cpp|model\/(?:llama_load|gguf_base)\.cpp):\d+\)\s*$/;
// ...unless the check reports the machine rather than the files.
const SYSTEM_TROUBLE =
  /CUDA error|cuBLAS error|out of memory|bad_alloc|Cannot allocate memory|Too many open files|Input\/output error|Resource temporarily unavailable|Stale file handle|No space left/i;

/** Wraps an error of QLoraModel.load as a ModelLoadError, deciding whether a retry could help. */
export function modelLoadError(err: unknown, modelDir: string): ModelLoadError {
  if (err instanceof ModelLoadError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const invalidOptions = err instanceof Error && err.name === 'ZodError';
  const permanent = invalidOptions || (INPUT_CHECK.test(message) && !SYSTEM_TROUBLE.test(message));
  return new ModelLoadError(modelDir, permanent, err);
}

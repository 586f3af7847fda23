// Training that diverges stops at once with a TrainingDivergedError: no checkpoint of the broken
// state, no adapter written.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { fineTuneJobSpec } from '@loraplane/api/finetunejob';
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { GOLDENS } from '@loraplane/native/golden.test-support';
import { QLoraModel } from '@loraplane/native/runtime';
import type { TokenizedRow } from './batches.js';
import { TrainingDivergedError } from './errors.js';
import { exitCodeFor } from './exit-code.js';
import { configFromManifest } from './job-config.js';
import { evaluate, trainLoop, type LoopOptions } from './loop.js';
import { planTraining } from './plan.js';
import { runFineTune } from './run.js';

const log = pino({ level: 'silent' });
const REPO = join(import.meta.dirname, '../..');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const rows: TokenizedRow[] = Array.from({ length: 24 }, (_, i) => {
  const ids = Array.from({ length: 10 + (i % 5) }, (_, t) => (i * 31 + t * 7) % 128);
  return { inputIds: ids, labels: ids.map((id, t) => (t < 3 ? -100 : id)) };
});
const training = fineTuneJobSpec.shape.training.parse({ maxSteps: 6, batchSize: 4, learningRate: 1e-2, evalSteps: 2, saveSteps: 1, saveTotalLimit: 10 });

function loopOptions(model: QLoraModel, checkpointDir: string, saved: number[]): LoopOptions {
  return {
    model,
    train: rows.slice(0, 20),
    validation: rows.slice(20),
    training,
    plan: planTraining(training, 20),
    padId: 0,
    checkpointDir,
    baseModelName: 'golden/llama',
    log,
    onCheckpoint: async (c) => void saved.push(c.state.step),
  };
}

/** A stand-in for the runtime whose step stats, eval loss and weights the test sets. */
function fakeModel(o: { loss?: (step: number) => number; evalLoss?: number; evalTokens?: number; badWeightAt?: number }): QLoraModel {
  let step = 0;
  return {
    info: { vocabSize: 128 },
    configureTraining: () => undefined,
    step: async () => {
      step++;
      return { loss: o.loss?.(step) ?? 2, gradNorm: 1, learningRate: 1e-3, tokens: 10, step, peakMemoryBytes: 0 };
    },
    evaluate: async () => {
      const tokens = o.evalTokens ?? 5;
      const loss = tokens ? (o.evalLoss ?? 1.5) : Number.NaN;
      return { loss, tokens, perplexity: Math.exp(loss) };
    },
    loraParameters: () => [
      {
        name: 'layers.0.q_proj.lora_B.weight',
        shape: [2],
        value: Float32Array.of(0.5, o.badWeightAt !== undefined && step >= o.badWeightAt ? Number.NaN : 0.25),
      },
    ],
    saveAdapter: async (dir: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'adapter_model.safetensors'), 'w');
    },
    saveTrainerState: async (path: string) => writeFileSync(path, 'o'),
  } as unknown as QLoraModel;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('expected training to fail'),
    (e: unknown) => e as TrainingDivergedError,
  );

describe('diverged training', () => {
  it('stops at the first step whose loss or grad norm is not finite, before any checkpoint', async () => {
    const model = await QLoraModel.load(join(GOLDENS, 'llama/model'), { lora: { r: 8, alpha: 1e300, dropout: 0, seed: 1 } });
    const dir = tmp('lp-div-');
    const saved: number[] = [];
    const err = await failure(trainLoop(loopOptions(model, dir, saved)));
    model.free();
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err.step).toBe(1);
    expect(err.message).toMatch(/^training diverged at step 1: loss NaN, grad norm (NaN|Infinity); lower learningRate or lora\.alpha$/);
    expect(exitCodeFor(err)).toBe(TRAINER_EXIT.permanent);
    expect(readdirSync(dir)).toEqual([]);
    expect(saved).toEqual([]);
  });

  it('stops on a non-finite eval loss, and on non-finite weights before they are checkpointed', async () => {
    const saved: number[] = [];
    const dir = tmp('lp-div-eval-');
    const evalErr = await failure(trainLoop(loopOptions(fakeModel({ evalLoss: Number.POSITIVE_INFINITY }), dir, saved)));
    expect(evalErr.message).toBe('training diverged at step 2: eval loss Infinity; lower learningRate or lora.alpha');
    expect(saved).toEqual([1]); // step 1 was sound; step 2's broken state is not kept
    expect(readdirSync(dir)).toEqual(['checkpoint-1']);

    const saved2: number[] = [];
    const weightsErr = await failure(trainLoop(loopOptions(fakeModel({ badWeightAt: 3 }), tmp('lp-div-w-'), saved2)));
    expect(weightsErr.message).toBe(
      'training diverged at step 3: adapter weight layers.0.q_proj.lora_B.weight is not finite; lower learningRate or lora.alpha',
    );
    expect(saved2).toEqual([1, 2]);

    // The last update can break the weights with no loss left to show it: the adapter is refused too.
    const noSaves = {
      ...loopOptions(fakeModel({ badWeightAt: 6 }), tmp('lp-div-end-'), []),
      training: { ...training, saveSteps: undefined, evalSteps: undefined },
      validation: [],
    };
    expect((await failure(trainLoop(noSaves))).step).toBe(6);

    const lossErr = await failure(trainLoop(loopOptions(fakeModel({ loss: (s) => (s === 4 ? Number.NaN : 2) }), tmp('lp-div-l-'), [])));
    expect(lossErr.message).toBe('training diverged at step 4: loss NaN, grad norm 1; lower learningRate or lora.alpha');
  });

  it('a validation batch with no trained tokens is not a divergence', async () => {
    expect(await evaluate(fakeModel({ evalTokens: 0 }), rows.slice(0, 4), 2, 0)).toBeUndefined();
    const result = await trainLoop({ ...loopOptions(fakeModel({ evalTokens: 0 }), tmp('lp-div-0-'), []), training: { ...training, saveSteps: undefined } });
    expect(result).toMatchObject({ interrupted: false, step: 6, finalEvalLoss: undefined });
  });

  it('a local run with lora.alpha 1e300 fails and writes no adapter', async () => {
    const manifest = parse(readFileSync(join(REPO, 'test/trainer/finetune-tiny.yaml'), 'utf8'));
    manifest.spec.lora.alpha = 1e300;
    const dir = tmp('lp-div-run-');
    writeFileSync(join(dir, 'finetune.yaml'), stringify(manifest));
    const config = configFromManifest(join(dir, 'finetune.yaml'));
    expect(config.spec.lora.alpha).toBe(1e300);
    const outputDir = join(dir, 'output');
    const err = await failure(runFineTune({ config, workDir: join(dir, 'work'), outputDir, log, resolve: { pvcRoot: () => join(REPO, 'examples') } }));
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err.message).toMatch(/^training diverged at step 1: /);
    expect(existsSync(outputDir) ? readdirSync(outputDir) : []).toEqual([]);
    expect(existsSync(join(dir, 'work/checkpoints')) ? readdirSync(join(dir, 'work/checkpoints')) : []).toEqual([]);
  });
});

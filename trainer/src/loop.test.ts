import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { fineTuneJobSpec } from '@loraplane/api/finetunejob';
import { GOLDENS } from '@loraplane/native/golden.test-support';
import { QLoraModel } from '@loraplane/native/runtime';
import type { TokenizedRow } from './batches.js';
import { listCheckpoints } from './checkpoint.js';
import { trainLoop, type LoopOptions } from './loop.js';
import { planTraining } from './plan.js';

const log = pino({ level: 'silent' });
const rows: TokenizedRow[] = Array.from({ length: 24 }, (_, i) => {
  const ids = Array.from({ length: 10 + (i % 5) }, (_, t) => (i * 31 + t * 7) % 128);
  return { inputIds: ids, labels: ids.map((id, t) => (t < 3 ? -100 : id)) };
});
const training = fineTuneJobSpec.shape.training.parse({
  maxSteps: 8,
  batchSize: 4,
  gradientAccumulationSteps: 2,
  learningRate: 1e-2,
  lrScheduler: 'cosine',
  warmupRatio: 0.25,
  evalSteps: 2,
  saveSteps: 3,
  saveTotalLimit: 2,
});
const load = () => QLoraModel.load(join(GOLDENS, 'llama/model'), { lora: { r: 8, alpha: 16, dropout: 0.1, seed: 1 } });
const options = (model: QLoraModel, checkpointDir: string, stop?: AbortSignal): LoopOptions => ({
  model,
  train: rows.slice(0, 20),
  validation: rows.slice(20),
  training,
  plan: planTraining(training, 20),
  padId: 0,
  checkpointDir,
  baseModelName: 'golden/llama',
  log,
  stop,
});

describe('trainLoop', () => {
  it('trains, evaluates every evalSteps and keeps saveTotalLimit checkpoints', async () => {
    const model = await load();
    const dir = mkdtempSync(join(tmpdir(), 'lp-loop-'));
    const result = await trainLoop(options(model, dir));
    expect(result.step).toBe(8);
    expect(result.history.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(result.history.filter((h) => h.evalLoss !== undefined).map((h) => h.step)).toEqual([2, 4, 6, 8]);
    expect(result.history.at(-1)!.loss).toBeLessThan(result.history[0]!.loss);
    expect(listCheckpoints(dir).map((c) => c.state.step)).toEqual([3, 6]);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint-3', 'checkpoint-6']);
    model.free();
  });

  it('stopped mid-run and resumed, ends with the adapter of an uninterrupted run', async () => {
    const straight = await load();
    await trainLoop(options(straight, mkdtempSync(join(tmpdir(), 'lp-loop-a-'))));

    const dir = mkdtempSync(join(tmpdir(), 'lp-loop-b-'));
    const stop = new AbortController();
    const first = await load();
    const o = options(first, dir, stop.signal);
    const interrupted = await trainLoop({ ...o, onStep: (r) => r.step === 5 && stop.abort() });
    expect(interrupted).toMatchObject({ interrupted: true, step: 5 });
    first.free();

    const second = await load();
    const resumed = await trainLoop(options(second, dir));
    expect(resumed).toMatchObject({ interrupted: false, resumedFrom: 5, step: 8 });
    const a = straight.loraParameters();
    const b = second.loraParameters();
    for (let i = 0; i < a.length; i++) expect(Array.from(b[i]!.value)).toEqual(Array.from(a[i]!.value));
    straight.free();
    second.free();
  });
});

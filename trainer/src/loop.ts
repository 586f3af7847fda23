// The training loop: optimizer steps over reproducibly ordered micro-batches, evaluation every
// evalSteps, checkpoints every saveSteps (rotated to saveTotalLimit, the best kept), resume from the
// newest complete checkpoint, and a final checkpoint when asked to stop (SIGTERM on preemption).
// Training that diverges (a loss, gradient norm, eval loss or adapter weight that is not a finite
// number) stops at once with a TrainingDivergedError: nothing of the broken state is checkpointed.
import type { Logger } from 'pino';
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import type { Batch, QLoraModel } from '@loraplane/native/runtime';
import { advance, microBatchAt, microBatchesPerEpoch, collate, SINGLE_PROCESS, type DataPosition, type Shard, type TokenizedRow } from './batches.js';
import { listCheckpoints, rotateCheckpoints, saveCheckpoint, type Checkpoint, type CheckpointState } from './checkpoint.js';
import { TrainingDivergedError } from './errors.js';
import type { TrainerMetrics } from './metrics.js';
import type { TrainingPlan } from './plan.js';

export interface LoopOptions {
  model: QLoraModel;
  train: TokenizedRow[];
  validation: TokenizedRow[];
  training: FineTuneJobSpec['training'];
  plan: TrainingPlan;
  padId: number;
  checkpointDir: string;
  baseModelName: string;
  log: Logger;
  metrics?: TrainerMetrics;
  /** Aborted on SIGTERM: the loop checkpoints and returns. */
  stop?: AbortSignal;
  /** Called after each checkpoint is complete on disk (e.g. to upload it). */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  onStep?: (record: StepRecord) => void;
  /** This process's rank in a data-parallel group; one process when absent. */
  shard?: Shard;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  tokens: number;
  seconds: number;
  evalLoss?: number;
}

export interface LoopResult {
  interrupted: boolean;
  resumedFrom?: number;
  step: number;
  history: StepRecord[];
  finalEvalLoss?: number;
  bestStep?: number;
}

export { TrainingDivergedError };

/** Throws TrainingDivergedError unless every LoRA weight of the model is finite (checked before a checkpoint or the adapter is kept). */
export function assertFiniteAdapter(model: QLoraModel, step: number): void {
  for (const p of model.loraParameters()) {
    const v = p.value;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new TrainingDivergedError(step, { weights: p.name });
  }
}

export async function evaluate(model: QLoraModel, rows: TokenizedRow[], batchSize: number, padId: number): Promise<number | undefined> {
  let lossSum = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += batchSize) {
    const r = await model.evaluate(collate(rows.slice(i, i + batchSize), padId));
    // A batch with no trained tokens has a NaN loss (0/0) and adds nothing; it is not a divergence.
    if (r.tokens === 0) continue;
    lossSum += r.loss * r.tokens;
    tokens += r.tokens;
  }
  return tokens ? lossSum / tokens : undefined;
}

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { model, training, plan, log } = o;
  model.configureTraining({
    learningRate: training.learningRate,
    weightDecay: training.weightDecay,
    maxGradNorm: training.maxGradNorm,
    lrScheduler: training.lrScheduler,
    warmupSteps: plan.warmupSteps,
    totalSteps: plan.totalSteps,
  });
  const shard = o.shard ?? SINGLE_PROCESS;
  const perEpoch = microBatchesPerEpoch(o.train.length, training.batchSize, shard.worldSize);
  let state: CheckpointState = { step: 0, epoch: 0, microBatch: 0 };
  let resumedFrom: number | undefined;
  const latest = listCheckpoints(o.checkpointDir).at(-1);
  if (latest) {
    await model.loadAdapter(latest.adapterDir);
    await model.loadTrainerState(latest.optimizerPath);
    state = latest.state;
    resumedFrom = state.step;
    log.info({ step: state.step, epoch: state.epoch, checkpoint: latest.dir }, 'resuming from checkpoint');
  }

  const history: StepRecord[] = [];
  const t0 = Date.now();
  const stepsAtStart = state.step;
  let pos: DataPosition = { epoch: state.epoch, microBatch: state.microBatch };

  // In a group only rank 0 writes checkpoints (the ranks share its folder in a pod, or restore from storage).
  const writer = shard.rank === 0;
  const checkpoint = async () => {
    if (!writer) return;
    assertFiniteAdapter(model, state.step);
    const c = await saveCheckpoint(o.checkpointDir, model, o.baseModelName, { ...state, epoch: pos.epoch, microBatch: pos.microBatch });
    rotateCheckpoints(o.checkpointDir, training.saveTotalLimit, training.loadBestModelAtEnd ? state.bestStep : undefined);
    o.metrics?.checkpoints.inc();
    log.info({ step: state.step, dir: c.dir }, 'checkpoint saved');
    await o.onCheckpoint?.(c);
  };

  // Every rank must stop after the same step: a SIGTERM seen by any rank stops them all.
  const stopRequested = async () => {
    const here = o.stop?.aborted ?? false;
    if (shard.worldSize === 1) return here;
    return (await model.allReduceSum(Float32Array.of(here ? 1 : 0)))[0]! > 0;
  };
  while (state.step < plan.totalSteps) {
    if (await stopRequested()) {
      await checkpoint();
      return { interrupted: true, resumedFrom, step: state.step, history };
    }
    // One optimizer step: up to `accumulation` global micro-batches, never across an epoch boundary; this
    // rank's rows of each (none at an uneven epoch end).
    const micro: Batch[] = [];
    let taken = 0;
    do {
      const batch = microBatchAt(o.train, training.batchSize, training.seed, pos, o.padId, shard);
      if (batch) micro.push(batch);
      taken += 1;
      pos = advance(pos, perEpoch);
    } while (taken < plan.accumulation && pos.microBatch !== 0);
    const started = Date.now();
    const stats = await model.step(micro);
    const seconds = (Date.now() - started) / 1000;
    if (!Number.isFinite(stats.loss) || !Number.isFinite(stats.gradNorm))
      throw new TrainingDivergedError(stats.step, { loss: stats.loss, gradNorm: stats.gradNorm });
    state = { ...state, step: stats.step, trainLoss: stats.loss };
    const record: StepRecord = {
      step: stats.step,
      epoch: pos.epoch + pos.microBatch / perEpoch,
      loss: stats.loss,
      learningRate: stats.learningRate,
      gradNorm: stats.gradNorm,
      tokens: stats.tokens,
      seconds,
    };
    if (training.evalSteps && stats.step % training.evalSteps === 0 && o.validation.length) {
      record.evalLoss = await evaluate(model, o.validation, training.batchSize, o.padId);
      if (record.evalLoss !== undefined && !Number.isFinite(record.evalLoss)) throw new TrainingDivergedError(stats.step, { evalLoss: record.evalLoss });
      state.evalLoss = record.evalLoss;
      if (record.evalLoss !== undefined && (state.bestEvalLoss === undefined || record.evalLoss < state.bestEvalLoss)) {
        state = { ...state, bestEvalLoss: record.evalLoss, bestStep: stats.step };
      }
    }
    history.push(record);
    const elapsed = (Date.now() - t0) / 1000;
    const eta = ((plan.totalSteps - stats.step) * elapsed) / Math.max(1, stats.step - stepsAtStart);
    if (o.metrics) {
      const m = o.metrics;
      m.loss.set(stats.loss);
      m.learningRate.set(stats.learningRate);
      m.gradNorm.set(stats.gradNorm);
      m.step.set(stats.step);
      m.totalSteps.set(plan.totalSteps);
      m.epoch.set(record.epoch);
      m.tokens.inc(stats.tokens);
      m.tokensPerSecond.set(stats.tokens / Math.max(seconds, 1e-6));
      m.etaSeconds.set(eta);
      if (record.evalLoss !== undefined) m.evalLoss.set(record.evalLoss);
    }
    o.onStep?.(record);
    if (training.saveSteps && stats.step % training.saveSteps === 0 && stats.step < plan.totalSteps) await checkpoint();
  }

  // The other ranks' weights equal rank 0's: the final evaluation and the adapter are rank 0's.
  if (!writer) return { interrupted: false, resumedFrom, step: state.step, history };
  const finalEvalLoss = o.validation.length ? await evaluate(model, o.validation, training.batchSize, o.padId) : undefined;
  if (finalEvalLoss !== undefined && !Number.isFinite(finalEvalLoss)) throw new TrainingDivergedError(state.step, { evalLoss: finalEvalLoss });
  // The last update may have broken the weights without a step or eval loss to show it.
  assertFiniteAdapter(model, state.step);
  if (finalEvalLoss !== undefined) o.metrics?.evalLoss.set(finalEvalLoss);
  if (training.loadBestModelAtEnd && state.bestStep !== undefined && finalEvalLoss !== undefined && state.bestEvalLoss! < finalEvalLoss) {
    const best = listCheckpoints(o.checkpointDir).find((c) => c.state.step === state.bestStep);
    if (best) {
      await model.loadAdapter(best.adapterDir);
      log.info({ step: best.state.step, evalLoss: state.bestEvalLoss }, 'loaded the best checkpoint by eval loss');
      return { interrupted: false, resumedFrom, step: state.step, history, finalEvalLoss: state.bestEvalLoss, bestStep: best.state.step };
    }
  }
  return { interrupted: false, resumedFrom, step: state.step, history, finalEvalLoss, bestStep: state.bestStep };
}

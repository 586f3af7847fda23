// How long a run is: optimizer steps from epochs or maxSteps, warmup steps as transformers counts them.
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import { microBatchesPerEpoch } from './batches.js';
import { DatasetError } from './data/errors.js';

export interface TrainingPlan {
  /** Micro-batches (of batchSize rows) per optimizer step. */
  accumulation: number;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
}

/** The plan every rank of a data-parallel group shares: steps count global micro-batches (batchSize rows per rank). */
export function planTraining(training: FineTuneJobSpec['training'], trainRows: number, worldSize = 1): TrainingPlan {
  if (trainRows === 0) throw new DatasetError('empty', 'the training split is empty: nothing to train on');
  const microBatches = microBatchesPerEpoch(trainRows, training.batchSize, worldSize);
  const accumulation = Math.min(training.gradientAccumulationSteps, microBatches);
  const stepsPerEpoch = Math.ceil(microBatches / accumulation);
  const totalSteps = training.maxSteps ?? stepsPerEpoch * (training.epochs ?? 1);
  return { accumulation, stepsPerEpoch, totalSteps, warmupSteps: Math.ceil(totalSteps * training.warmupRatio) };
}

// One fine-tuning run end to end: fetch the base model and dataset, prepare the data, train through
// the native runtime (checkpoints stored beside the output in a pod, so a new pod resumes), write the
// adapter, upload it (manifest last) and return the result. Every storage request rides out an outage
// of a few minutes (storage-retry.ts); a base model the runtime cannot load fails as a ModelLoadError.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TrainerConfig, TrainerResult } from '@loraplane/api/trainer-contract';
import { QLoraModel } from '@loraplane/native/runtime';
import { loadModelTokenizer, type ModelTokenizer } from './data/model-tokenizer.js';
import { prepareDataset } from './data/prepare.js';
import { formatPreview } from './data/preview.js';
import { sha256Path, writeOutput } from './output.js';
import { listCheckpoints } from './checkpoint.js';
import { CheckpointStore, type StoredCheckpoint } from './checkpoint-store.js';
import { modelLoadError } from './errors.js';
import { trainLoop, type LoopResult, type StepRecord } from './loop.js';
import type { TrainerMetrics } from './metrics.js';
import { planTraining } from './plan.js';
import { SINGLE_PROCESS } from './batches.js';
import type { RankEnv } from './ranks.js';
import { storageCallOptions } from './storage-retry.js';
import { s3ClientFor } from '@loraplane/storage/client';
import { fetchSource } from '@loraplane/storage/fetch';
import { resolveSource, type ResolveOptions } from '@loraplane/storage/location';
import type { RetryOptions } from '@loraplane/storage/retry';
import { uploadDirectory } from '@loraplane/storage/upload';
import type { StorageRole } from '@loraplane/api/trainer-contract';
import type { StorageSource } from '@loraplane/api/common';

export interface RunOptions {
  config: TrainerConfig;
  /** Scratch space: download cache, checkpoints, the output before upload. */
  workDir: string;
  log: Logger;
  metrics?: TrainerMetrics;
  stop?: AbortSignal;
  /** Local runs: write the adapter here and upload nothing. */
  outputDir?: string;
  resolve?: ResolveOptions;
  onStep?: (record: StepRecord, totalSteps: number) => void;
  /** Called with the loaded model before and after training (the demo prints a generation). */
  onModel?: (model: QLoraModel, when: 'before' | 'after', base: ModelTokenizer) => Promise<void>;
  /** Overrides of the storage retries (TRAINER_STORAGE_RETRY: back-off up to 30 s, 5 minutes per request). */
  storageRetry?: RetryOptions;
}

/** A run's outcome in a single process, or on rank 0 of a group. */
export type RunResult =
  | { interrupted: true; step: number; checkpoint?: StoredCheckpoint }
  | ({ interrupted: false; loop: LoopResult } & Extract<TrainerResult, { adapterUri: string }>);
/** A rank other than 0 of a group trained its shard; rank 0 holds the result. */
export type FollowerResult = { interrupted: false; follower: true; step: number };

/** A local path holding the source: a PVC/local path as is, an S3 prefix (or single object) fetched into the cache. */
async function localPath(role: StorageRole, source: StorageSource, o: RunOptions): Promise<string> {
  const src = resolveSource(role, source, o.resolve);
  const fetched = await fetchSource(src, {
    ...storageCallOptions(o.log, o.storageRetry),
    // SIGTERM ends a fetch (and its retry waits) at once: nothing is lost, a new pod fetches again.
    ...(o.stop !== undefined ? { signal: o.stop } : {}),
    cacheDir: join(o.workDir, 'cache'),
    progressIntervalMs: 2000,
    onProgress: (p) => o.log.info({ role, uri: src.uri, bytes: p.bytesDone, total: p.bytesTotal, files: p.filesDone }, 'downloading'),
  });
  o.log.info({ role, uri: src.uri, path: fetched.path, cached: fetched.cached }, 'fetched');
  return fetched.path;
}

/** The base model and the dataset as local paths (fetched into the work folder's cache when in S3). */
export async function fetchInputs(
  o: Pick<RunOptions, 'config' | 'workDir' | 'log' | 'stop' | 'resolve' | 'storageRetry'>,
): Promise<{ modelDir: string; datasetPath: string }> {
  const spec = o.config.spec;
  mkdirSync(o.workDir, { recursive: true });
  const modelDir = await localPath('baseModel', spec.baseModel.source, o);
  const datasetPath = await localPath('dataset', spec.dataset.source, o);
  return { modelDir, datasetPath };
}

/** A run in a single process; with `group`, this process's rank of a data-parallel group (ranks.ts). */
export async function runFineTune(o: RunOptions): Promise<RunResult>;
export async function runFineTune(o: RunOptions & { group: RankEnv }): Promise<RunResult | FollowerResult>;
export async function runFineTune(o: RunOptions & { group?: RankEnv }): Promise<RunResult | FollowerResult> {
  const { config, log } = o;
  const spec = config.spec;
  const shard = o.group ? { rank: o.group.rank, worldSize: o.group.worldSize } : SINGLE_PROCESS;
  const writer = shard.rank === 0;
  const { modelDir, datasetPath } = await fetchInputs(o);

  const baseTokenizer = loadModelTokenizer(modelDir);
  const data = await prepareDataset({
    dataset: datasetPath,
    tokenizer: baseTokenizer,
    spec: { dataset: spec.dataset, training: spec.training },
    onSkip: (err) => log.warn({ err: err.message }, 'skipped a malformed row'),
  });
  log.info({ stats: data.stats }, 'dataset prepared');
  for (const p of data.preview) log.info(`example as trained (⟦masked⟧ parts carry no loss):\n${formatPreview(p)}`);

  const model = await QLoraModel.load(modelDir, {
    quantize: spec.method === 'qlora',
    quantType: spec.quantization.type,
    doubleQuant: spec.quantization.doubleQuant,
    blockSize: spec.quantization.blockSize,
    precision: spec.quantization.computeDtype === 'float32' ? 'fp32' : 'bf16',
    lora: {
      r: spec.lora.r,
      alpha: spec.lora.alpha,
      dropout: spec.lora.dropout,
      useRslora: spec.lora.useRslora,
      targetModules: spec.lora.targetModules,
      seed: spec.training.seed,
    },
  }).catch((err: unknown) => {
    throw modelLoadError(err, modelDir);
  });
  const s3 = spec.output.storage.s3;
  const storage = storageCallOptions(log, o.storageRetry);
  // Only rank 0 writes to storage. The first rank of every other pod of a group reads the newest
  // checkpoint from it: a pod's ranks resume from their pod's checkpoint folder.
  const restorer = writer || o.group?.localRank === 0;
  const output = o.outputDir || !restorer ? undefined : s3ClientFor(s3, 'output');
  try {
    log.info({ model: model.info }, 'base model loaded');
    await o.onModel?.(model, 'before', baseTokenizer);
    if (o.group) {
      const { rank, worldSize, masterAddr, masterPort, joinTimeoutMs } = o.group;
      await model.joinGroup({ rank, worldSize, masterAddr, masterPort, ...(joinTimeoutMs ? { joinTimeoutMs } : {}) });
    }
    const plan = planTraining(spec.training, data.train.length, shard.worldSize);
    log.info({ plan, worldSize: shard.worldSize, globalBatchSize: spec.training.batchSize * plan.accumulation * shard.worldSize }, 'training plan');

    // In a pod the output is S3 and the scratch volume does not outlive the pod: checkpoints go to
    // storage too, and a fresh scratch volume starts from the newest one there.
    const checkpointDir = join(o.workDir, 'checkpoints');
    const checkpoints =
      output && new CheckpointStore({ client: output, bucket: s3.bucket, outputPrefix: s3.prefix, stateDir: join(o.workDir, 'upload-state'), log, ...storage });
    const store = writer ? checkpoints : undefined;
    let lastCheckpoint: StoredCheckpoint | undefined;
    if (checkpoints && listCheckpoints(checkpointDir).length === 0) {
      lastCheckpoint = await checkpoints.restoreLatest(checkpointDir, { keepBest: spec.training.loadBestModelAtEnd });
      if (lastCheckpoint) log.info({ checkpoint: lastCheckpoint }, 'restored the newest checkpoint from storage');
    }
    // The other ranks resume from what their pod's first rank restored into the pod's checkpoint folder.
    if (o.group) await model.allReduceSum(new Float32Array(1));
    const loop = await trainLoop({
      model,
      train: data.train,
      validation: data.validation,
      training: spec.training,
      plan,
      padId: data.padTokenId,
      checkpointDir,
      baseModelName: spec.baseModel.name,
      log,
      metrics: o.metrics,
      stop: o.stop,
      onStep: (r) => o.onStep?.(r, plan.totalSteps),
      shard,
      onCheckpoint: async (c) => {
        if (store) {
          lastCheckpoint = await store.save(c);
          const deleted = await store.rotate(spec.training.saveTotalLimit, spec.training.loadBestModelAtEnd ? c.state.bestStep : undefined);
          log.info({ checkpoint: lastCheckpoint, deletedSteps: deleted }, 'checkpoint stored; manifest written last');
        } else lastCheckpoint = { step: c.state.step, uri: `file://${c.dir}` };
      },
    });
    const checkpoint = lastCheckpoint ? { checkpoint: lastCheckpoint } : {};
    if (loop.interrupted) return { interrupted: true, step: loop.step, ...checkpoint };
    // Every rank waits for rank 0's adapter: a pod that ended before it could not rejoin a restarted rank 0.
    if (!writer) {
      await model.allReduceSum(new Float32Array(1));
      return { interrupted: false, follower: true, step: loop.step };
    }
    await o.onModel?.(model, 'after', baseTokenizer);

    const outDir = o.outputDir ?? join(o.workDir, 'output');
    const datasetDigest = await sha256Path(datasetPath);
    const written = await writeOutput(outDir, model, baseTokenizer, loop, {
      adapterName: spec.output.adapterName,
      spec,
      datasetDigest,
      trainRows: data.train.length,
      validationRows: data.validation.length,
      job: config.job,
    });
    let adapterUri = `file://${written.dir}`;
    if (output) {
      const uploaded = await uploadDirectory(output, s3.bucket, s3.prefix, written.dir, { ...storage, stateDir: join(o.workDir, 'upload-state') });
      adapterUri = uploaded.uri;
      log.info({ uri: adapterUri, files: uploaded.manifest.files.length }, 'adapter uploaded; manifest written last');
    }
    if (o.group) await model.allReduceSum(new Float32Array(1));
    return {
      interrupted: false,
      loop,
      adapterUri,
      digest: written.digest,
      sizeBytes: written.sizeBytes,
      datasetDigest,
      metrics: written.metrics,
      ...checkpoint,
    };
  } finally {
    output?.destroy();
    model.free();
  }
}

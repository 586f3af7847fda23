// One rank of a data-parallel group in a pod (started by ranks.ts with torchrun's variables): the
// same run as a single trainer, on this rank's shard of every batch. Rank 0 serves /metrics, writes
// checkpoints and the adapter, and reports the result to the supervisor; the others never write.
import { resolve } from 'node:path';
import pino from 'pino';
import { SCRATCH_PATH, SCRATCH_PATH_ENV, TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { pushAtEnd } from './cli.js';
import { exitCodeFor } from './exit-code.js';
import { configFromEnv } from './job-config.js';
import { createTrainerMetrics, serveMetrics } from './metrics.js';
import { rankFromEnv, type RankMessage } from './ranks.js';
import { redactingDestination } from './redact.js';
import { runFineTune } from './run.js';

const group = rankFromEnv()!;
const log = pino({ name: 'loraplane-trainer', base: { rank: group.rank } }, redactingDestination());
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
const send = (m: RankMessage) => new Promise<void>((done) => (process.send ? process.send(m, () => done()) : done()));

try {
  const config = configFromEnv();
  const metrics = group.rank === 0 ? createTrainerMetrics({ namespace: config.job.namespace, finetunejob: config.job.name }) : undefined;
  const server = metrics && (await serveMetrics(metrics.registry, process.env.POD_IP ?? '0.0.0.0', config.metricsPort));
  const result = await runFineTune({
    config,
    workDir: resolve(process.env[SCRATCH_PATH_ENV] ?? SCRATCH_PATH, 'run'),
    log,
    metrics,
    stop: stop.signal,
    group,
  }).finally(async () => {
    server?.close();
    await pushAtEnd(metrics, { namespace: config.job.namespace, finetunejob: config.job.name }, log);
  });
  if (result.interrupted) {
    if (group.rank === 0) {
      const message = `stopped by SIGTERM at step ${result.step}; a restarted trainer resumes from the last checkpoint`;
      await send({ result: { error: message, ...(result.checkpoint ? { checkpoint: result.checkpoint } : {}) }, interrupted: true });
    }
    process.exit(TRAINER_EXIT.stopped);
  }
  if ('adapterUri' in result) {
    const { adapterUri, digest, sizeBytes, datasetDigest, metrics: finalMetrics, checkpoint } = result;
    await send({ result: { adapterUri, digest, sizeBytes, datasetDigest, metrics: finalMetrics, checkpoint }, interrupted: false });
  }
  process.exit(TRAINER_EXIT.succeeded);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  log.error({ err }, 'rank failed');
  await send({ error: message });
  process.exit(exitCodeFor(err));
}

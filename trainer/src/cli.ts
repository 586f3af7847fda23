// Entry points. `loraplane-trainer`: the trainer pod (config from the operator's env var, /metrics on
// the pod IP, JSON logs, the result in the termination message, SIGTERM → checkpoint and exit, the
// metrics pushed to a Pushgateway at the end when LORAPLANE_PUSHGATEWAY_URL is set).
// `loraplane run finetune.yaml`: the same run on a laptop, no cluster, the adapter written to --output.
// Both exit with TRAINER_EXIT's codes (exitCodeFor: a failure no retry can fix exits `permanent`) and
// never print the values of the credential env vars (redact.ts).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { SCRATCH_PATH, SCRATCH_PATH_ENV, TRAINER_EXIT, type TrainerConfig } from '@loraplane/api/trainer-contract';
import { outputFormats } from '@loraplane/api/finetunejob';
import { GGUF_ADAPTER_FILE, MERGED_DIR, MERGED_GGUF_FILE } from '@loraplane/api/output-layout';
import { TrainerConfigError } from './errors.js';
import { exitCodeFor } from './exit-code.js';
import { configFromEnv, configFromManifest } from './job-config.js';
import { PUSHGATEWAY_URL_ENV, createTrainerMetrics, pushMetrics, serveMetrics, type JobLabels, type TrainerMetrics } from './metrics.js';
import { progressLine } from './progress.js';
import { chatPrompt } from './prompt.js';
import { redactingDestination, redactor, type LineSink } from './redact.js';
import { groupFailure, podGroupOf, superviseRanks } from './ranks.js';
import { fetchInputs, runFineTune, type RunOptions } from './run.js';
import { writeTerminationMessage } from './termination.js';

const stopOnSigterm = (log: Logger): AbortSignal => {
  const stop = new AbortController();
  process.once('SIGTERM', () => {
    log.warn('SIGTERM: checkpointing and exiting');
    stop.abort();
  });
  process.once('SIGINT', () => stop.abort());
  return stop.signal;
};

/** The optional push at the end, whatever the outcome; a failed push is logged and never fails the run. */
export async function pushAtEnd(metrics: TrainerMetrics | undefined, labels: JobLabels, log: Logger): Promise<void> {
  const url = process.env[PUSHGATEWAY_URL_ENV];
  if (!url || !metrics) return;
  try {
    await pushMetrics(metrics.registry, url, labels);
    log.info({ url }, 'metrics pushed to the Pushgateway');
  } catch (err) {
    log.warn({ err, url }, 'could not push the metrics to the Pushgateway');
  }
}

const jobLabels = (config: { job: { namespace: string; name: string } }): JobLabels => ({ namespace: config.job.namespace, finetunejob: config.job.name });

/**
 * One rank per GPU: the pod's inputs are fetched once, then its ranks train (rank 0 serves /metrics and
 * pushes them). In a multi-pod group the pods without rank 0 end without a result.
 */
async function trainerGroup(config: TrainerConfig, workDir: string, log: Logger, stop: AbortSignal): Promise<number> {
  const group = podGroupOf(config);
  await fetchInputs({ config, workDir, log, stop });
  log.info({ worldSize: group.worldSize, nodeIndex: group.nodeIndex, localRanks: group.localRanks, master: group.master }, 'starting the data-parallel ranks');
  const outcome = await superviseRanks(group, log, stop);
  if (outcome.failed) {
    writeTerminationMessage({ error: groupFailure(outcome.failed) });
    return outcome.exitCode;
  }
  if (outcome.result) writeTerminationMessage(outcome.result);
  return outcome.interrupted ? TRAINER_EXIT.stopped : TRAINER_EXIT.succeeded;
}

export async function trainerPod(): Promise<number> {
  const log = pino({ name: 'loraplane-trainer' }, redactingDestination());
  let metrics: TrainerMetrics | undefined;
  let labels: JobLabels | undefined;
  try {
    const config = configFromEnv();
    labels = jobLabels(config);
    const workDir = resolve(process.env[SCRATCH_PATH_ENV] ?? SCRATCH_PATH, 'run');
    const stop = stopOnSigterm(log);
    if (config.spec.resources.gpus > 1 || config.spec.resources.nodes > 1) return await trainerGroup(config, workDir, log, stop);
    metrics = createTrainerMetrics(labels);
    const server = await serveMetrics(metrics.registry, process.env.POD_IP ?? '0.0.0.0', config.metricsPort);
    const result = await runFineTune({ config, workDir, log, metrics, stop });
    server.close();
    if (result.interrupted) {
      log.warn({ step: result.step, checkpoint: result.checkpoint }, 'stopped after a checkpoint; a restarted trainer resumes from it');
      writeTerminationMessage({
        error: `stopped by SIGTERM at step ${result.step}; a restarted trainer resumes from the last checkpoint`,
        checkpoint: result.checkpoint,
      });
      return TRAINER_EXIT.stopped;
    }
    const { adapterUri, digest, sizeBytes, datasetDigest, metrics: finalMetrics, checkpoint } = result;
    writeTerminationMessage({ adapterUri, digest, sizeBytes, datasetDigest, metrics: finalMetrics, checkpoint });
    log.info({ adapterUri, digest, checkpoint }, 'done');
    return TRAINER_EXIT.succeeded;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const exitCode = exitCodeFor(err);
    if (exitCode === TRAINER_EXIT.stopped) log.warn({ err, exitCode }, 'stopped by SIGTERM before training');
    else log.error({ err, exitCode, permanent: exitCode === TRAINER_EXIT.permanent }, 'training failed');
    writeTerminationMessage({ error: message });
    return exitCode;
  } finally {
    if (labels) await pushAtEnd(metrics, labels, log);
  }
}

const USAGE =
  'usage: loraplane run finetune.yaml [--output DIR] [--work DIR] [--pvc CLAIM=DIR]... [--prompt TEXT [--system TEXT]] [--metrics-port N] [--max-steps N] [--formats peft,gguf,merged]';

/** The local run's log: pretty on a terminal, JSON lines otherwise; redacted either way. */
async function localLogger(): Promise<Logger> {
  const options = { name: 'loraplane', level: process.env.LOG_LEVEL ?? 'info' };
  if (!process.stdout.isTTY) return pino(options, redactingDestination());
  const { default: pretty } = await import('pino-pretty');
  return pino(options, redactingDestination(pretty({ sync: true }) as LineSink));
}

function parseRunArgs(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        output: { type: 'string', default: 'output' },
        work: { type: 'string', default: '.loraplane' },
        pvc: { type: 'string', multiple: true, default: [] },
        prompt: { type: 'string' },
        system: { type: 'string' },
        'metrics-port': { type: 'string' },
        'max-steps': { type: 'string' },
        formats: { type: 'string' },
      },
    });
  } catch (err) {
    throw new TrainerConfigError(`${(err as Error).message}\n${USAGE}`, { cause: err });
  }
}

export async function localRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseRunArgs(argv);
  const manifest = positionals[0];
  if (!manifest) throw new TrainerConfigError(USAGE);
  const log = await localLogger();
  // A PVC named in the manifest is a local folder here: --pvc CLAIM=DIR, else the manifest's own folder.
  const claims = new Map((values.pvc as string[]).map((p) => p.split('=') as [string, string]));
  const manifestDir = resolve(manifest, '..');
  const config = configFromManifest(manifest);
  // --max-steps shortens a manifest's run (a quick check of the demo's own spec) without editing the file.
  const maxSteps = values['max-steps'] as string | undefined;
  if (maxSteps !== undefined) {
    if (!/^[1-9]\d*$/.test(maxSteps)) throw new TrainerConfigError(`Expected a positive integer for --max-steps but received ${maxSteps}`);
    config.spec.training = { ...config.spec.training, epochs: undefined, maxSteps: Number(maxSteps) };
  }
  // --formats overrides spec.output.formats, checked by the same schema as the manifest's.
  const formats = values.formats as string | undefined;
  if (formats !== undefined) {
    const parsed = outputFormats.safeParse(formats.split(',').map((f) => f.trim()));
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      throw new TrainerConfigError(`Expected --formats to list peft, gguf and merged (peft included) but received "${formats}": ${why}`);
    }
    config.spec.output = { ...config.spec.output, formats: parsed.data };
  }
  const outDir = resolve(values.output as string);
  const options: RunOptions = {
    config,
    workDir: resolve(values.work as string),
    outputDir: outDir,
    log,
    stop: stopOnSigterm(log),
    resolve: { pvcRoot: (claim) => resolve(claims.get(claim) ?? manifestDir) },
    onStep: (r, total) => {
      const eta = (total - r.step) * r.seconds;
      if (process.stdout.isTTY) process.stdout.write(`\r${progressLine(r, total, eta)}`);
      else console.log(progressLine(r, total, eta));
    },
  };
  if (values.prompt) {
    options.onModel = async (model, when, base) => {
      const prompt = await chatPrompt(base, values.prompt as string, values.system as string | undefined);
      const answer = await prompt.decode(await model.generate(prompt.ids, { maxNewTokens: 64, temperature: 0, stopIds: prompt.stopIds }));
      console.log(`\n${when === 'before' ? 'Before' : 'After'} fine-tuning, "${values.prompt}" →\n  ${answer.trim()}\n`);
    };
  }
  const metricsPort = values['metrics-port'] as string | undefined;
  const labels = jobLabels(config);
  if (metricsPort !== undefined || process.env[PUSHGATEWAY_URL_ENV]) options.metrics = createTrainerMetrics(labels);
  if (metricsPort !== undefined && options.metrics) {
    const server = await serveMetrics(options.metrics.registry, '127.0.0.1', Number(metricsPort));
    log.info({ url: `http://127.0.0.1:${metricsPort}/metrics` }, 'serving metrics');
    process.once('exit', () => server.close());
  }
  const result = await runFineTune(options).finally(() => pushAtEnd(options.metrics, labels, log));
  if (result.interrupted) return TRAINER_EXIT.stopped;
  console.log(redactor()(`\nadapter written to ${result.adapterUri} (${result.digest})`));
  const written = config.spec.output.formats;
  if (written.includes('gguf')) console.log(`llama.cpp: llama-cli -m <the base model's GGUF> --lora ${join(outDir, GGUF_ADAPTER_FILE)}`);
  if (written.includes('merged')) console.log(`llama.cpp: llama-cli -m ${join(outDir, MERGED_GGUF_FILE)} (Hugging Face folder: ${join(outDir, MERGED_DIR)})`);
  return TRAINER_EXIT.succeeded;
}

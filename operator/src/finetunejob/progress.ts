// Live progress of a running trainer, read from its /metrics on the pod IP. Scraping (rather than
// letting the trainer patch its FineTuneJob's status) keeps trainer pods free of API credentials:
// user code runs there, and a token able to write status could write any status of that kind.
import type { FineTuneJobStatus } from '@loraplane/api/finetunejob';
import { TRAINER_METRICS } from '@loraplane/api/trainer-metrics';

export type Progress = NonNullable<FineTuneJobStatus['progress']>;

/** The trainer's gauges that make up status.progress. */
export const PROGRESS_METRICS = {
  step: TRAINER_METRICS.step.name,
  totalSteps: TRAINER_METRICS.totalSteps.name,
  epoch: TRAINER_METRICS.epoch.name,
  trainLoss: TRAINER_METRICS.loss.name,
  evalLoss: TRAINER_METRICS.evalLoss.name,
  learningRate: TRAINER_METRICS.learningRate.name,
  tokensPerSecond: TRAINER_METRICS.tokensPerSecond.name,
  etaSeconds: TRAINER_METRICS.etaSeconds.name,
} as const;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)/;

/** First sample of each metric in Prometheus text exposition format (labels ignored). */
export function parseSamples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!values.has(m[1]!) && Number.isFinite(value)) values.set(m[1]!, value);
  }
  return values;
}

const round = (x: number, digits: number) => Number(x.toPrecision(digits));

/** status.progress from scraped samples; undefined before the trainer has planned its run. */
export function progressFromSamples(samples: Map<string, number>, now: Date): Progress | undefined {
  const get = (k: keyof typeof PROGRESS_METRICS) => samples.get(PROGRESS_METRICS[k]);
  const totalSteps = get('totalSteps');
  const step = get('step');
  if (!totalSteps || step === undefined) return undefined;
  const progress: Progress = { step, totalSteps, percent: Math.min(100, Math.floor((100 * step) / totalSteps)) };
  const epoch = get('epoch');
  if (epoch !== undefined) progress.epoch = round(epoch, 4);
  // A loss gauge reads 0 until first set; a cross-entropy loss is never 0, so 0 means "not measured yet".
  const trainLoss = get('trainLoss');
  if (trainLoss) progress.trainLoss = round(trainLoss, 5);
  const evalLoss = get('evalLoss');
  if (evalLoss) progress.evalLoss = round(evalLoss, 5);
  const learningRate = get('learningRate');
  if (learningRate !== undefined) progress.learningRate = round(learningRate, 4);
  const tokensPerSecond = get('tokensPerSecond');
  if (tokensPerSecond) progress.tokensPerSecond = Math.round(tokensPerSecond);
  const eta = get('etaSeconds');
  // Whole seconds, so an unchanged estimate does not rewrite the status.
  if (eta !== undefined && step > 0) progress.eta = new Date(Math.ceil((now.getTime() + eta * 1000) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return progress;
}

/** Reads progress from a trainer's /metrics; undefined when it cannot be reached (yet) or signal aborts the read. */
export async function scrapeProgress(url: string, timeoutMs: number, now: Date, signal?: AbortSignal): Promise<Progress | undefined> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (!res.ok) return undefined;
    return progressFromSamples(parseSamples(await res.text()), now);
  } catch {
    return undefined; // the trainer is still loading or already gone: keep the last known progress
  }
}

/** Progress of a finished run, from the trainer's result metrics. */
export function finalProgress(prev: Progress | undefined, metrics: Record<string, number>): Progress {
  const steps = metrics.steps ?? prev?.totalSteps ?? prev?.step;
  const { eta: _done, tokensPerSecond: _rate, ...kept } = prev ?? {};
  return {
    ...kept,
    ...(steps !== undefined ? { step: steps, totalSteps: steps } : {}),
    percent: 100,
    ...(metrics.trainLoss !== undefined ? { trainLoss: round(metrics.trainLoss, 5) } : {}),
    ...(metrics.evalLoss !== undefined ? { evalLoss: round(metrics.evalLoss, 5) } : {}),
  };
}

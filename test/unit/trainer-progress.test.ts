// The contract between the packages: the operator reads status.progress from exactly what the trainer serves.
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { createTrainerMetrics, serveMetrics } from '@loraplane/trainer/metrics';
import { finalProgress, parseSamples, progressFromSamples, scrapeProgress } from '@loraplane/operator/finetunejob/progress';

const now = new Date('2026-11-29T10:00:00.000Z');

// The trainer's own registry: the operator reads exactly what the trainer serves.
function trainerAt(step: number) {
  const m = createTrainerMetrics({ namespace: 'team-a', finetunejob: 'support' });
  m.totalSteps.set(200);
  m.step.set(step);
  m.epoch.set(1.25);
  m.loss.set(1.234567891);
  m.learningRate.set(0.000187654);
  m.tokensPerSecond.set(5321.7);
  m.etaSeconds.set(90.4);
  return m;
}

describe('progress from the trainer /metrics', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('maps the trainer gauges to status.progress', async () => {
    const text = await trainerAt(50).registry.metrics();
    expect(progressFromSamples(parseSamples(text), now)).toEqual({
      step: 50,
      totalSteps: 200,
      percent: 25,
      epoch: 1.25,
      trainLoss: 1.2346,
      learningRate: 0.0001877,
      tokensPerSecond: 5322,
      eta: '2026-11-29T10:01:31Z',
    });
  });

  it('leaves out an eval loss that was never measured, and reports nothing before the plan exists', async () => {
    const progress = progressFromSamples(parseSamples(await trainerAt(3).registry.metrics()), now);
    expect(progress).not.toHaveProperty('evalLoss');
    const fresh = createTrainerMetrics({ namespace: 'n', finetunejob: 'f' });
    expect(progressFromSamples(parseSamples(await fresh.registry.metrics()), now)).toBeUndefined();
  });

  it('parses labelled samples, skips comments and keeps the first sample of a name', () => {
    const samples = parseSamples('# HELP x y\n# TYPE x gauge\nx{a="b c"} 2\nx{a="d"} 3\ny 4 1700000000\nz NaN\n');
    expect([...samples]).toEqual([
      ['x', 2],
      ['y', 4],
    ]);
  });

  it('scrapes a served registry over HTTP and is undefined when nothing listens', async () => {
    const metrics = trainerAt(100);
    server = await serveMetrics(metrics.registry, '127.0.0.1', 0);
    const { port } = server.address() as { port: number };
    expect((await scrapeProgress(`http://127.0.0.1:${port}/metrics`, 2000, now))?.percent).toBe(50);
    server.close();
    expect(await scrapeProgress(`http://127.0.0.1:${port}/metrics`, 500, now)).toBeUndefined();
  });

  it('completes the progress from the result metrics when the run has finished', () => {
    const prev = { step: 190, totalSteps: 200, percent: 95, trainLoss: 0.5, tokensPerSecond: 10, eta: '2026-11-29T10:01:31Z' };
    expect(finalProgress(prev, { steps: 200, trainLoss: 0.41, evalLoss: 0.52 })).toEqual({
      step: 200,
      totalSteps: 200,
      percent: 100,
      trainLoss: 0.41,
      evalLoss: 0.52,
    });
  });
});

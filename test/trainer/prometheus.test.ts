// A real Prometheus (the pinned one, test/metrics/build-prometheus.sh) scrapes the trainer while it trains; the loss series is there after.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { startPrometheus } from '../e2e/support/prometheus.js';
import { LONG_MANIFEST, loraplaneRun } from './run-process.js';

describe('trainer metrics in Prometheus', () => {
  it('Prometheus scrapes loraplane_trainer_loss from a training run', async () => {
    const metricsPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'lp-prom-'));
    const prometheus = await startPrometheus([{ job_name: 'loraplane-trainer', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }]);
    try {
      // Scraped every second while it trains; the test stops it once a loss has been scraped.
      const run = loraplaneRun([LONG_MANIFEST, '--work', join(dir, 'work'), '--output', join(dir, 'out'), '--metrics-port', String(metricsPort)]);
      const series = await waitFor(
        async () => {
          const s = (await prometheus.range('loraplane_trainer_loss'))[0];
          return s?.values.some(([, v]) => Number(v) > 0) ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500, description: 'loraplane_trainer_loss in Prometheus' },
      );
      expect(series.metric).toMatchObject({ job: 'loraplane-trainer', finetunejob: 'tiny-test' });
      expect(series.values.every(([, v]) => Number.isFinite(Number(v)))).toBe(true);
      expect((await prometheus.instant('up'))[0]!.value[1]).toBe('1');
      run.child.kill('SIGTERM');
      await run.exited;
    } finally {
      prometheus.stop();
    }
  }, 300_000);
});

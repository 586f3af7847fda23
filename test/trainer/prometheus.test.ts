// A real Prometheus (Debian's) scrapes the trainer while it trains; the loss series is there after.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { LONG_MANIFEST, loraplaneRun } from './run-process.js';

interface Sample {
  metric: Record<string, string>;
  values: [number, string][];
}

describe('trainer metrics in Prometheus', () => {
  it('Prometheus scrapes loraplane_trainer_loss from a training run', async () => {
    const [metricsPort, promPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'lp-prom-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: loraplane-trainer\n    static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }]\n`,
    );
    const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    try {
      const api = `http://127.0.0.1:${promPort}/api/v1`;
      await waitFor(async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`).catch(() => undefined))?.ok, { timeoutMs: 30_000, description: 'Prometheus ready' });
      const start = Date.now() / 1000;
      // Scraped every second while it trains; the test stops it once a loss has been scraped.
      const run = loraplaneRun([LONG_MANIFEST, '--work', join(dir, 'work'), '--output', join(dir, 'out'), '--metrics-port', String(metricsPort)]);
      const series = await waitFor(
        async () => {
          const q = new URLSearchParams({ query: 'loraplane_trainer_loss', start: String(start), end: String(Date.now() / 1000 + 1), step: '1' });
          const body = (await (await fetch(`${api}/query_range?${q}`)).json()) as { data: { result: Sample[] } };
          const s = body.data.result[0];
          return s?.values.some(([, v]) => Number(v) > 0) ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500, description: 'loraplane_trainer_loss in Prometheus' },
      );
      expect(series.metric).toMatchObject({ job: 'loraplane-trainer', finetunejob: 'tiny-test' });
      expect(series.values.every(([, v]) => Number.isFinite(Number(v)))).toBe(true);
      const up = (await (await fetch(`${api}/query?query=up`)).json()) as { data: { result: { value: [number, string] }[] } };
      expect(up.data.result[0]!.value[1]).toBe('1');
      run.child.kill('SIGTERM');
      await run.exited;
    } finally {
      prometheus.kill('SIGTERM');
    }
  }, 300_000);
});

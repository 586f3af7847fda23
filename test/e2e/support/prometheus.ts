// A real Prometheus (the pinned one, test/metrics/build-prometheus.sh) for a test: started on a free port
// with the given scrape configs, queried over its HTTP API, stopped by the test.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from '../../cluster/cluster.js';
import { metricsBinary } from '../../metrics/binaries.js';
import { freePort } from './operator-process.js';

export interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface Prometheus {
  url: string;
  /** Writes a file_sd targets file (Prometheus re-reads it on change). */
  /** Range query from the start of this Prometheus until now, 1 s resolution. */
  range(query: string): Promise<Series[]>;
  /** Instant query: the current value of each series. */
  instant(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): void;
}

export async function startPrometheus(scrapeConfigs: object[]): Promise<Prometheus> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lp-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: scrapeConfigs }));
  const logFile = join(dir, 'prometheus.log');
  const out = openSync(logFile, 'w');
  const child = spawn(
    metricsBinary('prometheus'),
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    {
      stdio: ['ignore', out, out],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = () => void child.kill('SIGTERM');
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok, { timeoutMs: 30_000, description: 'Prometheus ready' });
  } catch (err) {
    stop();
    throw new Error(
      `${(err as Error).message}\n${readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('level=error'))
        .join('\n')}`,
    );
  }
  const started = Date.now() / 1000 - 1;
  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: T } };
    if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data.result;
  };
  return {
    url,
    range: (query) => api('query_range', { query, start: String(started), end: String(Date.now() / 1000 + 1), step: '1' }),
    instant: (query) => api('query', { query }),
    stop,
  };
}

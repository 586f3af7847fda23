// The pinned prometheus and pushgateway (build-prometheus.sh, built from their Go modules once into
// ~/.cache/loraplane). The unit and e2e projects' globalSetup (global-setup.ts) builds them before any
// test starts and hands the bin dir to the workers in LORAPLANE_PROMETHEUS_BIN_DIR; run outside those
// projects, the first call here builds them (minutes on a fresh machine, then instant).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const PROMETHEUS_BIN_DIR_ENV = 'LORAPLANE_PROMETHEUS_BIN_DIR';
export const BUILD_SCRIPT = join(import.meta.dirname, 'build-prometheus.sh');

/** Runs build-prometheus.sh (a no-op when the cache is complete) and returns the bin dir it prints. */
export function buildMetricsBinaries(): string {
  const stdout = execFileSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim().split('\n').at(-1)!;
}

/** The path of the pinned `prometheus` or `pushgateway` binary. */
export function metricsBinary(name: 'prometheus' | 'pushgateway'): string {
  let dir = process.env[PROMETHEUS_BIN_DIR_ENV];
  if (dir === undefined || dir === '') process.env[PROMETHEUS_BIN_DIR_ENV] = dir = buildMetricsBinaries();
  return join(dir, name);
}

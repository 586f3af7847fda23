// vitest globalSetup for the projects whose tests run a real Prometheus or Pushgateway (unit: the trainer's
// metrics; e2e: the whole path): builds both from their pinned Go modules (build-prometheus.sh; a no-op
// once ~/.cache/loraplane has them) before any test starts, so no test's timeout has to cover a build.
// Workers start after this and inherit LORAPLANE_PROMETHEUS_BIN_DIR.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BUILD_SCRIPT, PROMETHEUS_BIN_DIR_ENV } from './binaries.js';

export default async function setup(): Promise<void> {
  if (process.env[PROMETHEUS_BIN_DIR_ENV]) return;
  const t0 = Date.now();
  try {
    const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024 });
    process.env[PROMETHEUS_BIN_DIR_ENV] = stdout.trim().split('\n').at(-1);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`test/metrics/build-prometheus.sh failed: ${e.stderr ?? e.message}`);
  }
  const ms = Date.now() - t0;
  if (ms > 5_000) console.log(`[metrics] prometheus and pushgateway built in ${ms} ms (${process.env[PROMETHEUS_BIN_DIR_ENV]})`);
}

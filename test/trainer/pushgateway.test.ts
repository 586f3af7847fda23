// The optional push at the end, against a real Pushgateway (the pinned one, test/metrics/build-prometheus.sh): the
// trainer's metrics land in its job/namespace/finetunejob group, from pushMetrics and from a whole
// run with LORAPLANE_PUSHGATEWAY_URL set.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUSHGATEWAY_URL_ENV, createTrainerMetrics, pushMetrics } from '@loraplane/trainer/metrics';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { metricsBinary } from '../metrics/binaries.js';
import { TINY_MANIFEST, loraplaneRun } from './run-process.js';

let gateway: ChildProcess;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'lp-pushgateway-'));

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // Persisted in the test's own dir (off by default upstream; Debian's package puts it under /var/lib).
  gateway = spawn(metricsBinary('pushgateway'), [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${join(dir, 'pushgateway.data')}`], {
    stdio: 'ignore',
  });
  await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok, { timeoutMs: 30_000, description: 'Pushgateway ready' });
}, 60_000);
afterAll(() => {
  gateway?.kill('SIGTERM');
});

/** The value of a series on the gateway's /metrics whose labels include all of `labels`. */
async function gatewayValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const body = await (await fetch(`${url}/metrics`)).text();
  for (const line of body.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics pushed to a Pushgateway', () => {
  it('pushMetrics puts the registry under job loraplane-trainer, grouped by namespace and finetunejob', async () => {
    const labels = { namespace: 'team-a', finetunejob: 'unit-push' };
    const metrics = createTrainerMetrics(labels);
    metrics.loss.set(1.25);
    metrics.step.set(7);
    await pushMetrics(metrics.registry, url, labels);
    const group = { job: 'loraplane-trainer', ...labels };
    expect(await gatewayValue('loraplane_trainer_loss', group)).toBe(1.25);
    expect(await gatewayValue('loraplane_trainer_step', group)).toBe(7);

    // A second push replaces the group: the final values win.
    metrics.step.set(9);
    await pushMetrics(metrics.registry, url, labels);
    expect(await gatewayValue('loraplane_trainer_step', group)).toBe(9);
  });

  it('a run with LORAPLANE_PUSHGATEWAY_URL pushes its final metrics when it ends', async () => {
    const run = loraplaneRun([TINY_MANIFEST, '--work', join(dir, 'work'), '--output', join(dir, 'out')], { [PUSHGATEWAY_URL_ENV]: url });
    expect(await run.exited, run.output()).toBe(0);
    const group = { job: 'loraplane-trainer', namespace: 'local', finetunejob: 'tiny-test' };
    expect(await gatewayValue('loraplane_trainer_step', group)).toBe(12);
    expect(await gatewayValue('loraplane_trainer_total_steps', group)).toBe(12);
    expect(await gatewayValue('loraplane_trainer_loss', group)).toBeGreaterThan(0);
    expect(await gatewayValue('loraplane_trainer_checkpoints_total', group)).toBe(3);
  }, 300_000);
});

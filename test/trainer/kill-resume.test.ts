// A trainer killed mid-run (SIGKILL: no chance to checkpoint) and started again resumes from its last
// complete checkpoint and ends with the same adapter, byte for byte, as a run never interrupted.
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../cluster/cluster.js';
import { loraplaneRun, TINY_MANIFEST } from './run-process.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const weights = (dir: string) => readFileSync(join(dir, 'adapter_model.safetensors'));

describe('trainer kill and resume', () => {
  it('resumes from the last checkpoint after SIGKILL and ends with the uninterrupted adapter', async () => {
    const straightOut = tmp('lp-straight-');
    const straight = loraplaneRun([TINY_MANIFEST, '--work', tmp('lp-work-a-'), '--output', straightOut]);
    expect(await straight.exited, straight.output()).toBe(0);

    const work = tmp('lp-work-b-');
    const out = tmp('lp-out-b-');
    const first = loraplaneRun([TINY_MANIFEST, '--work', work, '--output', out]);
    await waitFor(() => existsSync(join(work, 'checkpoints/checkpoint-6/COMPLETE')), { timeoutMs: 120_000, intervalMs: 20, description: 'checkpoint 6' });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(false);

    const second = loraplaneRun([TINY_MANIFEST, '--work', work, '--output', out], { LOG_LEVEL: 'info' });
    expect(await second.exited, second.output()).toBe(0);
    expect(second.output()).toMatch(/resuming from checkpoint/);
    expect(weights(out).equals(weights(straightOut))).toBe(true);
    const metrics = JSON.parse(readFileSync(join(out, 'training_metrics.json'), 'utf8'));
    expect(metrics.metrics.steps).toBe(12);
  }, 300_000);

  it('on SIGTERM writes a checkpoint and exits 143', async () => {
    const work = tmp('lp-work-c-');
    const run = loraplaneRun([TINY_MANIFEST, '--work', work, '--output', tmp('lp-out-c-')]);
    await waitFor(() => existsSync(join(work, 'checkpoints/checkpoint-3/COMPLETE')), { timeoutMs: 120_000, intervalMs: 20, description: 'checkpoint 3' });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    const steps = readdirSync(join(work, 'checkpoints')).map((d) => Number(d.split('-')[1]));
    expect(Math.max(...steps)).toBeGreaterThan(3);
  }, 300_000);
});

// Data parallelism on the CPU backend (Gloo): N ranks with a per-rank micro-batch of b train on the
// same rows, in the same order, as one process with N x b, so every step's loss and the final adapter
// agree within float summation order. 3 ranks over an epoch whose last batch leaves a rank nothing
// must neither hang nor drop rows.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { safetensorsRelativeError } from '@loraplane/native/golden.test-support';
import { freePort } from '../e2e/support/operator-process.js';
import { REPO } from './run-process.js';

const RANK_SCRIPT = join(import.meta.dirname, 'data-parallel-rank.ts');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

interface RankRun {
  losses: number[];
  output: string;
}

/** world ranks (or one plain process when world is undefined) of the tiny run; rank 0's losses and adapter folder. */
async function train(world: number | undefined, batchSize: number, steps: number): Promise<RankRun> {
  const work = tmp('lp-dp-work-');
  const output = tmp('lp-dp-out-');
  const port = await freePort();
  const ranks = Array.from({ length: world ?? 1 }, (_, rank) => {
    const env: Record<string, string> =
      world === undefined
        ? {}
        : {
            RANK: String(rank),
            WORLD_SIZE: String(world),
            LOCAL_RANK: String(rank),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            OMP_NUM_THREADS: '1',
          };
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', RANK_SCRIPT, String(batchSize), String(steps), work, output], {
      cwd: REPO,
      env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    return new Promise<string>((resolve, reject) =>
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited ${code}:\n${out}`)))),
    );
  });
  const outputs = await Promise.all(ranks);
  const line = outputs[0]!.split('\n').find((l) => l.startsWith('{"rank"'));
  return { losses: (JSON.parse(line!) as { losses: number[] }).losses, output };
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

const adapterDifference = (a: string, b: string) => safetensorsRelativeError(join(a, 'adapter_model.safetensors'), join(b, 'adapter_model.safetensors'));

describe('data-parallel training (Gloo, CPU ranks)', () => {
  it('2 ranks x micro-batch 4 match 1 process x micro-batch 8: every step within 1e-5, the adapter within 1e-4, after 20 steps', async () => {
    const [single, two] = [await train(undefined, 8, 20), await train(2, 4, 20)];
    expect(single.losses).toHaveLength(20);
    expect(two.losses).toHaveLength(20);
    const worst = Math.max(...two.losses.map((l, i) => relative(l, single.losses[i]!)));
    const adapter = adapterDifference(two.output, single.output);
    console.log(`2 ranks vs 1: worst step loss difference ${worst.toExponential(2)} (relative), adapter ${adapter.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    expect(adapter).toBeLessThan(1e-4);
    // The steps changed the weights: a run that trained nothing would match trivially.
    expect(single.losses.at(-1)!).toBeLessThan(single.losses[0]!);
  }, 600_000);

  it('3 ranks x micro-batch 3 match 1 process x micro-batch 9 across an epoch end that leaves a rank no rows', async () => {
    // The tiny run's training split (345 rows: 384 less a 10% validation split) is 38 batches of 9 and 3
    // rows: in the 39th global batch rank 0 has 3 rows and ranks 1 and 2 none. 45 steps cross it.
    const [single, three] = [await train(undefined, 9, 45), await train(3, 3, 45)];
    expect(three.losses).toHaveLength(45);
    const worst = Math.max(...three.losses.map((l, i) => relative(l, single.losses[i]!)));
    const adapter = adapterDifference(three.output, single.output);
    console.log(`3 ranks vs 1: worst step loss difference ${worst.toExponential(2)} (relative), adapter ${adapter.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    expect(adapter).toBeLessThan(1e-4);
  }, 900_000);
});

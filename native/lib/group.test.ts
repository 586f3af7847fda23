// Data-parallel groups through the binding: ranks as child processes on localhost (Gloo on the cpu
// backend) join, sum vectors, and step together, a rank with no micro-batch included, as one process
// stepping on every rank's rows would; the group's options are validated before the native call.
import { spawn } from 'node:child_process';
import { freePort } from '../../test/e2e/support/operator-process.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NativeStepStats } from './binding.js';
import { buildInfo, groupOptions, QLoraModel } from './runtime.js';

const REPO = join(import.meta.dirname, '../..');
const RANK_SCRIPT = join(import.meta.dirname, 'group-rank.test-support.ts');

interface RankReport {
  rank: number;
  sum: number[];
  stats: NativeStepStats[];
  weights: number[];
}

/** Runs group-rank.test-support.ts with env (no RANK: the one-process reference); its JSON line. */
function runProcess(env: Record<string, string>): Promise<RankReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', RANK_SCRIPT], {
    cwd: REPO,
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"rank"'));
      if (code === 0 && line) resolve(JSON.parse(line) as RankReport);
      else reject(new Error(`${env.RANK === undefined ? 'reference' : `rank ${env.RANK}`} exited ${code}:\n${out}`));
    }),
  );
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('data-parallel group', () => {
  it('joins, sums over the ranks, and steps with [] on a rank like one process on all the rows', async () => {
    const world = 2;
    const port = await freePort();
    const group = { WORLD_SIZE: String(world), MASTER_PORT: String(port) };
    const [reference, ...ranks] = await Promise.all([
      runProcess({ WORLD_SIZE: String(world) }),
      ...Array.from({ length: world }, (_, r) => runProcess({ ...group, RANK: String(r) })),
    ]);
    for (const r of ranks) {
      expect(r.sum).toEqual([3, 1, -1]); // (1 + 2, 0.5 + 0.5, -0 - 1)
      expect(r.stats.map((s) => s.tokens)).toEqual(reference!.stats.map((s) => s.tokens));
      expect(r.stats.map((s) => s.step)).toEqual([1, 2]);
      for (const [i, s] of r.stats.entries()) expect(relative(s.loss, reference!.stats[i]!.loss)).toBeLessThan(1e-5);
      // Every rank took the same step: bit-identical weights, which match the reference's.
      expect(r.weights).toEqual(ranks[0]!.weights);
      const scale = Math.max(...reference!.weights.map(Math.abs));
      const diff = Math.max(...r.weights.map((w, i) => Math.abs(w - reference!.weights[i]!)));
      expect(diff / scale).toBeLessThan(1e-5);
    }
    expect(reference!.stats[0]!.tokens).toBe(2 * 23); // step 1: rank 0's two rows, rank 1 nothing
  }, 120_000);

  it('validates the group options and refuses an empty step outside a group', async () => {
    expect(groupOptions.parse({ rank: 0, worldSize: 1 })).toEqual({
      rank: 0,
      worldSize: 1,
      masterAddr: '',
      masterPort: 0,
      joinTimeoutMs: 600_000,
      opTimeoutMs: 1_800_000,
    });
    expect(() => groupOptions.parse({ rank: 2, worldSize: 2, masterAddr: 'a', masterPort: 1 })).toThrow(/rank must be less than worldSize/);
    expect(() => groupOptions.parse({ rank: 0, worldSize: 2 })).toThrow(/masterAddr and masterPort/);
    expect(() => groupOptions.parse({ rank: 0, worldSize: 1, localRank: 0 })).toThrow(/localRank/);
    expect(buildInfo().backends).toContain('cpu');
    const model = await QLoraModel.load(join(REPO, 'examples/tiny-llama'), { backend: 'cpu', lora: { r: 8, dropout: 0 } });
    model.configureTraining({ learningRate: 1e-3, totalSteps: 2 });
    await expect(model.step([])).rejects.toThrow(/at least one micro-batch/);
    await expect(model.allReduceSum(Float32Array.of(1))).rejects.toThrow(/call joinGroup\(\) first/);
    // A group of one: nothing to exchange; the sum is the input and an empty step moves only the count.
    await model.joinGroup({ rank: 0, worldSize: 1 });
    await expect(model.joinGroup({ rank: 0, worldSize: 1 })).rejects.toThrow(/already is rank 0 of a group of 1/);
    expect(Array.from(await model.allReduceSum(Float32Array.of(1.5, -2)))).toEqual([1.5, -2]);
    expect(await model.step([])).toMatchObject({ tokens: 0, loss: 0, step: 1 });
    model.free();
  }, 60_000);
});

// One process of group.test.ts: rank RANK of WORLD_SIZE (MASTER_PORT on 127.0.0.1) loads the tiny
// example model, joins the group, sums a vector over the ranks, and takes two steps: the first with the
// batch on rank 0 only (the other ranks bring []), the second with one row per rank. Without RANK it is
// the reference: one process stepping on every rank's rows. Prints one JSON line.
import { join } from 'node:path';
import { QLoraModel, type Batch } from './runtime.js';

const REPO = join(import.meta.dirname, '../..');
const world = Number(process.env.WORLD_SIZE ?? 1);
const rank = process.env.RANK === undefined ? undefined : Number(process.env.RANK);

const row = (seed: number): number[] => Array.from({ length: 24 }, (_, i) => 5 + ((i * 7 + seed * 13) % 200));
const batch = (seed: number): Batch => ({ inputIds: [row(seed)], labels: [row(seed)] });
/** steps[s][r]: rank r's micro-batches in step s. */
const steps: Batch[][][] = [[[batch(0), batch(1)], ...Array.from({ length: world - 1 }, () => [])], Array.from({ length: world }, (_, r) => [batch(10 + r)])];

const model = await QLoraModel.load(join(REPO, 'examples/tiny-llama'), { backend: 'cpu', lora: { r: 8, dropout: 0 } });
model.configureTraining({ learningRate: 1e-2, totalSteps: steps.length, lrScheduler: 'constant' });
let sum: number[] = [];
if (rank !== undefined) {
  await model.joinGroup({
    rank,
    worldSize: world,
    masterAddr: '127.0.0.1',
    masterPort: Number(process.env.MASTER_PORT),
    joinTimeoutMs: 30_000,
    opTimeoutMs: 60_000,
  });
  sum = Array.from(await model.allReduceSum(Float32Array.of(rank + 1, 0.5, -rank)));
}
const stats = [];
for (const step of steps) stats.push(await model.step(rank === undefined ? step.flat() : step[rank]!));
const weights = model.loraParameters().flatMap((p) => Array.from(p.value));
console.log(JSON.stringify({ rank: rank ?? -1, sum, stats, weights }));
model.free();

// One rank of the data-parallel benchmark (data-parallel.ts): the tiny model, a fixed batch, STEPS
// timed optimizer steps, then STEPS all-reduces of a buffer the size of the LoRA gradients alone.
// Rank 0 prints one JSON line.
import { QLoraModel } from '@loraplane/native/runtime';

const [modelDir, batchArg, seqArg, stepsArg] = process.argv.slice(2);
const [batch, seq, steps] = [Number(batchArg), Number(seqArg), Number(stepsArg)];
const rank = Number(process.env.RANK ?? 0);
const worldSize = Number(process.env.WORLD_SIZE ?? 1);

const model = await QLoraModel.load(modelDir!, {});
await model.joinGroup({ rank, worldSize, masterAddr: '127.0.0.1', masterPort: Number(process.env.MASTER_PORT ?? 0) });
model.configureTraining({ learningRate: 1e-4, totalSteps: steps + 1 });
// Every rank its own rows (seeded by rank): the timing does not depend on which.
const ids = (r: number) => Array.from({ length: seq }, (_, t) => (r * 7919 + t * 104729 + rank * 31) % model.info.vocabSize);
const rows = Array.from({ length: batch }, (_, r) => ids(r));
const micro = [{ inputIds: rows, labels: rows }];
await model.step(micro); // warm-up: allocations, thread pools, the group's first connections

let t0 = performance.now();
for (let i = 0; i < steps; i++) await model.step(micro);
const stepMs = (performance.now() - t0) / steps;

const gradientFloats = model.loraParameters().reduce((n, p) => n + p.value.length, 0);
const buffer = new Float32Array(gradientFloats);
t0 = performance.now();
for (let i = 0; i < steps; i++) await model.allReduceSum(buffer);
const allReduceMs = (performance.now() - t0) / steps;

if (rank === 0) console.log(JSON.stringify({ worldSize, stepMs, allReduceMs, gradientBytes: gradientFloats * 4 }));
model.free();

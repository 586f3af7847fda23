// One process of the data-parallel equivalence test (data-parallel.test.ts): a local run of the tiny
// manifest with the given per-rank batch and steps, as rank RANK of WORLD_SIZE when those are set (as
// the pod supervisor sets them) or as a single process. Prints each step's loss as one JSON line.
import pino from 'pino';
import { configFromManifest } from '@loraplane/trainer/job-config';
import { rankFromEnv } from '@loraplane/trainer/ranks';
import { runFineTune } from '@loraplane/trainer/run';
import { REPO, TINY_MANIFEST } from './run-process.js';

const [batchSize, steps, workDir, outputDir] = process.argv.slice(2);
const config = configFromManifest(TINY_MANIFEST);
// No dropout: each rank would draw its own masks, so ranks and one process would differ by design. fp32
// compute: bf16 rounding turns the GEMMs' last-bit differences between batch shapes into visible ones.
config.spec.lora = { ...config.spec.lora, dropout: 0 };
config.spec.quantization = { ...config.spec.quantization, computeDtype: 'float32' };
config.spec.training = {
  ...config.spec.training,
  batchSize: Number(batchSize),
  gradientAccumulationSteps: 1,
  maxSteps: Number(steps),
  saveSteps: undefined,
  evalSteps: undefined,
};
const losses: number[] = [];
const options = {
  config,
  workDir: workDir!,
  outputDir: outputDir!,
  log: pino({ level: 'warn' }),
  resolve: { pvcRoot: () => `${REPO}/examples` },
  onStep: (r: { loss: number }) => void losses.push(r.loss),
};
const group = rankFromEnv();
await (group ? runFineTune({ ...options, group }) : runFineTune(options));
console.log(JSON.stringify({ rank: group?.rank ?? 0, losses }));

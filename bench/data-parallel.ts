// Benchmark: data-parallel steps on the CPU backend (Gloo between rank processes on this machine) for
// world sizes 1, 2 and 4: time per optimizer step, the LoRA gradient bytes all-reduced per step and the
// all-reduce's share of the step; then the same model on paper for an 8B model on 8 GPUs over NCCL.
// On a machine with fewer cores than ranks expect no speed-up: the ranks share the cores.
// Run: npm run bench:data-parallel
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/e2e/support/operator-process.js';

const repo = join(import.meta.dirname, '..');
const MODEL = join(repo, 'examples/tiny-llama');
const [BATCH, SEQ, STEPS] = [4, 128, 10];

interface RankResult {
  worldSize: number;
  stepMs: number;
  allReduceMs: number;
  gradientBytes: number;
}

async function measure(worldSize: number): Promise<RankResult> {
  const port = await freePort();
  const threads = String(Math.max(1, Math.floor(availableParallelism() / worldSize)));
  const outputs = await Promise.all(
    Array.from({ length: worldSize }, (_, rank) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--conditions=source', join(import.meta.dirname, 'data-parallel-rank.ts'), MODEL, String(BATCH), String(SEQ), String(STEPS)],
        {
          cwd: repo,
          env: {
            ...process.env,
            RANK: String(rank),
            WORLD_SIZE: String(worldSize),
            MASTER_PORT: String(port),
            OMP_NUM_THREADS: threads,
            OPENBLAS_NUM_THREADS: threads,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      return new Promise<string>((resolve, reject) =>
        child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited ${code}`)))),
      );
    }),
  );
  return JSON.parse(outputs[0]!.trim().split('\n').at(-1)!) as RankResult;
}

const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
console.log(`Processor: ${model}, ${cpus().length} cores. Model: examples/tiny-llama, per-rank batch ${BATCH} x ${SEQ} tokens, mean of ${STEPS} steps.\n`);
console.log('| ranks | step (ms) | rows per step | LoRA gradient all-reduced per step | all-reduce alone (ms) | its share of the step |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const world of [1, 2, 4]) {
  const r = await measure(world);
  const share = world === 1 ? '-' : `${((100 * r.allReduceMs) / r.stepMs).toFixed(1)}%`;
  console.log(
    `| ${world} | ${r.stepMs.toFixed(1)} | ${BATCH * world} | ${(r.gradientBytes / 1024).toFixed(0)} KiB | ${world === 1 ? '-' : r.allReduceMs.toFixed(2)} | ${share} |`,
  );
}

// On paper: Llama-3-8B (hidden 4096, intermediate 14336, 32 layers, 8 KV heads of 128), LoRA r=16 on
// all seven projections, fp32 gradients, a ring all-reduce moving 2(N-1)/N of the bytes over 400 GB/s.
const [hidden, inter, layers, kv, r, gpus, busGBs] = [4096, 14336, 32, 1024, 16, 8, 400];
const perLayer = r * (2 * (hidden + hidden) + 2 * (hidden + kv) + 2 * (hidden + inter) + (inter + hidden));
const bytes = perLayer * layers * 4;
const ringMs = ((2 * (gpus - 1)) / gpus) * (bytes / (busGBs * 1e9)) * 1e3;
// A step of 4 x 4096 tokens per GPU: about 4 x 8e9 FLOPs per token through a frozen base (forward, and
// backward to the activations only), at 400 TFLOP/s sustained bf16 on an H100.
const tokens = 4 * 4096;
const stepMs = ((4 * 8.03e9 * tokens) / 400e12) * 1e3;
console.log(
  `\nOn paper, 8B on ${gpus} GPUs: LoRA r=${r} gradients ${(bytes / 2 ** 20).toFixed(0)} MiB per step; ring all-reduce at ${busGBs} GB/s ${ringMs.toFixed(2)} ms; a step of ${tokens} tokens per GPU about ${stepMs.toFixed(0)} ms; communication ${((100 * ringMs) / stepMs).toFixed(2)}% of the step.`,
);

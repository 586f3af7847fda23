// Benchmark: a QLoRA training step on the CPU, loraplane's native runtime next to PyTorch + PEFT +
// bitsandbytes, same model, batch, sequence length, LoRA settings and thread count, in one run.
// Run: npm run bench:native
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { referencePython } from '../test/reference/reference-python.js';

const repo = join(import.meta.dirname, '..');
const python = referencePython();
const threads = Number(process.env.BENCH_THREADS ?? cpus().length);
const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };

const CONFIGS = [
  { name: 'small: 2 layers, hidden 256', layers: 2, hidden: 256, intermediate: 688, heads: 4, kvHeads: 4, batch: 4, seq: 256, steps: 5 },
  { name: 'larger: 8 layers, hidden 1024', layers: 8, hidden: 1024, intermediate: 2816, heads: 16, kvHeads: 8, batch: 1, seq: 256, steps: 2 },
];

interface Timing {
  tokens_per_second: number;
  peak_rss_mib: number;
}
const run = (cmd: string, args: string[]): Timing => JSON.parse(execFileSync(cmd, args, { env, encoding: 'utf8' }).trim().split('\n').at(-1)!) as Timing;

const rows: string[] = [];
for (const c of CONFIGS) {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-model-'));
  execFileSync(python, [join(repo, 'bench/peer/make_model.py'), dir, '--layers', `${c.layers}`, '--hidden', `${c.hidden}`, '--intermediate', `${c.intermediate}`, '--heads', `${c.heads}`, '--kv-heads', `${c.kvHeads}`], { env, stdio: 'inherit' });
  const native = run(process.execPath, ['--import', 'tsx', join(repo, 'bench/native-step-worker.ts'), dir, `${c.batch}`, `${c.seq}`, `${c.steps}`]);
  const torch = run(python, [join(repo, 'bench/peer/torch_qlora_step.py'), dir, '--batch', `${c.batch}`, '--seq', `${c.seq}`, '--steps', `${c.steps}`, '--threads', `${threads}`]);
  rows.push(
    `| ${c.name} (batch ${c.batch} x ${c.seq}) | ${native.tokens_per_second.toFixed(0)} | ${torch.tokens_per_second.toFixed(0)} | ${(native.tokens_per_second / torch.tokens_per_second).toFixed(2)} | ${native.peak_rss_mib.toFixed(0)} | ${torch.peak_rss_mib.toFixed(0)} |`,
  );
}
console.log(`\nQLoRA training step on the CPU, ${threads} threads (NF4 + double quant, fp32 compute, r 16 on all seven projections, gradient checkpointing)\n`);
console.log('| model | native tokens/s | PyTorch+PEFT+bnb tokens/s | speed ratio native/torch | native peak RSS MiB | torch peak RSS MiB |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

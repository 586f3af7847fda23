// Benchmark: a QLoRA training step on the CPU, loraplane's native runtime next to PyTorch + PEFT +
// bitsandbytes, same model, batch, sequence length, LoRA settings and thread count, in one run; each in
// fp32 compute and in bf16 (native: precision bf16; PyTorch: bnb_4bit_compute_dtype=torch.bfloat16 under
// torch.autocast("cpu", dtype=torch.bfloat16)). Prints the processor and the table.
// Run: npm run bench:native
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
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

const PRECISIONS = [
  { native: 'fp32', torch: 'float32' },
  { native: 'bf16', torch: 'bfloat16' },
] as const;

interface Timing {
  tokens_per_second: number;
  peak_rss_mib: number;
  device?: string;
}
const run = (cmd: string, args: string[]): Timing => JSON.parse(execFileSync(cmd, args, { env, encoding: 'utf8' }).trim().split('\n').at(-1)!) as Timing;

// The processor: its model name and the instruction sets that decide the GEMM kernels (AVX-512 BF16 and
// AMX give a native bf16 GEMM; without them bf16 compute is rounded operands through an fp32 GEMM).
function processor(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? 'unknown';
  const flags = new Set(/^flags\s*:\s*(.+)$/m.exec(info)?.[1]?.split(/\s+/) ?? []);
  const isa = ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'].map((f) => `${f} ${flags.has(f) ? 'yes' : 'no'}`).join(', ');
  return `${model} (${cpus().length} logical CPUs; ${isa})`;
}

const rows: string[] = [];
let nativeDevice = '';
for (const c of CONFIGS) {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-model-'));
  execFileSync(
    python,
    [
      join(repo, 'bench/peer/make_model.py'),
      dir,
      '--layers',
      `${c.layers}`,
      '--hidden',
      `${c.hidden}`,
      '--intermediate',
      `${c.intermediate}`,
      '--heads',
      `${c.heads}`,
      '--kv-heads',
      `${c.kvHeads}`,
    ],
    { env, stdio: 'inherit' },
  );
  for (const p of PRECISIONS) {
    const native = run(process.execPath, ['--import', 'tsx', join(repo, 'bench/native-step-worker.ts'), dir, `${c.batch}`, `${c.seq}`, `${c.steps}`, p.native]);
    const torch = run(python, [
      join(repo, 'bench/peer/torch_qlora_step.py'),
      dir,
      '--batch',
      `${c.batch}`,
      '--seq',
      `${c.seq}`,
      '--steps',
      `${c.steps}`,
      '--threads',
      `${threads}`,
      '--compute-dtype',
      p.torch,
    ]);
    if (p.native === 'fp32') nativeDevice = native.device ?? '';
    rows.push(
      `| ${c.name} (batch ${c.batch} x ${c.seq}) | ${p.native} | ${native.tokens_per_second.toFixed(0)} | ${torch.tokens_per_second.toFixed(0)} | ${(native.tokens_per_second / torch.tokens_per_second).toFixed(2)} | ${native.peak_rss_mib.toFixed(0)} | ${torch.peak_rss_mib.toFixed(0)} |`,
    );
  }
}
console.log(`\nQLoRA training step on the CPU, ${threads} threads (NF4 + double quant, r 16 on all seven projections, gradient checkpointing)`);
console.log(`processor: ${processor()}`);
console.log(
  `native: ${nativeDevice}; compute fp32: fp32 throughout; bf16: the 4-bit projections in bf16 (weight, input and output rounded to bf16, fp32 accumulation), the rest fp32`,
);
console.log(
  'PyTorch: fp32: bnb_4bit_compute_dtype=torch.float32; bf16: bnb_4bit_compute_dtype=torch.bfloat16 under torch.autocast("cpu", dtype=torch.bfloat16)\n',
);
console.log('| model | compute | native tokens/s | PyTorch+PEFT+bnb tokens/s | speed ratio native/torch | native peak RSS MiB | torch peak RSS MiB |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

// The adapter `npm run demo` writes loads in PEFT and gives the runtime's logits: the demo's own spec through
// the real CLI (shortened with --max-steps), then check_demo_adapter.py on the reference stack (bitsandbytes
// 4-bit base + PeftModel.from_pretrained) against the runtime holding the same base and the saved adapter.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { QLoraModel } from '@loraplane/native/runtime';
import { resolveSource } from '@loraplane/storage/location';
import { configFromManifest } from '@loraplane/trainer/job-config';
import { loadModelTokenizer } from '@loraplane/trainer/data/model-tokenizer';
import { chatPrompt } from '@loraplane/trainer/prompt';
import { loraplaneRun, REPO } from '../trainer/run-process.js';
import { referencePython } from './reference-python.js';

const DEMO_SPEC = join(REPO, 'examples/demo/finetune.yaml');
// scripts/demo.sh's question; check_demo_adapter.py asks it by default.
const SYSTEM = 'You are the support assistant for Acme Cloud Storage.';
const PROMPT = 'How much is the Pro plan per month?';
// Enough optimizer steps at the demo's lr for the adapter to move the logits far from the base's (a few seconds).
const STEPS = 8;
/**
 * Both sides compute in fp32 on identical NF4 bytes with the same LoRA weights; what is left is the order of
 * fp32 sums (OpenBLAS vs torch gemm, K ≤ 448, 4 layers), of order 1e-6 relative as in the goldens
 * (README: fp64 vs fp32 ≤ 2.1e-6). One wrong quantization block, a LoRA scaling off, or a module left out
 * moves the logits by orders of magnitude more: the adapter alone moves them by tens of percent here.
 */
const TOLERANCE = 1e-5;

interface PeftCheck {
  adapter_config: {
    peft_type: string;
    task_type: string;
    r: number;
    lora_alpha: number;
    use_rslora: boolean;
    target_modules: string[];
    base_model_name_or_path: string;
  };
  lora_layers: number;
  unloaded_weights: string[];
  input_ids: number[];
  adapter_effect_relative: number;
  max_relative_error: number;
}

let python: string;

beforeAll(() => {
  python = referencePython();
}, 1_800_000);

describe('the adapter npm run demo writes', () => {
  it("loads in PEFT with the spec's LoRA settings and gives the runtime's logits", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lp-demo-adapter-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const output = join(dir, 'output');
    const run = loraplaneRun([DEMO_SPEC, '--work', join(dir, 'work'), '--output', output, '--max-steps', String(STEPS)]);
    expect(await run.exited, run.output()).toBe(0);
    expect(JSON.parse(readFileSync(join(output, 'training_metrics.json'), 'utf8')).metrics.steps).toBe(STEPS);

    const { spec } = configFromManifest(DEMO_SPEC);
    // What check_demo_adapter.py reproduces with bitsandbytes (its 4-bit block size is fixed at 64).
    expect(spec.method).toBe('qlora');
    expect({ doubleQuant: spec.quantization.doubleQuant, blockSize: spec.quantization.blockSize }).toEqual({ doubleQuant: true, blockSize: 64 });
    const base = resolveSource('baseModel', spec.baseModel.source, { pvcRoot: () => join(REPO, 'examples') });
    if (base.kind !== 'local') throw new Error(`the demo's base model is expected on the examples PVC, not ${base.uri}`);

    // The runtime: the base quantized as the spec says, the adapter from the files the CLI wrote, in fp32
    // precision as check_demo_adapter.py's PEFT computes (bnb_4bit_compute_dtype=torch.float32).
    const { r, alpha, useRslora, targetModules } = spec.lora;
    const model = await QLoraModel.load(base.path, {
      precision: 'fp32',
      quantType: spec.quantization.type,
      doubleQuant: spec.quantization.doubleQuant,
      blockSize: spec.quantization.blockSize,
      lora: { r, alpha, useRslora, targetModules, dropout: 0 },
    });
    await model.loadAdapter(output);
    const { ids } = await chatPrompt(loadModelTokenizer(base.path), PROMPT, SYSTEM);
    const logits = await model.logits({ inputIds: [ids] });
    model.free();
    writeFileSync(join(dir, 'logits.f32'), Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));

    const args = [
      join(import.meta.dirname, 'check_demo_adapter.py'),
      output,
      base.path,
      '--quant-type',
      spec.quantization.type,
      '--prompt',
      PROMPT,
      '--system',
      SYSTEM,
      '--runtime-logits',
      join(dir, 'logits.f32'),
    ];
    const peft = JSON.parse(execFileSync(python, args, { encoding: 'utf8' }).trim().split('\n').at(-1)!) as PeftCheck;

    expect(peft.adapter_config).toEqual({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r,
      lora_alpha: alpha,
      use_rslora: useRslora,
      target_modules: [...targetModules].sort(),
      base_model_name_or_path: spec.baseModel.name,
    });
    expect(peft.unloaded_weights).toEqual([]);
    expect(peft.lora_layers).toBe(model.info.layers * targetModules.length);
    // The adapter's tokenizer files give PEFT the token ids the trainer's own template and tokenizer gave.
    expect(peft.input_ids).toEqual(ids);
    expect(peft.adapter_effect_relative).toBeGreaterThan(1000 * TOLERANCE);
    expect(peft.max_relative_error).toBeLessThan(TOLERANCE);
    console.log(
      `demo adapter, ${STEPS} steps: runtime vs PEFT logits max relative error ${peft.max_relative_error.toExponential(2)} (adapter effect ${peft.adapter_effect_relative.toFixed(3)})`,
    );
  }, 300_000);
});

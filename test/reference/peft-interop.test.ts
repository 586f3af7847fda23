// PEFT format both ways, checked by the real reference stack: an adapter the runtime trained and saved
// loads in PEFT on the bitsandbytes 4-bit base and gives the runtime's logits; the adapter PEFT saved
// after the golden run loads in the runtime and gives PEFT's trained model's behaviour.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDENS, readInputs } from '@loraplane/native/golden.test-support';
import { QLoraModel } from '@loraplane/native/runtime';
import { referencePython } from './reference-python.js';

let python: string;

beforeAll(() => {
  python = referencePython();
}, 1_800_000);

describe.each(['llama', 'qwen2', 'qwen3'])('PEFT interop (%s)', (goldenCase) => {
  it('an adapter saved by the runtime loads in PEFT and gives the same logits', async () => {
    const inputs = readInputs(goldenCase);
    // check_peft_interop.py's PEFT computes in fp32 (bnb_4bit_compute_dtype=torch.float32).
    const model = await QLoraModel.load(join(GOLDENS, goldenCase, 'model'), { lora: { r: 16, alpha: 32, dropout: 0, seed: 3 }, precision: 'fp32' });
    model.configureTraining({ learningRate: 5e-3, totalSteps: 3, lrScheduler: 'constant' });
    for (let i = 0; i < 3; i++) await model.step([{ inputIds: inputs.input_ids, labels: inputs.labels }]);
    const dir = mkdtempSync(join(tmpdir(), 'lp-interop-'));
    await model.saveAdapter(join(dir, 'adapter'), `golden/${goldenCase}`);
    const logits = await model.logits({ inputIds: inputs.input_ids });
    writeFileSync(join(dir, 'logits.f32'), Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
    model.free();

    const out = execFileSync(
      python,
      [join(import.meta.dirname, 'check_peft_interop.py'), join(GOLDENS, goldenCase), join(dir, 'adapter'), join(dir, 'logits.f32')],
      {
        encoding: 'utf8',
      },
    );
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { max_relative_error: number; lora_modules: number };
    expect(result.lora_modules).toBe(7);
    expect(result.max_relative_error).toBeLessThan(1e-5);
  }, 300_000);

  it("PEFT's saved adapter (after the golden 20 steps) loads in the runtime", async () => {
    const model = await QLoraModel.load(join(GOLDENS, goldenCase, 'model'), { lora: { r: 16, alpha: 32, dropout: 0 } });
    await model.loadAdapter(join(GOLDENS, goldenCase, 'final_adapter'));
    const loaded = new Map(model.loraParameters().map((p) => [p.name, p.value]));
    const dir = mkdtempSync(join(tmpdir(), 'lp-roundtrip-'));
    copyFileSync(join(GOLDENS, goldenCase, 'final_adapter/adapter_config.json'), join(dir, 'adapter_config.json'));
    await model.saveAdapter(join(dir, 'again'), 'model');
    const again = await QLoraModel.load(join(GOLDENS, goldenCase, 'model'), { lora: { r: 16, alpha: 32, dropout: 0, seed: 5 } });
    await again.loadAdapter(join(dir, 'again'));
    for (const p of again.loraParameters()) expect(Array.from(p.value)).toEqual(Array.from(loaded.get(p.name)!));
    expect(loaded.size).toBe(2 * 2 * 7);
    model.free();
    again.free();
  });
});

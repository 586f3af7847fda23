// The binding over the native runtime: results equal the PyTorch goldens through the JS API, long
// calls leave the event loop free, errors arrive as exceptions that say what was wrong, nothing leaks.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDENS, readF32Safetensors, readInputs, relativeError } from './golden.test-support.js';
import { loadNative } from './binding.js';
import { backends, buildInfo, generateOptions, loadOptions, QLoraModel, trainingOptions } from './runtime.js';

const llama = join(GOLDENS, 'llama');
const lora = { r: 16, alpha: 32, dropout: 0 };

/** A PEFT adapter dir holding the goldens' initial LoRA weights (lora_init) under final_adapter's config. */
function goldenInitAdapter(goldenCase: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lp-adapter-'));
  copyFileSync(join(GOLDENS, goldenCase, 'final_adapter/adapter_config.json'), join(dir, 'adapter_config.json'));
  copyFileSync(join(GOLDENS, goldenCase, 'lora_init.safetensors'), join(dir, 'adapter_model.safetensors'));
  return dir;
}

describe('native runtime binding', () => {
  it('reports its build', () => {
    const info = buildInfo();
    expect(info.backends).toContain('cpu');
    expect(info.backends).toContain(info.backend);
    expect(backends()).toEqual(info.backends);
    expect(typeof info.gemm).toBe('string');
  });

  it('runs on the backend asked for, and says which', async () => {
    const model = await QLoraModel.load(join(llama, 'model'), { lora, backend: 'cpu' });
    // precision bf16 (the default) says so: "cpu (openblas GEMM, 2 threads, bf16)".
    expect(model.info).toMatchObject({ backend: 'cpu', device: expect.stringMatching(/^cpu \(.+ GEMM, \d+ threads, bf16\)$/) });
    model.configureTraining({ learningRate: 1e-3, totalSteps: 1 });
    const row = Array.from({ length: 32 }, (_, i) => i);
    const stats = await model.step([{ inputIds: [row], labels: [row] }]);
    // The step's workspace alone (32 tokens, hidden 64, 2 layers) holds more than 32 KiB.
    expect(stats.peakMemoryBytes).toBeGreaterThan(32 * 1024);
    model.free();
  });

  it('refuses a cuda backend it cannot have, naming why', async () => {
    const info = buildInfo();
    const load = QLoraModel.load(join(llama, 'model'), { lora, backend: 'cuda' });
    if (!info.backends.includes('cuda')) await expect(load).rejects.toThrow(/backend cuda was asked for but this build has no CUDA backend/);
    else if (info.backend === 'cpu') await expect(load).rejects.toThrow(/backend cuda was asked for but no CUDA device/);
    else {
      const model = await load;
      expect(model.info.backend).toBe('cuda');
      model.free();
    }
  });

  it('takes the backend from LORAPLANE_BACKEND when the option is not given', async () => {
    const saved = process.env.LORAPLANE_BACKEND;
    try {
      process.env.LORAPLANE_BACKEND = 'gpu';
      await expect(QLoraModel.load(join(llama, 'model'), { lora })).rejects.toThrow(/Expected auto, cpu or cuda for LORAPLANE_BACKEND but received "gpu"/);
      process.env.LORAPLANE_BACKEND = 'cpu';
      const model = await QLoraModel.load(join(llama, 'model'), { lora });
      expect(model.info.backend).toBe('cpu');
      model.free();
    } finally {
      if (saved === undefined) delete process.env.LORAPLANE_BACKEND;
      else process.env.LORAPLANE_BACKEND = saved;
    }
  });

  it('gives the PyTorch + PEFT + bitsandbytes logits and loss for the golden Llama', async () => {
    // The golden computed in fp32 (bnb_4bit_compute_dtype=torch.float32).
    const model = await QLoraModel.load(join(llama, 'model'), { lora, precision: 'fp32' });
    await model.loadAdapter(goldenInitAdapter('llama'));
    const inputs = readInputs('llama');
    const ref = readF32Safetensors(join(llama, 'outputs.safetensors'));
    const logits = await model.logits({ inputIds: inputs.input_ids });
    expect(relativeError(logits, ref.get('logits')!.data)).toBeLessThan(1e-5);
    const { loss, tokens } = await model.evaluate({ inputIds: inputs.input_ids, labels: inputs.labels });
    expect(tokens).toBe(23);
    expect(Math.abs(loss - ref.get('loss')!.data[0]!)).toBeLessThan(1e-5);
    expect(model.info).toMatchObject({ architecture: 'LlamaForCausalLM', layers: 2, vocabSize: 128 });
    model.free();
  });

  it('saves a PEFT adapter that loads back into a fresh model with the same logits', async () => {
    const inputs = { inputIds: readInputs('llama').input_ids };
    const trained = await QLoraModel.load(join(llama, 'model'), { lora: { ...lora, seed: 7 } });
    trained.configureTraining({ learningRate: 1e-2, totalSteps: 3, lrScheduler: 'constant' });
    await trained.step([{ ...inputs, labels: readInputs('llama').labels }]);
    const dir = mkdtempSync(join(tmpdir(), 'lp-saved-'));
    await trained.saveAdapter(dir, 'golden/llama');
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 16, lora_alpha: 32, base_model_name_or_path: 'golden/llama', task_type: 'CAUSAL_LM' });

    const fresh = await QLoraModel.load(join(llama, 'model'), { lora: { ...lora, seed: 99 } });
    await fresh.loadAdapter(dir);
    expect(relativeError(await fresh.logits(inputs), await trained.logits(inputs))).toBe(0);
    trained.free();
    fresh.free();
  });

  it('runs a training step off the event loop', async () => {
    const model = await QLoraModel.load(join(llama, 'model'), { lora });
    model.configureTraining({ learningRate: 1e-3, totalSteps: 10 });
    const row = Array.from({ length: 128 }, (_, i) => (i * 7) % 128);
    const batch = { inputIds: Array(16).fill(row), labels: Array(16).fill(row) };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const stats = await model.step([batch]);
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(stats).toMatchObject({ step: 1, tokens: 16 * 127 });
    expect(Number.isFinite(stats.loss)).toBe(true);
    // The timer kept firing while the step ran on a worker thread.
    expect(ticks).toBeGreaterThanOrEqual(Math.min(3, Math.floor(elapsed / 4)));
    expect(() => model.configureTraining({ learningRate: 1e-3, totalSteps: 10 })).not.toThrow();
    const pending = model.step([batch]);
    await expect(model.evaluate(batch)).rejects.toThrow(/another call on this model is still running/);
    await pending;
    model.free();
    await expect(model.evaluate(batch)).rejects.toThrow(/freed/);
  });

  it('turns bad input into errors that say what was wrong', async () => {
    await expect(QLoraModel.load('/nonexistent/model')).rejects.toThrow(/\/nonexistent\/model/);
    const gpt2 = mkdtempSync(join(tmpdir(), 'lp-gpt2-'));
    writeFileSync(join(gpt2, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 10 }));
    await expect(QLoraModel.load(gpt2)).rejects.toThrow(/unsupported architecture GPT2LMHeadModel/);
    await expect(QLoraModel.load(join(llama, 'model'), { blockSize: 100 })).rejects.toThrow(/power of two/);

    const model = await QLoraModel.load(join(llama, 'model'), { lora: { ...lora, r: 8 } });
    await expect(model.loadAdapter(goldenInitAdapter('llama'))).rejects.toThrow(/r/);
    await expect(model.logits({ inputIds: [[1, 2, 500]] })).rejects.toThrow(/inputIds\[2\] is 500/);
    await expect(model.logits({ inputIds: [[1, 2, 3], [4], [5, 6]] })).rejects.toThrow(/every row of inputIds to have 2 tokens/);
    model.free();
  });

  it('requires every option on the native side and names the one that is missing', async () => {
    // The defaults live only in options.ts: the addon takes no key as given, so a schema key it reads
    // but the schema lost (or a caller that skips the schema) fails loudly, by name.
    const without = <T extends object>(o: T, key: string): T => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key)) as T;
    const native = loadNative();
    const dir = join(llama, 'model');
    const load = loadOptions.parse({ lora, backend: 'cpu' });
    for (const key of Object.keys(load)) {
      expect(() => native.NativeModel.load(dir, without(load, key))).toThrow(`Missing ${key} in the options of NativeModel.load (native/lib/options.ts`);
    }
    for (const key of Object.keys(load.lora)) {
      expect(() => native.NativeModel.load(dir, { ...load, lora: without(load.lora, key) })).toThrow(`Missing lora.${key} in the options of NativeModel.load`);
    }
    const model = await native.NativeModel.load(dir, load);
    const training = trainingOptions.parse({ learningRate: 1e-3, totalSteps: 1 });
    for (const key of Object.keys(training)) {
      expect(() => model.configureTraining(without(training, key))).toThrow(`Missing ${key} in the options of configureTraining`);
    }
    const generate = { ...generateOptions.parse({}), stopIds: new Int32Array() };
    for (const key of Object.keys(generate)) {
      expect(() => model.generate(Int32Array.of(1), without(generate, key))).toThrow(`Missing ${key} in the options of generate`);
    }
    expect(() => model.configureTraining({ ...training, beta1: '0.9' as unknown as number })).toThrow('Expected a number for beta1 but received a string');
    model.free();

    // Through the API, the schema's defaults fill every key in.
    const api = await QLoraModel.load(dir, { lora, backend: 'cpu' });
    expect(() => api.configureTraining({ learningRate: 1e-3, totalSteps: 1 })).not.toThrow();
    expect(await api.generate([1, 2, 3], { maxNewTokens: 2 })).toHaveLength(2);
    api.free();
  });

  it('does not leak across 1,000 load/free cycles', async () => {
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    for (let i = 0; i < 50; i++) (await QLoraModel.load(join(llama, 'model'), { lora })).free();
    const before = rss();
    for (let i = 0; i < 1000; i++) (await QLoraModel.load(join(llama, 'model'), { lora })).free();
    expect(rss() - before).toBeLessThan(32);
  }, 120_000);
});

// A real pretrained model from a GGUF file: SmolLM2-135M-Instruct as llama.cpp's Q4_1 GGUF (fetch-smollm2.sh,
// cached outside the repository). The runtime reads it directly (Q4_1 and Q8_0 dequantized as llama.cpp does,
// llama's q/k rows un-permuted), quantizes it to NF4 and computes the logits the reference stack computes on
// the same NF4 weights (gguf_reference.py: transformers' own GGUF loading, bitsandbytes' NF4 round trip); a
// short fine-tune on the bundled support conversations lowers the held-out loss.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readF32Safetensors, relativeError } from '@loraplane/native/golden.test-support';
import { QLoraModel } from '@loraplane/native/runtime';
import { referencePython } from './reference-python.js';

interface Example {
  input_ids: number[];
  labels: number[];
}

let gguf: string;
let ref: string;
let inputs: { input_ids: number[]; train: Example[]; eval: Example[] };

beforeAll(() => {
  const python = referencePython();
  gguf = execFileSync('bash', [join(import.meta.dirname, 'fetch-smollm2.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  ref = mkdtempSync(join(tmpdir(), 'lp-gguf-'));
  // transformers dequantizes the whole GGUF in numpy: about 2 minutes on 2 busy cores.
  const out = execFileSync(python, [join(import.meta.dirname, 'gguf_reference.py'), gguf, ref], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(`[gguf] reference: ${out.trim().split('\n').at(-1)}`);
  inputs = JSON.parse(readFileSync(join(ref, 'inputs.json'), 'utf8')) as typeof inputs;
}, 1_800_000);

describe('SmolLM2-135M-Instruct from its Q4_1 GGUF', () => {
  it("gives the reference stack's logits on the same NF4 weights", async () => {
    const model = await QLoraModel.load(gguf, { lora: { r: 8, alpha: 16, dropout: 0 }, precision: 'fp32' });
    expect(model.info).toMatchObject({ vocabSize: 49152 });
    const logits = await model.logits({ inputIds: [inputs.input_ids] });
    model.free();
    const want = readF32Safetensors(join(ref, 'reference.safetensors'));
    const nf4 = relativeError(logits, want.get('nf4_dense')!.data);
    const fp32 = relativeError(logits, want.get('fp32')!.data);
    console.log(
      `[gguf] ${inputs.input_ids.length} tokens: runtime vs dense fp32 on NF4 weights ${nf4.toExponential(2)}, vs the unquantized fp32 model ${fp32.toExponential(2)}`,
    );
    expect(nf4).toBeLessThan(1e-5);
    expect(fp32).toBeGreaterThan(100 * nf4); // NF4 moves the logits far more than the runtime differs from the reference
  }, 300_000);

  it('a short fine-tune lowers the held-out loss', async () => {
    const model = await QLoraModel.load(gguf, { lora: { r: 8, alpha: 16, dropout: 0, seed: 1 }, precision: 'fp32' });
    const evalLoss = async () => {
      let sum = 0;
      let tokens = 0;
      for (const e of inputs.eval) {
        const r = await model.evaluate({ inputIds: [e.input_ids], labels: [e.labels] });
        sum += r.loss * r.tokens;
        tokens += r.tokens;
      }
      return sum / tokens;
    };
    const before = await evalLoss();
    const steps = 8;
    model.configureTraining({ learningRate: 1e-3, totalSteps: steps, lrScheduler: 'constant' });
    const started = performance.now();
    let trained = 0;
    for (let s = 0; s < steps; s++) {
      const micro = inputs.train.slice(2 * s, 2 * s + 2).map((e) => ({ inputIds: [e.input_ids], labels: [e.labels] }));
      trained += micro.reduce((n, b) => n + b.inputIds[0]!.length, 0);
      await model.step(micro);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await evalLoss();
    model.free();
    console.log(
      `[gguf] held-out loss ${before.toFixed(3)} -> ${after.toFixed(3)} after ${steps} steps (${trained} tokens, ${seconds.toFixed(1)} s, ${(trained / seconds).toFixed(0)} tokens/s)`,
    );
    expect(after).toBeLessThan(before - 0.2);
  }, 900_000);
});

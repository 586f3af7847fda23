// The llama.cpp exports against the real llama.cpp: node-llama-cpp's prebuilt CPU binaries (never built or
// downloaded here) load the tiny model's F32 GGUF (the merged export of an untrained adapter: B = 0, so exactly
// the base), the GGUF LoRA adapter and the merged GGUF. Their next-token distributions at every position must
// equal the runtime's on the unquantized base (quantize: false, fp32) within 1e-5 relative (the bound: 1e-3).
//
// node-llama-cpp gives a position's probabilities (softmax of llama.cpp's logits, every token: no top-k/top-p
// at temperature 0), not the raw logits; log p minus its mean over the vocabulary is the logits minus theirs,
// so the comparison is on logits up to the shift softmax ignores.
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relativeError } from '@loraplane/native/golden.test-support';
import { QLoraModel } from '@loraplane/native/runtime';
import { TextTokenizer } from './data/tokenize.js';

const TINY = join(import.meta.dirname, '../../examples/tiny-llama');
const TEXT = 'What is your return policy? You can return any item within 30 days of delivery.';
// The issue asks for 1e-3; with F32 weights, an F32 KV cache and no flash attention both sides are fp32 throughout
// and agree to about 5e-7 (summation order), so a regression shows long before 1e-3.
const BOUND = 1e-5;

/** Each position's logits minus their mean over the vocabulary; rows of `vocab`, flattened. */
function centered(flat: Float32Array, vocab: number): Float32Array {
  const out = new Float32Array(flat.length);
  for (let t = 0; t < flat.length / vocab; t++) {
    const row = flat.subarray(t * vocab, (t + 1) * vocab);
    const mean = row.reduce((s, v) => s + v, 0) / vocab;
    for (let i = 0; i < vocab; i++) out[t * vocab + i] = row[i]! - mean;
  }
  return out;
}

async function runtimeLogits(model: QLoraModel, ids: number[]): Promise<Float32Array> {
  return centered(await model.logits({ inputIds: [ids] }), model.info.vocabSize);
}

async function llamaCppLogits(model: LlamaModel, vocab: number, ids: number[], adapter?: string): Promise<Float32Array> {
  // An F32 KV cache (llama.cpp's default is F16) and no flash attention (its CPU kernel rounds to F16): fp32 throughout,
  // so the comparison sees the exported weights and not llama.cpp's rounding (4e-4 with both defaults).
  const context = await model.createContext({
    contextSize: 64,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    flashAttention: false,
    ...(adapter ? { lora: { adapters: [{ filePath: adapter }] } } : {}),
  });
  try {
    const out = await context
      .getSequence()
      .controlledEvaluate(ids.map((id) => [id as Token, { generateNext: { probabilities: true, options: { temperature: 0 } } }]));
    const logProbs = new Float32Array(ids.length * vocab);
    ids.forEach((_, t) => {
      const probs = out[t]?.next?.probabilities;
      if (!probs) throw new Error(`llama.cpp gave no probabilities at position ${t}`);
      for (let i = 0; i < vocab; i++) logProbs[t * vocab + i] = Math.log(probs.get(i as Token) ?? 0);
    });
    return centered(logProbs, vocab);
  } finally {
    await context.dispose();
  }
}

describe('GGUF exports in llama.cpp', () => {
  let llama: Llama;
  let runtime: QLoraModel;
  let ids: number[];
  const dir = mkdtempSync(join(tmpdir(), 'lp-gguf-'));
  const base = join(dir, 'base.gguf');
  const adapter = join(dir, 'adapter.gguf');
  const merged = join(dir, 'merged.gguf');

  beforeAll(async () => {
    // The prebuilt binaries only: nothing is built or downloaded at run time.
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.error });
    ids = (await TextTokenizer.fromDir(TINY).encode(TEXT, true, false)).ids;
    runtime = await QLoraModel.load(TINY, { backend: 'cpu', quantize: false, precision: 'fp32', lora: { r: 8, alpha: 16, dropout: 0, seed: 1 } });
    await runtime.exportMergedGguf(base, 'tiny-llama');
    // A few large steps so that every B is far from zero and the adapter moves the logits visibly.
    runtime.configureTraining({ learningRate: 2e-2, totalSteps: 4, lrScheduler: 'constant' });
    for (let s = 0; s < 4; s++) await runtime.step([{ inputIds: [ids], labels: [ids] }]);
    await runtime.exportGgufAdapter(adapter, 'tiny-llama');
    await runtime.exportMergedGguf(merged, 'tiny-llama');
  }, 120_000);

  afterAll(async () => {
    runtime?.free();
    await llama?.dispose();
  });

  it('tokenizes as the Hugging Face tokenizer does (the exported vocabulary, merges and pre-tokenizer)', async () => {
    const model = await llama.loadModel({ modelPath: base });
    try {
      // The tiny tokenizer adds no BOS (add_bos_token false, no post-processor): the ids are the text's alone.
      expect(model.tokenize(TEXT).map(Number)).toEqual(ids);
      expect(model.tokens.bos).toBe(TextTokenizer.fromDir(TINY).tokenToId('<|begin_of_text|>'));
      expect(model.detokenize(model.tokenize(TEXT))).toBe(TEXT);
    } finally {
      await model.dispose();
    }
  });

  it('gives the runtime logits for the base, base + adapter and the merged model', async () => {
    const model = await llama.loadModel({ modelPath: base });
    const mergedModel = await llama.loadModel({ modelPath: merged });
    try {
      const v = runtime.info.vocabSize;
      runtime.setAdaptersEnabled(false);
      const plain = await runtimeLogits(runtime, ids);
      runtime.setAdaptersEnabled(true);
      const adapted = await runtimeLogits(runtime, ids);
      const errBase = relativeError(await llamaCppLogits(model, v, ids), plain);
      const errAdapter = relativeError(await llamaCppLogits(model, v, ids, adapter), adapted);
      const errMerged = relativeError(await llamaCppLogits(mergedModel, v, ids), adapted);
      const moved = relativeError(adapted, plain);
      console.log(
        `llama.cpp vs the runtime (${ids.length} positions, relative): base ${errBase.toExponential(2)}, ` +
          `base + GGUF adapter ${errAdapter.toExponential(2)}, merged GGUF ${errMerged.toExponential(2)}; the adapter moves the logits by ${moved.toExponential(2)}`,
      );
      expect(moved).toBeGreaterThan(0.1);
      expect(errBase).toBeLessThan(BOUND);
      expect(errAdapter).toBeLessThan(BOUND);
      expect(errMerged).toBeLessThan(BOUND);
    } finally {
      await model.dispose();
      await mergedModel.dispose();
    }
  }, 120_000);

  it('writes GGUF v3 with 32-byte aligned data', () => {
    for (const f of [base, adapter, merged]) {
      const head = readFileSync(f).subarray(0, 8);
      expect(head.subarray(0, 4).toString('latin1')).toBe('GGUF');
      expect(head.readUInt32LE(4)).toBe(3);
      expect(statSync(f).size % 32).toBe(0);
    }
  });

  it('refuses a tokenizer llama.cpp would not load as exported, naming the file, and writes nothing', async () => {
    const model = mkdtempSync(join(tmpdir(), 'lp-gguf-model-'));
    cpSync(TINY, model, { recursive: true });
    const tokenizer = JSON.parse(readFileSync(join(model, 'tokenizer.json'), 'utf8'));
    tokenizer.pre_tokenizer = { type: 'Whitespace' };
    writeFileSync(join(model, 'tokenizer.json'), JSON.stringify(tokenizer));
    const m = await QLoraModel.load(model, { backend: 'cpu', quantize: false, lora: { r: 4, dropout: 0 } });
    const out = mkdtempSync(join(tmpdir(), 'lp-gguf-out-'));
    try {
      await expect(m.exportMergedGguf(join(out, 'merged.gguf'), 'tiny-llama')).rejects.toThrow(
        new RegExp(`${join(model, 'tokenizer.json')}: pre_tokenizer \\(Whitespace \\) is none llama.cpp names`),
      );
      expect(existsSync(join(out, 'merged.gguf'))).toBe(false);
      expect(readdirSync(out)).toEqual([]);
    } finally {
      m.free();
    }
  });
});

// The smollm2 demo's adapter in the real llama.cpp: `loraplane run` fine-tunes SmolLM2-135M-Instruct from its
// Q4_1 GGUF (fetch-smollm2.sh) with the demo's manifest, dataset and prompt, writing the llama.cpp adapter
// (--formats peft,gguf); node-llama-cpp's prebuilt llama.cpp then loads the original Q4_1 GGUF and answers the
// demo prompt greedily, without and with adapter.gguf.
//
// What holds, found by running it: the runtime trains on an NF4 re-quantization of the dequantized Q4_1 weights
// while llama.cpp runs Q4_1 itself, and that alone changes the greedy answer within a few tokens (after 30 steps
// the run's answer is "The Pro plan costs $100 a month and includes 5 TB of storage...", llama.cpp's with the
// adapter "The Pro plan includes 200 TB of storage, ..."; at the fourth token llama.cpp ranks "includes" 1.5
// logits above "costs"), so the whole answer, or a first few tokens beyond "The Pro plan" that the base answer
// shares, cannot be asserted equal. Two things can, and together they say that llama.cpp with the adapter gives
// the fine-tuned answer:
// - On the same weights the answers are the runtime's token by token: the runtime loaded unquantized (the Q4_1
//   values, dequantized as llama.cpp does) in fp32 with the run's adapter, fed llama.cpp's greedy answer, ranks
//   llama.cpp's token first at every position, or within NEAR_TIE logits of first (llama.cpp rounds activations
//   to 8 bits for its Q4_1 products; observed: 1 of 34 positions, 0.05 logits, where llama.cpp itself has a
//   tie); likewise without the adapter. The answers are taken teacher-forced because greedy decoding
//   turns such a near-tie into a different continuation (free-running, they share their first 10-11 tokens).
// - The adapter moves llama.cpp toward the run's fine-tuned answer and away from its base answer as it moves
//   the trained runtime: with the adapter every fine-tuned answer (the run's and llama.cpp's) is more likely per
//   token, and every base answer less likely, by at least PREFERENCE nats, in both engines.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getLlama, type Llama, type LlamaModel, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadOptions, QLoraModel } from '@loraplane/native/runtime';
import { ChatTemplate } from '@loraplane/trainer/data/chat-template';
import { type ModelTokenizer, loadModelTokenizer } from '@loraplane/trainer/data/model-tokenizer';
import { configFromManifest } from '@loraplane/trainer/job-config';
import { type ChatPrompt, chatPrompt } from '@loraplane/trainer/prompt';
import { REPO, loraplaneRun } from '../trainer/run-process.js';

const MANIFEST = join(REPO, 'examples/demo/finetune-smollm2.yaml');
// scripts/demo.sh's system message and prompt.
const SYSTEM = 'You are the support assistant for Acme Cloud Storage.';
const PROMPT = 'How much is the Pro plan per month?';
// The CLI's answer length (trainer/src/cli.ts): the answers compared are the ones the demo prints.
const MAX_NEW_TOKENS = 64;
const STEPS = 30;
/** Logits by which llama.cpp's token may trail the runtime's first choice on the same weights (observed: 0.05). */
const NEAR_TIE = 0.2;
/** Nats per token by which the adapter must favour a fine-tuned answer, or disfavour a base answer (observed: 0.7 and more). */
const PREFERENCE = 0.3;

interface Answer {
  ids: number[];
  text: string;
}
/** Each answer token's log-probability and how far (in logits) it trails the engine's first choice, given the prompt and the answer before it. */
interface Forced {
  logProbs: number[];
  gaps: number[];
}

let gguf: string;
let base: ModelTokenizer;
let prompt: ChatPrompt;
let runOptions: LoadOptions;
let adapterDir: string;
let llama: Llama;
let model: LlamaModel;
/** The run's answers (the runtime on NF4 weights, as trained) and llama.cpp's (the Q4_1 GGUF), without and with the adapter. */
let answers: Record<'runBase' | 'runTuned' | 'llamaBase' | 'llamaTuned', Answer>;
let trainedSeconds: number;

const answer = async (ids: number[]): Promise<Answer> => ({ ids, text: (await prompt.decode(ids)).trim() });

/** The log-probability of `token` under one row of logits, and how far its logit trails the largest. */
function forcedAt(row: ArrayLike<number>, token: number): { logProb: number; gap: number } {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < row.length; v++) max = Math.max(max, row[v]!);
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v]! - max);
  return { logProb: row[token]! - max - Math.log(sum), gap: max - row[token]! };
}

async function llamaCppContext(adapterPath?: string) {
  return model.createContext({
    contextSize: 512,
    // llama.cpp's default (the Llama's maxThreads, twice the cores here) spins threads the cores cannot run at once:
    // on 2 busy cores 64 tokens took over 5 minutes, against about a minute with one thread per core.
    threads: llama.cpuMathCores,
    // fp32 attention (an F32 KV cache, no flash attention), as in trainer/src/gguf-export.test.ts: the Q4_1 products
    // are then llama.cpp's only rounding.
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    flashAttention: false,
    ...(adapterPath ? { lora: { adapters: [{ filePath: adapterPath }] } } : {}),
  });
}

/** llama.cpp's greedy answer: up to MAX_NEW_TOKENS, the stop id included as the runtime includes it. */
async function llamaCppAnswer(adapterPath?: string): Promise<Answer> {
  const context = await llamaCppContext(adapterPath);
  try {
    const ids: number[] = [];
    for await (const token of context.getSequence().evaluate(prompt.ids as Token[], { temperature: 0, yieldEogToken: true })) {
      ids.push(token);
      if (ids.length === MAX_NEW_TOKENS || prompt.stopIds.includes(token)) break;
    }
    return await answer(ids);
  } finally {
    await context.dispose();
  }
}

/** llama.cpp fed the prompt and `a`, every answer token scored. */
async function llamaCppForced(a: Answer, adapterPath?: string): Promise<Forced> {
  const context = await llamaCppContext(adapterPath);
  try {
    const ids = [...prompt.ids, ...a.ids];
    const first = prompt.ids.length - 1;
    const scored = (t: number) => t >= first && t < ids.length - 1;
    const out = await context
      .getSequence()
      .controlledEvaluate(
        ids.map((id, t) => (scored(t) ? [id as Token, { generateNext: { probabilities: true, options: { temperature: 0 } } }] : (id as Token))),
      );
    const forced: Forced = { logProbs: [], gaps: [] };
    a.ids.forEach((token, i) => {
      const probs = out[first + i]?.next?.probabilities;
      if (!probs) throw new Error(`llama.cpp gave no probabilities at answer token ${i}`);
      // The probabilities are llama.cpp's softmax over the whole vocabulary (no top-k/top-p at temperature 0).
      let top = 0;
      for (const p of probs.values()) top = Math.max(top, p);
      const logProb = Math.log(probs.get(token as Token) ?? 0);
      forced.logProbs.push(logProb);
      forced.gaps.push(Math.log(top) - logProb);
    });
    return forced;
  } finally {
    await context.dispose();
  }
}

async function runtimeForced(runtime: QLoraModel, a: Answer): Promise<Forced> {
  const vocab = runtime.info.vocabSize;
  const first = prompt.ids.length - 1;
  const logits = await runtime.logits({ inputIds: [[...prompt.ids, ...a.ids]] });
  const forced: Forced = { logProbs: [], gaps: [] };
  a.ids.forEach((token, i) => {
    const f = forcedAt(logits.subarray((first + i) * vocab, (first + i + 1) * vocab), token);
    forced.logProbs.push(f.logProb);
    forced.gaps.push(f.gap);
  });
  return forced;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

const firstDifference = (a: number[], b: number[]) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
};

beforeAll(async () => {
  gguf = execFileSync('bash', [join(import.meta.dirname, 'fetch-smollm2.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  base = loadModelTokenizer(gguf);
  prompt = await chatPrompt(base, PROMPT, SYSTEM);
  const dir = mkdtempSync(join(tmpdir(), 'lp-smollm2-llama-cpp-'));
  adapterDir = join(dir, 'out');
  const started = performance.now();
  const run = loraplaneRun([
    MANIFEST,
    '--pvc',
    `models=${dirname(gguf)}`,
    '--work',
    join(dir, 'work'),
    '--output',
    adapterDir,
    '--formats',
    'peft,gguf',
    '--max-steps',
    String(STEPS),
    '--system',
    SYSTEM,
    '--prompt',
    PROMPT,
  ]);
  expect(await run.exited, run.output()).toBe(0);
  trainedSeconds = (performance.now() - started) / 1000;

  // The runtime's answers as token ids: the base model loaded as the run loads it (the manifest's quantization,
  // compute dtype and LoRA shape), before and after loading the adapter the run wrote.
  const { spec } = configFromManifest(MANIFEST);
  runOptions = {
    quantize: spec.method === 'qlora',
    quantType: spec.quantization.type,
    doubleQuant: spec.quantization.doubleQuant,
    blockSize: spec.quantization.blockSize,
    precision: spec.quantization.computeDtype === 'float32' ? 'fp32' : 'bf16',
    lora: { r: spec.lora.r, alpha: spec.lora.alpha, dropout: spec.lora.dropout, useRslora: spec.lora.useRslora, targetModules: spec.lora.targetModules },
  };
  const runtime = await QLoraModel.load(gguf, runOptions);
  let runBase: Answer;
  let runTuned: Answer;
  try {
    const generate = async () => answer(await runtime.generate(prompt.ids, { maxNewTokens: MAX_NEW_TOKENS, temperature: 0, stopIds: prompt.stopIds }));
    runBase = await generate();
    await runtime.loadAdapter(adapterDir);
    runTuned = await generate();
  } finally {
    runtime.free();
  }
  // The reloaded adapter answers as the run itself did (the CLI prints its answers before and after training).
  expect(run.output()).toContain(`Before fine-tuning, "${PROMPT}" →\n  ${runBase.text}\n`);
  expect(run.output()).toContain(`After fine-tuning, "${PROMPT}" →\n  ${runTuned.text}\n`);

  llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.error });
  // The original Q4_1 GGUF: llama.cpp runs its Q4_1 weights as they are.
  model = await llama.loadModel({ modelPath: gguf });
  const generating = performance.now();
  answers = { runBase, runTuned, llamaBase: await llamaCppAnswer(), llamaTuned: await llamaCppAnswer(join(adapterDir, 'adapter.gguf')) };
  const show = (name: string, a: Answer) => `  ${name} (${a.ids.length} tokens): ${JSON.stringify(a.text)}`;
  console.log(
    [
      `[smollm2 llama.cpp] loraplane run, ${STEPS} steps: ${trainedSeconds.toFixed(0)} s; llama.cpp's two answers: ${((performance.now() - generating) / 1000).toFixed(1)} s`,
      show('runtime (NF4), base       ', answers.runBase),
      show('runtime (NF4), adapter    ', answers.runTuned),
      show('llama.cpp (Q4_1), base    ', answers.llamaBase),
      show('llama.cpp (Q4_1), adapter ', answers.llamaTuned),
      `  first different token: base ${firstDifference(answers.llamaBase.ids, answers.runBase.ids)}, adapter ${firstDifference(answers.llamaTuned.ids, answers.runTuned.ids)}`,
    ].join('\n'),
  );
}, 1_800_000);

afterAll(async () => {
  await model?.dispose();
  await llama?.dispose();
});

describe('the smollm2 demo adapter in llama.cpp on the Q4_1 base', () => {
  it("llama.cpp reads the demo prompt as the runtime's chat template renders it", () => {
    const text = ChatTemplate.fromConfig(base.config)!.render(
      [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: PROMPT },
      ],
      { addGenerationPrompt: true },
    );
    expect(model.tokenize(text, true).map(Number)).toEqual(prompt.ids);
  });

  it("llama.cpp's greedy answers are the runtime's on the same Q4_1 weights, token by token, without and with the adapter", async () => {
    // The runtime on the Q4_1 values themselves: no NF4, fp32 products.
    const runtime = await QLoraModel.load(gguf, { ...runOptions, quantize: false, precision: 'fp32' });
    try {
      const base = await runtimeForced(runtime, answers.llamaBase);
      await runtime.loadAdapter(adapterDir);
      const tuned = await runtimeForced(runtime, answers.llamaTuned);
      for (const [name, f, a] of [
        ['base', base, answers.llamaBase],
        ['adapter', tuned, answers.llamaTuned],
      ] as const) {
        const ties = f.gaps.flatMap((g, i) => (g > 0 ? [`token ${i} ${g.toFixed(3)}`] : []));
        console.log(
          `[smollm2 llama.cpp] ${name}: the runtime on the Q4_1 weights ranks llama.cpp's token first at ${f.gaps.filter((g) => g === 0).length} of ${a.ids.length}` +
            ` positions${ties.length ? `, within ${NEAR_TIE} logits at the others (${ties.join(', ')})` : ''}`,
        );
        expect(Math.max(...f.gaps), name).toBeLessThan(NEAR_TIE);
      }
    } finally {
      runtime.free();
    }
    // The adapter changes llama.cpp's answer.
    expect(answers.llamaTuned.text).not.toBe(answers.llamaBase.text);
  }, 600_000);

  it("the adapter moves llama.cpp toward the run's fine-tuned answer and away from its base answer, as it moves the runtime", async () => {
    const adapter = join(adapterDir, 'adapter.gguf');
    const runtime = await QLoraModel.load(gguf, runOptions);
    const rows: string[] = [];
    try {
      const scored: { engine: string; name: keyof typeof answers; shift: number }[] = [];
      const without = new Map<string, number>();
      for (const name of Object.keys(answers) as (keyof typeof answers)[]) without.set(name, mean((await runtimeForced(runtime, answers[name])).logProbs));
      await runtime.loadAdapter(adapterDir);
      for (const name of Object.keys(answers) as (keyof typeof answers)[]) {
        const runtimeShift = mean((await runtimeForced(runtime, answers[name])).logProbs) - without.get(name)!;
        const llamaWithout = mean((await llamaCppForced(answers[name])).logProbs);
        const llamaShift = mean((await llamaCppForced(answers[name], adapter)).logProbs) - llamaWithout;
        scored.push({ engine: 'runtime (NF4)', name, shift: runtimeShift }, { engine: 'llama.cpp (Q4_1)', name, shift: llamaShift });
        rows.push(
          `  ${name}: runtime ${runtimeShift >= 0 ? '+' : ''}${runtimeShift.toFixed(2)}, llama.cpp ${llamaShift >= 0 ? '+' : ''}${llamaShift.toFixed(2)}`,
        );
      }
      console.log(`[smollm2 llama.cpp] log-probability per token with the adapter minus without, along each answer:\n${rows.join('\n')}`);
      for (const { engine, name, shift } of scored) {
        if (name.endsWith('Tuned')) expect(shift, `${engine} on ${name}`).toBeGreaterThan(PREFERENCE);
        else expect(shift, `${engine} on ${name}`).toBeLessThan(-PREFERENCE);
      }
    } finally {
      runtime.free();
    }
  }, 600_000);
});

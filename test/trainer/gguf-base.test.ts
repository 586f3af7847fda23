// `loraplane run` on a base model given as one .gguf file: the bundled tiny model as GGUF
// (goldens/gguf/tiny-llama.gguf: its BF16 weights, tokenizer and chat template as metadata;
// make_gguf_golden.py) trains to the very adapter the same run on the model's folder writes, since the
// weights, the tokenizer rebuilt from the metadata and the chat template are the folder's. The adapter
// folder gets a tokenizer.json and tokenizer_config.json from the GGUF, and the merged model is the folder
// run's with the GGUF's tokenizer. A truncated .gguf exits permanent, naming the file, with nothing written.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { QLoraModel, ggufMetadata } from '@loraplane/native/runtime';
import { ChatTemplate, loadTokenizerConfig } from '@loraplane/trainer/data/chat-template';
import { TextTokenizer } from '@loraplane/trainer/data/tokenize';
import { REPO, TINY_MANIFEST, loraplaneRun } from './run-process.js';

const GOLDENS = join(REPO, 'test/reference/goldens/gguf');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** The tiny manifest with its base model at `source` (a path in the PVC "goldens"), written into `dir`. */
function manifestFor(dir: string, path: string): string {
  const manifest = parse(readFileSync(TINY_MANIFEST, 'utf8'));
  manifest.spec.baseModel.source = { pvc: { claimName: 'goldens', path } };
  writeFileSync(join(dir, 'finetune.yaml'), stringify(manifest));
  return join(dir, 'finetune.yaml');
}

interface Metrics {
  history: { step: number; loss: number }[];
}

describe('loraplane run on a .gguf base model', () => {
  it("trains the adapter the model's folder trains, and writes the GGUF's tokenizer beside it", async () => {
    const dir = tmp('lp-gguf-run-');
    const started = performance.now();
    const run = loraplaneRun([
      manifestFor(dir, 'tiny-llama.gguf'),
      '--work',
      join(dir, 'work'),
      '--output',
      join(dir, 'out'),
      '--pvc',
      `goldens=${GOLDENS}`,
      '--formats',
      'peft,gguf,merged',
    ]);
    expect(await run.exited, run.output()).toBe(0);
    const seconds = (performance.now() - started) / 1000;
    const folder = tmp('lp-gguf-folder-');
    const ref = loraplaneRun([TINY_MANIFEST, '--work', join(folder, 'work'), '--output', join(folder, 'out'), '--formats', 'peft,gguf,merged']);
    expect(await ref.exited, ref.output()).toBe(0);

    const out = join(dir, 'out');
    expect(readdirSync(out).sort()).toEqual([
      'README.md',
      'adapter.gguf',
      'adapter_config.json',
      'adapter_model.safetensors',
      'merged',
      'merged.gguf',
      'tokenizer.json',
      'tokenizer_config.json',
      'training_metrics.json',
    ]);
    expect(readFileSync(join(out, 'adapter_model.safetensors')).equals(readFileSync(join(folder, 'out', 'adapter_model.safetensors')))).toBe(true);
    // The llama.cpp adapter too: the architecture and q/k layout come from the GGUF's metadata as from config.json.
    expect(readFileSync(join(out, 'adapter.gguf')).equals(readFileSync(join(folder, 'out', 'adapter.gguf')))).toBe(true);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('| base weights | `tiny-llama.gguf` (llama.cpp GGUF)');
    const history = (JSON.parse(readFileSync(join(out, 'training_metrics.json'), 'utf8')) as Metrics).history;
    expect(history.map((h) => h.loss)).toEqual(
      (JSON.parse(readFileSync(join(folder, 'out', 'training_metrics.json'), 'utf8')) as Metrics).history.map((h) => h.loss),
    );
    console.log(
      `[gguf-base] ${history.length} steps on tiny-llama.gguf in ${seconds.toFixed(1)} s (loss ${history[0]!.loss.toFixed(4)} -> ${history.at(-1)!.loss.toFixed(4)}): adapter identical to the folder's`,
    );

    // The tokenizer written beside the adapter tokenizes the dataset as the model folder's own, and its
    // config renders the same chat template.
    const written = TextTokenizer.fromFile(join(out, 'tokenizer.json'));
    const own = TextTokenizer.fromDir(join(REPO, 'examples/tiny-llama'));
    const template = ChatTemplate.fromConfig(loadTokenizerConfig(out))!;
    const ownTemplate = ChatTemplate.fromConfig(loadTokenizerConfig(join(REPO, 'examples/tiny-llama')))!;
    const rows = readFileSync(join(REPO, 'examples/data/customer-support.jsonl'), 'utf8').trim().split('\n');
    for (const line of rows.slice(0, 50)) {
      const { messages } = JSON.parse(line);
      const text = template.render(messages, { addGenerationPrompt: false });
      expect(text).toBe(ownTemplate.render(messages, { addGenerationPrompt: false }));
      expect((await written.encode(text, true, false)).ids).toEqual((await own.encode(text, true, false)).ids);
    }

    // The merged model: the folder run's weights; merged/ carries the rebuilt tokenizer files, merged.gguf the
    // base GGUF's own tokenizer metadata, and it computes the folder run's merged.gguf's logits.
    const merged = join(out, 'merged');
    expect(readdirSync(merged)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']));
    expect(readFileSync(join(merged, 'model.safetensors')).equals(readFileSync(join(folder, 'out', 'merged', 'model.safetensors')))).toBe(true);
    const tokenizerKeys = (path: string) => Object.fromEntries(Object.entries(ggufMetadata(path)).filter(([k]) => k.startsWith('tokenizer.')));
    expect(tokenizerKeys(join(out, 'merged.gguf'))).toEqual(tokenizerKeys(join(GOLDENS, 'tiny-llama.gguf')));
    const mergedLogits = async (path: string) => {
      const m = await QLoraModel.load(path, { quantize: false, precision: 'fp32', lora: { r: 8, alpha: 16, dropout: 0 } });
      const logits = await m.logits({ inputIds: [(await own.encode(rows[0]!, true, false)).ids.slice(0, 64)] });
      m.free();
      return logits;
    };
    expect(await mergedLogits(join(out, 'merged.gguf'))).toEqual(await mergedLogits(join(folder, 'out', 'merged.gguf')));
  }, 240_000);

  it('a truncated .gguf exits permanent, naming the file, and writes nothing', async () => {
    const dir = tmp('lp-gguf-bad-');
    const models = join(dir, 'models');
    const bad = join(models, 'cut.gguf');
    mkdirSync(models);
    copyFileSync(join(GOLDENS, 'tiny-llama.gguf'), bad);
    truncateSync(bad, Math.floor(statSync(bad).size / 2));
    const manifest = manifestFor(dir, 'cut.gguf');
    const out = join(dir, 'out');
    const run = loraplaneRun([manifest, '--work', join(dir, 'work'), '--output', out, '--pvc', `goldens=${models}`]);
    expect(await run.exited, run.output()).toBe(TRAINER_EXIT.permanent);
    expect(run.output()).toContain('cut.gguf');
    expect(run.output()).toMatch(/truncat|past the end|beyond|outside/i);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 120_000);
});

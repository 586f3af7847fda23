// `loraplane run --formats`: the extra formats land beside the PEFT files (api/output-layout's names), and a
// list without peft is refused before anything runs.
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GGUF_ADAPTER_FILE, MERGED_DIR, MERGED_GGUF_FILE } from '@loraplane/api/output-layout';
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { loraplaneRun, TINY_MANIFEST } from './run-process.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lp-formats-'));
const run = (dir: string, formats: string) =>
  loraplaneRun([TINY_MANIFEST, '--work', join(dir, 'work'), '--output', join(dir, 'out'), '--max-steps', '1', '--formats', formats]);

describe('loraplane run --formats', () => {
  it('peft,gguf,merged: adapter.gguf, merged/ (an HF folder) and merged.gguf beside the PEFT files', async () => {
    const dir = tmp();
    const r = run(dir, 'peft,gguf,merged');
    expect(await r.exited, r.output()).toBe(TRAINER_EXIT.succeeded);
    const out = join(dir, 'out');
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', GGUF_ADAPTER_FILE, MERGED_GGUF_FILE]) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readdirSync(join(out, MERGED_DIR)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    for (const f of [GGUF_ADAPTER_FILE, MERGED_GGUF_FILE]) expect(readFileSync(join(out, f)).subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(r.output()).toContain(`llama-cli -m ${join(out, MERGED_GGUF_FILE)}`);
    expect(r.output()).toContain(`--lora ${join(out, GGUF_ADAPTER_FILE)}`);
  }, 120_000);

  it('the default writes the PEFT files alone', async () => {
    const dir = tmp();
    const r = loraplaneRun([TINY_MANIFEST, '--work', join(dir, 'work'), '--output', join(dir, 'out'), '--max-steps', '1']);
    expect(await r.exited, r.output()).toBe(TRAINER_EXIT.succeeded);
    expect(existsSync(join(dir, 'out', 'adapter_model.safetensors'))).toBe(true);
    for (const f of [GGUF_ADAPTER_FILE, MERGED_DIR, MERGED_GGUF_FILE]) expect(existsSync(join(dir, 'out', f)), f).toBe(false);
  }, 120_000);

  it('without peft, or with an unknown format: exits 3 saying why, and writes nothing', async () => {
    for (const [formats, why] of [
      ['gguf', 'peft is always written'],
      ['peft,onnx', 'Expected --formats to list peft, gguf and merged (peft included) but received "peft,onnx"'],
    ] as const) {
      const dir = tmp();
      const r = run(dir, formats);
      expect(await r.exited, r.output()).toBe(TRAINER_EXIT.permanent);
      expect(r.output()).toContain(why);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    }
  }, 60_000);
});

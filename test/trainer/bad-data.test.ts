// `loraplane run` on a dataset it cannot train on (empty, or not UTF-8) stops before loading the
// model: exit code 3 (permanent) and the dataset's own message, naming the file (and the line).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAINER_EXIT } from '@loraplane/api/trainer-contract';
import { loraplaneRun, TINY_MANIFEST } from './run-process.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** Runs the tiny manifest with its dataset replaced by `name` holding `content` (a PVC "baddata"). */
async function runWith(name: string, content: Buffer): Promise<{ code: number | null; output: string }> {
  const dir = tmp('lp-bad-data-');
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', name), content);
  const manifest = readFileSync(TINY_MANIFEST, 'utf8');
  const dataset = 'pvc: { claimName: examples, path: data/customer-support.jsonl }';
  expect(manifest).toContain(dataset);
  writeFileSync(join(dir, 'finetune.yaml'), manifest.replace(dataset, `pvc: { claimName: baddata, path: ${name} }`));
  const run = loraplaneRun([
    join(dir, 'finetune.yaml'),
    '--work',
    join(dir, 'work'),
    '--output',
    join(dir, 'out'),
    '--max-steps',
    '1',
    '--pvc',
    `baddata=${join(dir, 'data')}`,
  ]);
  return { code: await run.exited, output: run.output() };
}

const row = (answer: Buffer | string) =>
  Buffer.concat([
    Buffer.from('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "'),
    Buffer.from(answer),
    Buffer.from('"}]}\n'),
  ]);

describe('loraplane run on a bad dataset', () => {
  it('an empty dataset: exits 3, naming the file and saying it is empty', async () => {
    const { code, output } = await runWith('empty.jsonl', Buffer.from('\n'));
    expect(code, output).toBe(TRAINER_EXIT.permanent);
    expect(output).toContain('dataset empty.jsonl is empty: no rows');
  }, 60_000);

  it('a single 50 MB row: stops at the 16 MiB bound with the line named, instead of exhausting the heap', async () => {
    const { code, output } = await runWith('huge.jsonl', Buffer.concat([row('Hello.'), row('x'.repeat(50 * 1024 * 1024))]));
    expect(code, output).toBe(TRAINER_EXIT.permanent);
    expect(output).toContain('huge.jsonl:2: row too long: more than 16 MiB on one line (the limit for one row)');
  }, 60_000);

  it('invalid UTF-8: exits 3, naming the file, the line and the byte', async () => {
    const { code, output } = await runWith('latin1.jsonl', Buffer.concat([row('Hello.'), row(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe]))]));
    expect(code, output).toBe(TRAINER_EXIT.permanent);
    expect(output).toContain('latin1.jsonl:2: invalid UTF-8: byte 0xE9 at byte 87 of the line');
  }, 60_000);
});

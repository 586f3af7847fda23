// Every dataset example (examples/datasets/<format>.jsonl) goes through the trainer's real data
// pipeline with the bundled tiny model's tokenizer, as its FineTuneJob example (<format>.finetune.yaml,
// valid for the operator's schema) says to read it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { fineTuneJob, type FineTuneJob } from '@loraplane/api/finetunejob';
import { ROW_FORMATS } from '@loraplane/trainer/data/formats';
import { loadModelTokenizer } from '@loraplane/trainer/data/model-tokenizer';
import { prepareDataset } from '@loraplane/trainer/data/prepare';
import { IGNORE_INDEX } from '@loraplane/trainer/data/tokenize';

const repo = join(import.meta.dirname, '../..');
const examples = join(repo, 'examples/datasets');
const tokenizer = loadModelTokenizer(join(repo, 'examples/tiny-llama'));

function jobOf(format: string): FineTuneJob {
  const docs = parseAllDocuments(readFileSync(join(examples, `${format}.finetune.yaml`), 'utf8'));
  for (const doc of docs) expect(doc.errors, `${format}.finetune.yaml is valid YAML`).toEqual([]);
  const manifest = docs.map((d) => d.toJS() as { kind?: string }).find((d) => d.kind === 'FineTuneJob');
  return fineTuneJob.parse(manifest);
}

const rowsIn = (format: string): number =>
  readFileSync(join(examples, `${format}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim()).length;

describe('examples/datasets', () => {
  it('has one dataset and one FineTuneJob per format, nothing else', () => {
    expect(readdirSync(examples).sort()).toEqual(ROW_FORMATS.flatMap((f) => [`${f}.finetune.yaml`, `${f}.jsonl`]).sort());
  });

  it('gives each example its own job, dataset path and adapter', () => {
    const jobs = ROW_FORMATS.map(jobOf);
    for (const key of [
      (j: FineTuneJob) => j.metadata.name,
      (j: FineTuneJob) => j.spec.dataset.source.s3?.prefix,
      (j: FineTuneJob) => j.spec.output.adapterName,
    ]) {
      expect(new Set(jobs.map(key)).size).toBe(ROW_FORMATS.length);
    }
  });

  describe.each(ROW_FORMATS)('%s', (format) => {
    const job = jobOf(format);
    const prepare = (dataset: Partial<FineTuneJob['spec']['dataset']> = {}) =>
      prepareDataset({
        dataset: join(examples, `${format}.jsonl`),
        tokenizer,
        spec: { dataset: { ...job.spec.dataset, ...dataset }, training: job.spec.training },
      });

    it('its FineTuneJob reads this file in this format (or auto, where the spec has no name for it)', () => {
      expect(job.spec.dataset.source.s3?.prefix).toBe(`support/${format}.jsonl`);
      expect([format, 'auto']).toContain(job.spec.dataset.format);
      expect(rowsIn(format)).toBeGreaterThanOrEqual(20);
    });

    it('format auto detects it', async () => {
      expect((await prepare({ format: 'auto' })).format).toBe(format);
    });

    it("keeps every row under the job's spec, and trains only what its loss mode names", async () => {
      const r = await prepare();
      expect(r.format).toBe(format);
      expect(r.stats).toMatchObject({ rowsRead: rowsIn(format), droppedFullyMasked: 0, truncated: 0 });
      expect(r.stats.skipped.total).toBe(0);
      expect(r.stats.examples.train + r.stats.examples.validation).toBe(rowsIn(format));
      const rows = [...r.train, ...r.validation];
      for (const row of rows) expect(row.labels.some((l) => l !== IGNORE_INDEX)).toBe(true);
      const masked = rows.filter((row) => row.labels.some((l) => l === IGNORE_INDEX)).length;
      if (job.spec.training.loss === 'all') {
        // Plain text has no prompt: every token trains.
        expect(format).toBe('text');
        expect(masked).toBe(0);
      } else {
        // The prompt (system and user turns, or the prompt string) is masked in every row.
        expect(masked).toBe(rows.length);
      }
    });
  });
});

// The docs name what the code accepts: a list kept in two places drifts (datasets.md once said Parquet
// was unsupported while the trainer read it), so the code's lists are checked against the docs here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fineTuneJobSpec } from '@loraplane/api/finetunejob';
import { DATASET_FILE_KINDS } from '@loraplane/trainer/data/read';

const datasets = readFileSync(join(import.meta.dirname, '../../docs/datasets.md'), 'utf8');

describe('docs/datasets.md', () => {
  it('names every dataset file type the trainer reads, and says none is unsupported', () => {
    for (const ext of Object.keys(DATASET_FILE_KINDS)) expect(datasets).toContain(`\`${ext}\``);
    expect(datasets).not.toMatch(/not supported/i);
  });

  it('has a row for every spec.dataset.format, and explains auto', () => {
    const formats = fineTuneJobSpec.shape.dataset.shape.format.unwrap().options.filter((f) => f !== 'auto');
    for (const format of formats) expect(datasets).toMatch(new RegExp(`^\\| \`${format}\` \\|`, 'm'));
    expect(datasets).toContain('`format: auto`');
  });
});

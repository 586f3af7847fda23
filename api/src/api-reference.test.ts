import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exampleFineTuneJob } from '../../test/fixtures/finetunejob.js';
import { renderApiReference } from './api-reference.js';
import { cel, timestamp } from './common.js';
import type { CrdSource } from './crd.js';

const docs = join(import.meta.dirname, '../../docs/api-reference.md');

/** Maps of strings (free keys) in the FineTuneJob spec: the reference documents the map itself. */
const MAPS = new Set(['spec.output.labels', 'spec.resources.nodeSelector']);

/** Every path in a parsed object, as the reference writes it (list elements as `[]`). */
function paths(value: unknown, prefix: string): string[] {
  if (Array.isArray(value)) return value.some((v) => typeof v === 'object') ? [prefix, ...paths(value[0], `${prefix}[]`).slice(1)] : [prefix];
  if (value === null || typeof value !== 'object') return [prefix];
  if (MAPS.has(prefix)) return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, `${prefix}.${k}`))];
}

describe('API reference', () => {
  it('docs/api-reference.md matches the zod schemas (run `npm run generate:docs` after changing the API)', () => {
    expect(readFileSync(docs, 'utf8'), 'docs/api-reference.md is stale').toBe(renderApiReference());
  });

  it('documents every field of a defaulted FineTuneJob spec, with its default', () => {
    const doc = renderApiReference();
    const spec = exampleFineTuneJob().spec;
    for (const path of paths(spec, 'spec').slice(1)) expect(doc, path).toContain(`| \`${path}\` |`);
    expect(doc).toContain('| `spec.training.lrScheduler` | string | `"cosine"` | one of `linear`, `cosine`, `constant` |');
    expect(doc).toContain('| `spec.lora.r` | integer | `16` | [1, 1024] |');
  });

  it('renders types, defaults, bounds, enums, descriptions, CEL rules and printer columns as table cells', () => {
    const widget: CrdSource = {
      kind: 'Widget',
      plural: 'widgets',
      shortNames: ['wd'],
      description: 'A widget.',
      spec: z
        .object({
          size: z.number().int().min(1).max(8).default(2).meta({ description: 'How big | how wide.' }),
          ratio: z.number().gt(0).lt(1).optional(),
          mode: z.enum(['a', 'b']).default('a'),
          parts: z
            .array(z.object({ name: z.string().min(1) }).strict())
            .max(3)
            .optional(),
          labels: z.record(z.string(), z.string()).optional(),
        })
        .strict()
        .meta(cel({ rule: 'self.size > 1 || !has(self.ratio)', message: 'ratio needs size > 1', fieldPath: '.ratio' })),
      status: z.object({ at: timestamp.optional() }),
      printerColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size', priority: 1 }],
    };
    const lines = renderApiReference([widget]).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '## Widget',
        '`apiVersion: loraplane.io/v1alpha1`, kind `Widget`, plural `widgets`, short name `wd`; namespaced, with a status subresource.',
        '| `spec.size` | integer | `2` | [1, 8] | How big \\| how wide. |',
        '| `spec.ratio` | number |  | (0, 1) |  |',
        '| `spec.mode` | string | `"a"` | one of `a`, `b` |  |',
        '| `spec.parts` | []object |  | items ≤ 3 |  |',
        '| `spec.parts[]` | object |  |  |  |',
        '| `spec.parts[].name` | string |  | required; length ≥ 1 |  |',
        '| `spec.labels` | map[string]string |  |  |  |',
        '| `status.at` | string (date-time) |  |  |  |',
        '| `spec` | `self.size > 1 \\|\\| !has(self.ratio)` | ratio needs size > 1 (reported at `spec.ratio`) |',
        '| Size | `.spec.size` | integer | with `-o wide` |  |',
      ]),
    );
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCrdFiles } from './crd-files.js';
import { toStructural } from './crd.js';

const crdDir = join(import.meta.dirname, '../../../crds');

describe('generated CRDs', () => {
  it('crds/ matches the zod schemas (run `npm run generate:crds` after changing the API)', () => {
    for (const [file, text] of renderCrdFiles()) {
      expect(readFileSync(join(crdDir, file), 'utf8'), `crds/${file} is stale`).toBe(text);
    }
  });

  it('rewrites zod JSON Schema into a structural schema', () => {
    const input = {
      $schema: 'x',
      type: 'object',
      additionalProperties: false,
      properties: {
        n: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
        t: { type: 'string', format: 'date-time', pattern: '^...$' },
        opaque: { type: 'object', properties: {}, additionalProperties: {} },
      },
    };
    expect(toStructural(input)).toEqual({
      type: 'object',
      properties: {
        n: { type: 'integer' },
        t: { type: 'string', format: 'date-time' },
        opaque: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    });
  });
});

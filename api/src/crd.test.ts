import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCrdFiles } from './crd-files.js';
import { toStructural } from './crd.js';

const crdDir = join(import.meta.dirname, '../../crds');

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
        split: { type: 'number', minimum: 0, maximum: 0.5, exclusiveMaximum: true },
        rate: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
      },
    };
    expect(toStructural(input)).toEqual({
      type: 'object',
      properties: {
        n: { type: 'integer' },
        t: { type: 'string', format: 'date-time' },
        // The API server compares a whole number with a fractional exclusive bound as integers: CEL instead.
        split: { type: 'number', minimum: 0, maximum: 0.5, 'x-kubernetes-validations': [{ rule: 'self < 0.5', message: 'must be less than 0.5' }] },
        rate: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
      },
    });
  });
});

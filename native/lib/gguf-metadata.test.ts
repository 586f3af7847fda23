// ggufMetadata(path): the runtime's GGUF reader's metadata as the TypeScript side gets it. types.gguf holds a
// value of every GGUF metadata type (written by gguf-py in make_gguf_golden.py, the values in metadata.json).
import { copyFileSync, mkdtempSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ggufMetadata } from './runtime.js';

const GOLDENS = join(import.meta.dirname, '../../test/reference/goldens/gguf');

describe('ggufMetadata', () => {
  it('reads every metadata value type as gguf-py wrote it', () => {
    const want = JSON.parse(readFileSync(join(GOLDENS, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    const got = ggufMetadata(join(GOLDENS, 'types.gguf'));
    expect(Object.keys(got)).toEqual(expect.arrayContaining(Object.keys(want)));
    for (const [key, value] of Object.entries(want)) expect(got[key], key).toEqual(value);
  });

  it('is an error naming the file when it is malformed', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'lp-gguf-md-')), 'cut.gguf');
    copyFileSync(join(GOLDENS, 'types.gguf'), bad);
    truncateSync(bad, Math.floor(statSync(bad).size / 2));
    expect(() => ggufMetadata(bad)).toThrow(/cut\.gguf.*truncated/);
    expect(() => ggufMetadata(join(GOLDENS, 'metadata.json'))).toThrow(/metadata\.json/);
  });
});

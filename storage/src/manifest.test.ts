import { describe, expect, it } from 'vitest';
import { sha256Hex } from './digest.js';
import { buildManifest, checkAgainstListing, parseManifest, setDigest } from './manifest.js';

const a = sha256Hex('a');
const b = sha256Hex('b');
const files = [
  { path: 'adapter_model.safetensors', size: 10, sha256: a },
  { path: 'adapter_config.json', size: 2, sha256: `sha256:${b}` },
];

describe('buildManifest', () => {
  it('sorts the files, prefixes the digests and digests the set', () => {
    const m = buildManifest(files, new Date('2026-01-01T00:00:00Z'));
    expect(m.files.map((f) => f.path)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(m.files[1]?.sha256).toBe(`sha256:${a}`);
    expect(m.totalBytes).toBe(12);
    expect(m.createdAt).toBe('2026-01-01T00:00:00.000Z');
    // The set digest is the documented line format, reproducible with a shell one-liner.
    expect(m.digest).toBe(`sha256:${sha256Hex(`adapter_config.json\t2\tsha256:${b}\nadapter_model.safetensors\t10\tsha256:${a}\n`)}`);
    expect(setDigest([...m.files].reverse())).toBe(m.digest);
  });

  it('refuses duplicates, unsafe paths and bad digests', () => {
    expect(() => buildManifest([files[0]!, files[0]!])).toThrow(/appears twice/);
    expect(() => buildManifest([{ path: '../x', size: 1, sha256: a }])).toThrow(/not a safe relative path/);
    expect(() => buildManifest([{ path: 'x', size: 1, sha256: 'abc' }])).toThrow(/not a SHA-256 digest/);
  });
});

describe('parseManifest', () => {
  const good = buildManifest(files);
  const where = { bucket: 'out', key: 'jobs/j1/manifest.json' };

  it('round-trips', () => {
    expect(parseManifest(JSON.stringify(good), where)).toEqual(good);
  });

  it.each([
    ['not JSON', '{"apiVersion":', /not JSON/],
    ['a set digest that does not match', JSON.stringify({ ...good, digest: `sha256:${a}` }), /set digest does not match/],
    ['a wrong total', JSON.stringify({ ...good, totalBytes: 1 }), /totalBytes is 1/],
    ['a duplicate', JSON.stringify({ ...good, files: [good.files[0], good.files[0]] }), /appears twice/],
    ['an unsafe path', JSON.stringify({ ...good, files: [{ ...good.files[0], path: '../../etc/passwd' }] }), /not a manifest/],
    ['manifest.json listing itself', JSON.stringify({ ...good, files: [{ ...good.files[0], path: 'manifest.json' }] }), /not a manifest/],
    ['an unknown field', JSON.stringify({ ...good, extra: 1 }), /not a manifest/],
  ])('refuses %s, naming where it was read', (_what, text, re) => {
    expect(() => parseManifest(text, where)).toThrow(re);
    expect(() => parseManifest(text, where)).toThrow(/s3:\/\/out\/jobs\/j1\/manifest.json/);
  });
});

describe('checkAgainstListing', () => {
  const m = buildManifest(files);
  const t0 = new Date('2026-01-01T00:00:10Z');
  it('is empty when every file is there with its size, written no later than the manifest', () => {
    const objects = new Map([
      ['adapter_config.json', { size: 2, lastModified: t0 }],
      ['adapter_model.safetensors', { size: 10, lastModified: new Date('2026-01-01T00:00:09Z') }],
      ['stray', { size: 1 }],
    ]);
    expect(checkAgainstListing(m, objects, t0)).toEqual([]);
  });

  it('names missing files, other sizes, and files written after the manifest', () => {
    const objects = new Map([
      ['adapter_config.json', { size: 3 }],
      ['adapter_model.safetensors', { size: 10, lastModified: new Date('2026-01-01T00:00:11Z') }],
    ]);
    expect(checkAgainstListing(m, objects, t0)).toEqual([
      'adapter_config.json: 3 bytes, the manifest says 2',
      'adapter_model.safetensors: written after the manifest',
    ]);
    expect(checkAgainstListing(m, new Map())).toEqual(['adapter_config.json: missing', 'adapter_model.safetensors: missing']);
  });
});

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFile, hexToBase64, parseSha256, sha256Hex, toPrefixed } from './digest.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'digest-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('digestFile', () => {
  it('hashes the whole file and each part, parts straddling the read chunks', async () => {
    // 2.5 MiB read in 1 MiB chunks, cut into 700,001-byte parts: boundaries fall inside chunks.
    const data = randomBytes(2.5 * 1024 * 1024);
    const path = join(dir, 'f.bin');
    await writeFile(path, data);
    const partSize = 700_001;
    const d = await digestFile(path, { partSize });
    expect(d.size).toBe(data.length);
    expect(d.sha256).toBe(sha256Hex(data));
    expect(d.parts).toHaveLength(Math.ceil(data.length / partSize));
    d.parts?.forEach((p, i) => {
      const slice = data.subarray(i * partSize, Math.min(data.length, (i + 1) * partSize));
      expect(p).toEqual({ number: i + 1, size: slice.length, sha256: sha256Hex(slice), md5: createHash('md5').update(slice).digest('hex') });
    });
  });

  it('handles an empty file and reports bytes as it goes', async () => {
    const path = join(dir, 'empty');
    await writeFile(path, '');
    expect(await digestFile(path, { partSize: 10 })).toEqual({ size: 0, sha256: sha256Hex(''), parts: [] });
    const seen: number[] = [];
    await writeFile(join(dir, 'small'), 'abc');
    await digestFile(join(dir, 'small'), { onBytes: (n) => seen.push(n) });
    expect(seen).toEqual([3]);
  });
});

describe('digest formats', () => {
  const hex = sha256Hex('x');
  it('parses prefixed and bare hex, rejects the rest', () => {
    expect(parseSha256(`sha256:${hex}`)).toBe(hex);
    expect(parseSha256(hex.toUpperCase())).toBe(hex);
    expect(parseSha256('sha256:abc')).toBeUndefined();
    expect(parseSha256(undefined)).toBeUndefined();
    expect(toPrefixed(hex)).toBe(`sha256:${hex}`);
  });
  it('gives the base64 form S3 checksums use', () => {
    expect(hexToBase64(hex)).toBe(createHash('sha256').update('x').digest('base64'));
  });
});

import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheCommit, cacheLookup, cachePaths, cacheTempPath } from './cache.js';
import { sha256Hex } from './digest.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cache-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sha = sha256Hex('hello');
const entry = { bucket: 'b', key: 'm/config.json', etag: '"e1"', size: 5, sha256: sha, verifiedBy: 'sha256' as const, downloadedAt: 'now' };

describe('the download cache', () => {
  it('lays objects out as a tree, entries beside it', () => {
    expect(cachePaths('/c', 'b', 'm/x/config.json')).toEqual({ data: '/c/b/m/x/config.json', entry: '/c/.entries/b/m/x/config.json.json' });
    expect(() => cachePaths('/c', 'b', '../escape')).toThrow(/not a safe relative path/);
  });

  it('a committed object is a hit for the same ETag and size, a miss otherwise', async () => {
    const tmp = await cacheTempPath(dir, 'b', 'm/config.json');
    await writeFile(tmp, 'hello');
    const path = await cacheCommit(dir, tmp, entry);
    expect(await readFile(path, 'utf8')).toBe('hello');
    expect(await readdir(join(dir, 'b', 'm'))).toEqual(['config.json']);

    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: 'e1', size: 5 })).toEqual(entry);
    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: '"e2"', size: 5 })).toBeUndefined();
    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: '"e1"', size: 6 })).toBeUndefined();
    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: '"e1"', size: 5, sha256: sha256Hex('x') })).toBeUndefined();
    expect(await cacheLookup(dir, { bucket: 'other', key: 'm/config.json', etag: '"e1"', size: 5 })).toBeUndefined();
  });

  it('a truncated file or a garbled entry is a miss', async () => {
    const { data, entry: entryPath } = cachePaths(dir, 'b', 'm/config.json');
    await writeFile(data, 'hell');
    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: '"e1"', size: 5 })).toBeUndefined();
    await writeFile(data, 'hello');
    await writeFile(entryPath, '{"bucket": 1}');
    expect(await cacheLookup(dir, { bucket: 'b', key: 'm/config.json', etag: '"e1"', size: 5 })).toBeUndefined();
  });

  it('starting a new download of an object drops its entry first', async () => {
    const tmp = await cacheTempPath(dir, 'b', 'k');
    await writeFile(tmp, 'hello');
    await cacheCommit(dir, tmp, { ...entry, key: 'k' });
    expect(await cacheLookup(dir, { bucket: 'b', key: 'k', etag: '"e1"', size: 5 })).toBeDefined();
    const next = await cacheTempPath(dir, 'b', 'k');
    expect(next).toMatch(/k\.part-\d+-[0-9a-f]{8}$/);
    expect(await cacheLookup(dir, { bucket: 'b', key: 'k', etag: '"e1"', size: 5 })).toBeUndefined();
  });
});

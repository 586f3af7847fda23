import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRelative, folderPrefix, insideDir, joinKey, localPathFor, relativeKey, resolveSource } from './location.js';

const s3 = { bucket: 'models', prefix: '/llama/7b', region: 'us-east-1', forcePathStyle: true, endpoint: 'http://s3.local:9000' };

describe('resolveSource', () => {
  it('an s3 location keeps its settings and loses leading slashes', () => {
    expect(resolveSource('baseModel', { s3 })).toMatchObject({
      kind: 's3',
      role: 'baseModel',
      bucket: 'models',
      prefix: 'llama/7b',
      uri: 's3://models/llama/7b',
      location: s3,
    });
  });

  it('a pvc path is taken inside the claim mount', () => {
    expect(resolveSource('dataset', { pvc: { claimName: 'data', path: 'alpaca/train.jsonl' } })).toMatchObject({
      kind: 'local',
      path: '/data/pvc/data/alpaca/train.jsonl',
      uri: 'file:///data/pvc/data/alpaca/train.jsonl',
    });
    expect(resolveSource('dataset', { pvc: { claimName: 'data', path: '/alpaca' } }, { pvcRoot: (n) => `/mnt/${n}` })).toMatchObject({
      path: '/mnt/data/alpaca',
    });
    expect(resolveSource('dataset', { pvc: { claimName: 'data', path: '' } })).toMatchObject({ path: '/data/pvc/data' });
  });

  it('a pvc path cannot leave its mount', () => {
    expect(() => resolveSource('dataset', { pvc: { claimName: 'data', path: '../other/secret' } })).toThrow(/leaves \/data\/pvc\/data/);
    expect(() => resolveSource('dataset', { pvc: { claimName: 'data', path: 'a/../../x' } })).toThrow(/leaves/);
  });

  it('exactly one of s3 or pvc', () => {
    expect(() => resolveSource('output', {})).toThrow(/exactly one of s3 or pvc/);
    expect(() => resolveSource('output', { s3, pvc: { claimName: 'x', path: '' } })).toThrow(/exactly one/);
  });

  it('a local path is made absolute', () => {
    expect(resolveSource('output', { local: 'out' })).toMatchObject({ kind: 'local', path: resolve('out') });
  });
});

describe('keys and relative paths', () => {
  it('folderPrefix', () => {
    expect(folderPrefix('')).toBe('');
    expect(folderPrefix('/')).toBe('');
    expect(folderPrefix('a/b')).toBe('a/b/');
    expect(folderPrefix('/a/b//')).toBe('a/b/');
  });

  it('joinKey and relativeKey are inverse', () => {
    expect(joinKey('jobs/j1', 'adapter/model.safetensors')).toBe('jobs/j1/adapter/model.safetensors');
    expect(joinKey('', 'x')).toBe('x');
    expect(relativeKey('jobs/j1', 'jobs/j1/adapter/model.safetensors')).toBe('adapter/model.safetensors');
    expect(relativeKey('jobs/j1', 'jobs/j10/x')).toBeUndefined();
  });

  it('refuses keys that would escape a local directory', () => {
    for (const bad of ['../x', 'a/../../x', '/abs', 'a//b', './a', 'a\\b', '', 'a/.']) expect(() => checkRelative(bad)).toThrow(/not a safe relative path/);
    expect(() => relativeKey('p', 'p/../../etc/passwd', 'b')).toThrow(/s3:\/\/b\/p\/..\/..\/etc\/passwd/);
    expect(localPathFor('/cache', 'a/b.txt')).toBe(join('/cache', 'a', 'b.txt'));
  });

  it('insideDir', () => {
    expect(insideDir('/m', 'x/y')).toBe('/m/x/y');
    expect(insideDir('/m', '')).toBe('/m');
    expect(() => insideDir('/m', '..')).toThrow(/leaves/);
  });
});

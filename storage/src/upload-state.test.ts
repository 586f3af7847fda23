import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from './digest.js';
import { clearUploadState, readUploadState, uploadStatePath, writeUploadState } from './upload-state.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'upload-state-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const state = { bucket: 'out', key: 'jobs/j1/adapter_model.safetensors', uploadId: 'u-1', size: 10, sha256: sha256Hex('x'), partSize: 5, createdAt: 'now' };

describe('upload state', () => {
  it('round-trips per bucket/key and clears', async () => {
    const stateDir = join(dir, 'nested', 'state');
    await writeUploadState(stateDir, state);
    expect(await readUploadState(stateDir, 'out', state.key)).toEqual(state);
    expect(await readUploadState(stateDir, 'out', 'other')).toBeUndefined();
    await clearUploadState(stateDir, 'out', state.key);
    expect(await readUploadState(stateDir, 'out', state.key)).toBeUndefined();
    await clearUploadState(stateDir, 'out', state.key);
  });

  it('an unreadable record is as good as none', async () => {
    await writeFile(uploadStatePath(dir, 'out', 'k'), '{ not json');
    expect(await readUploadState(dir, 'out', 'k')).toBeUndefined();
    await writeFile(uploadStatePath(dir, 'out', 'k2'), JSON.stringify({ ...state, key: 'k2', uploadId: '' }));
    expect(await readUploadState(dir, 'out', 'k2')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { containerArgv, ImageStore } from './images.js';

describe('ImageStore', () => {
  const store = new ImageStore([{ pattern: 'ghcr.io/loraplane/trainer:*', entrypoint: ['loraplane-trainer'] }]);
  it('matches glob patterns literally apart from *', () => {
    expect(store.find('ghcr.io/loraplane/trainer:v1.2')?.entrypoint).toEqual(['loraplane-trainer']);
    expect(store.find('ghcr.io/loraplane/trainerX:v1')).toBeUndefined();
    expect(store.find('ghcrXio/loraplane/trainer:v1')).toBeUndefined();
  });
});

describe('containerArgv', () => {
  const image = { pattern: 'x', entrypoint: ['/entry'], cmd: ['--default'] };
  it('follows the runtime: command replaces ENTRYPOINT and drops CMD, args replace CMD', () => {
    expect(containerArgv(image)).toEqual(['/entry', '--default']);
    expect(containerArgv(image, undefined, ['--mine'])).toEqual(['/entry', '--mine']);
    expect(containerArgv(image, ['run'])).toEqual(['run']);
    expect(containerArgv(image, ['run'], ['a'])).toEqual(['run', 'a']);
  });
});

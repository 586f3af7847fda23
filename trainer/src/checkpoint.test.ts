import { describe, expect, it } from 'vitest';
import { checkpointName, checkpointStep, keptSteps } from './checkpoint.js';

describe('checkpoint names and rotation', () => {
  it('names a folder by its step and reads the step back, nothing else', () => {
    expect(checkpointName(12)).toBe('checkpoint-12');
    expect(checkpointStep('checkpoint-12')).toBe(12);
    expect(['checkpoint-', 'checkpoint-1a', 'checkpoint-3.tmp', '.download'].map(checkpointStep)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('keeps the newest `limit` steps whatever their order, plus the best one', () => {
    expect([...keptSteps([9, 3, 6], 2)].sort((a, b) => a - b)).toEqual([6, 9]);
    expect([...keptSteps([9, 3, 6], 1, 3)].sort((a, b) => a - b)).toEqual([3, 9]);
    expect([...keptSteps([3], 2, 3)]).toEqual([3]);
  });
});

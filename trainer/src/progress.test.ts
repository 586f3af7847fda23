import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine } from './progress.js';

describe('progress', () => {
  it('draws a bar with step, loss, eval loss, rate and ETA', () => {
    const line = progressLine({ step: 6, epoch: 0.5, loss: 1.23456, learningRate: 2e-4, gradNorm: 1, tokens: 1000, seconds: 0.5, evalLoss: 1.5 }, 12, 75, 10);
    expect(line).toBe('█████░░░░░ 6/12 loss 1.2346 eval 1.5000 lr 2.00e-4 2000 tok/s ETA 1m15s');
    expect(formatDuration(3725)).toBe('1h02m');
  });
});

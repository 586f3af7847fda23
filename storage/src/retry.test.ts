import { describe, expect, it, vi } from 'vitest';
import { StorageError } from './errors.js';
import { backoffDelay, sleep, withRetry } from './retry.js';

const transient = () => new StorageError('Transient', 'reset', { bucket: 'b', key: 'k' });

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling capped at max', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, 100, 10_000, () => 1))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(20, 100, 5_000, () => 1)).toBe(5_000);
    expect(backoffDelay(3, 100, 5_000, () => 0)).toBe(0);
    expect(backoffDelay(3, 100, 5_000, () => 0.5)).toBe(200);
  });
});

describe('withRetry', () => {
  it('retries transient failures until one succeeds', async () => {
    const fn = vi.fn<(n: number) => Promise<string>>().mockRejectedValueOnce(transient()).mockRejectedValueOnce(transient()).mockResolvedValue('ok');
    const onRetry = vi.fn();
    await expect(withRetry(fn, { baseDelayMs: 1, onRetry })).resolves.toBe('ok');
    expect(fn.mock.calls.map((c) => c[0])).toEqual([1, 2, 3]);
    expect(onRetry.mock.calls.map((c) => c[1])).toEqual([1, 2]);
  });

  it('gives up after the attempts and throws the last error', async () => {
    const fn = vi.fn(() => Promise.reject(transient()));
    await expect(withRetry(fn, { attempts: 3, baseDelayMs: 1 })).rejects.toMatchObject({ code: 'Transient' });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('does not retry a permanent failure', async () => {
    const fn = vi.fn(() => Promise.reject(new StorageError('NoSuchKey', 'no such object')));
    await expect(withRetry(fn, { baseDelayMs: 1 })).rejects.toMatchObject({ code: 'NoSuchKey' });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops waiting when aborted', async () => {
    const ac = new AbortController();
    const fn = vi.fn(() => Promise.reject(transient()));
    const p = withRetry(fn, { baseDelayMs: 60_000, maxDelayMs: 60_000, signal: ac.signal, onRetry: () => setTimeout(() => ac.abort(), 5) });
    await expect(p).rejects.toMatchObject({ code: 'Aborted' });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('sleep rejects at once on an aborted signal', async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toMatchObject({ code: 'Aborted' });
  });
});

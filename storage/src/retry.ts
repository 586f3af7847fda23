// Retries with exponential back-off and full jitter, for transient failures only: a missing key or
// rejected credentials fail at once, a reset connection or a 503 is tried again.
import { StorageError, isTransient } from './errors.js';

export interface RetryOptions {
  /** Tries in all, the first included (Infinity: bounded by deadlineMs alone). Default 5. */
  attempts?: number;
  /** Back-off before the second try; doubles each time, up to maxDelayMs. Default 200 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * No try starts later than this many ms after the first: the wait before the last one is cut short
   * to end at the deadline, and a failure after it is thrown. Default: no deadline.
   */
  deadlineMs?: number;
  /** Stops waiting and trying when it fires. */
  signal?: AbortSignal;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Which errors to retry; default isTransient. */
  retryable?: (err: unknown) => boolean;
}

/** Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. `attempt` is the try that failed, from 1. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

export function abortError(signal: AbortSignal, subject: { op?: string; bucket?: string; key?: string } = {}): StorageError {
  return new StorageError('Aborted', 'aborted', { ...subject, cause: signal.reason });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs fn until it succeeds, throws a non-retryable error, or the attempts or the deadline run out (the last error is thrown). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 5);
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 10_000;
  const retryable = opts.retryable ?? isTransient;
  const deadline = opts.deadlineMs !== undefined ? Date.now() + opts.deadlineMs : Infinity;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (attempt >= attempts || !retryable(err)) throw err;
      const left = deadline - Date.now();
      if (left <= 0) throw err;
      const delay = Math.min(backoffDelay(attempt, base, max), left);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

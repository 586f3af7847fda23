// Bounded concurrency: a limiter shared by every request of one download or upload, and a forEach
// that stops starting work at the first failure but waits for what is in flight before it throws
// (so no request still writes to a file the caller is about to delete).
import { abortError } from './retry.js';

export interface Limiter {
  /** Runs fn when one of the slots is free. */
  <T>(fn: () => Promise<T>): Promise<T>;
  readonly active: number;
}

export function limiter(slots: number): Limiter {
  if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`concurrency must be a positive integer, got ${slots}`);
  let active = 0;
  const waiting: Array<() => void> = [];
  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      // The slot passes straight to the next waiter; active only drops when nobody waits.
      if (next !== undefined) next();
      else active--;
    }
  };
  return Object.defineProperty(run, 'active', { get: () => active }) as Limiter;
}

/**
 * Calls fn for every item, at most `concurrency` at a time. On the first failure (or when `signal`
 * fires) no new item starts and the signal passed to fn fires; once the running ones settle, the
 * first error is thrown.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let failure: { err: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (failure === undefined && !stop.signal.aborted && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index, stop.signal);
      } catch (err) {
        failure ??= { err };
        stop.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) {
    // An abort of ours is a consequence; report the caller's abort as such.
    if (signal?.aborted) throw abortError(signal);
    throw failure.err;
  }
  if (signal?.aborted) throw abortError(signal);
}

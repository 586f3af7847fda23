import { describe, expect, it } from 'vitest';
import { forEachLimit, limiter } from './pool.js';

const tick = (ms = 2) => new Promise((r) => setTimeout(r, ms));

describe('limiter', () => {
  it('never runs more than its slots at once, and runs everything', async () => {
    const limit = limiter(3);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          running++;
          peak = Math.max(peak, running);
          await tick();
          running--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(limit.active).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const limit = limiter(1);
    await expect(limit(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit(() => Promise.resolve(1))).resolves.toBe(1);
  });
});

describe('forEachLimit', () => {
  it('stops starting items after the first failure, waits for those in flight, throws that failure', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const err = await forEachLimit(
      Array.from({ length: 10 }, (_, i) => i),
      2,
      async (i, _idx, signal) => {
        started.push(i);
        if (i === 2) throw new Error('part 2 failed');
        await tick(i === 1 ? 20 : 1);
        finished.push(i);
        expect(signal).toBeInstanceOf(AbortSignal);
      },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('part 2 failed');
    expect(started.length).toBeLessThan(10);
    // Item 1 was in flight when 2 failed: it finished before forEachLimit threw.
    expect(finished).toContain(1);
  });

  it('passes an AbortSignal that fires when a sibling fails', async () => {
    let sawAbort = false;
    await forEachLimit([0, 1], 2, async (i, _idx, signal) => {
      if (i === 0) {
        await tick(1);
        throw new Error('first');
      }
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = true;
    }).catch(() => undefined);
    expect(sawAbort).toBe(true);
  });

  it("reports the caller's abort as Aborted", async () => {
    const ac = new AbortController();
    const p = forEachLimit(
      [1, 2, 3],
      1,
      async () => {
        ac.abort();
        await tick();
      },
      ac.signal,
    );
    await expect(p).rejects.toMatchObject({ code: 'Aborted' });
  });

  it('does nothing for no items', async () => {
    await expect(forEachLimit([], 4, () => Promise.reject(new Error('never')))).resolves.toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { ExponentialBackoff } from './rate-limiter.js';
import { WorkQueue } from './workqueue.js';

describe('WorkQueue', () => {
  it('deduplicates a key added many times before it is processed', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 100; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.length).toBe(0);
  });

  it('never hands a key to two workers; an add during processing re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('k');
    const key = await q.get();
    q.add('k');
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(second).toBe('k');
  });

  it('wakes a waiting worker on add and releases waiters on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
    const released = q.get();
    q.shutDown();
    expect(await released).toBeUndefined();
    q.add('y');
    expect(q.length).toBe(0);
  });

  it('hands out urgent keys before normal ones, raising a queued key that turns urgent', async () => {
    const q = new WorkQueue();
    q.add('status-a');
    q.add('status-b');
    q.add('new-c', true);
    q.add('status-b', true);
    q.add('new-c');
    expect(q.length).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['new-c', 'status-b', 'status-a']);
  });

  it('requeues a key added urgently while it was processed in the urgent lane', async () => {
    const q = new WorkQueue();
    q.add('k');
    const key = await q.get();
    q.add('k');
    q.add('k', true);
    q.add('other');
    q.done(key!);
    expect([await q.get(), await q.get()]).toEqual(['k', 'other']);
  });

  it('addAfter keeps the earliest deadline for a key', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 10_000);
    q.addAfter('k', 5);
    expect(await q.get()).toBe('k');
    q.shutDown();
  });

  it('backs off exponentially per key until forgotten', () => {
    const b = new ExponentialBackoff(100, 1000);
    expect([b.when('k'), b.when('k'), b.when('k'), b.when('k'), b.when('k')]).toEqual([100, 200, 400, 800, 1000]);
    expect(b.when('other')).toBe(100);
    b.forget('k');
    expect(b.when('k')).toBe(100);
  });
});

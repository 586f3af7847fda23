import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../ops/metrics.js';
import { Controller, type Reconcile } from './controller.js';

const log = pino({ level: 'silent' });

describe('Controller', () => {
  it('aborts the reconciles in flight on stop, returns once they did, and counts no error for them', async () => {
    const metrics = createOperatorMetrics(() => []);
    let started!: () => void;
    const blocked = new Promise<void>((resolve) => (started = resolve));
    let seen: AbortSignal | undefined;
    // Blocks until its signal aborts, as a call given the signal does.
    const reconcile: Reconcile = (_key, signal) => {
      seen = signal;
      started();
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    };
    const controller = new Controller('test', reconcile, metrics, log, 1);
    controller.start();
    controller.enqueue({ namespace: 'ns', name: 'a' });
    await blocked;
    expect(seen!.aborted).toBe(false);

    await controller.stop();
    expect(seen!.aborted).toBe(true);
    expect((await metrics.reconcileErrors.get()).values).toEqual([]);
  });

  it('gives every reconcile a signal that stays live until stop', async () => {
    const metrics = createOperatorMetrics(() => []);
    const signals: AbortSignal[] = [];
    let done!: () => void;
    const both = new Promise<void>((resolve) => (done = resolve));
    const controller = new Controller(
      'test',
      async (_key, signal) => {
        signals.push(signal);
        if (signals.length === 2) done();
        return undefined;
      },
      metrics,
      log,
      2,
    );
    controller.start();
    controller.enqueue({ namespace: 'ns', name: 'a' });
    controller.enqueue({ namespace: 'ns', name: 'b' });
    await both;
    expect(signals.every((s) => !s.aborted)).toBe(true);
    await controller.stop();
    expect(signals.every((s) => s.aborted)).toBe(true);
  });
});

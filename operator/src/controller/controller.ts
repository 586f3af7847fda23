// Runs a reconcile function over a keyed queue with N workers, as controller-runtime does:
// an error requeues with per-key back-off, a TerminalError is recorded and not retried,
// and a result's requeueAfterMs schedules time-based work. Each reconcile gets a signal that stop()
// aborts, so a reconcile blocked on storage or a trainer gives up at once instead of at its timeout.
import type { Logger } from 'pino';
import type { OperatorMetrics } from '../ops/metrics.js';
import { WorkQueue } from './workqueue.js';

export interface Result {
  requeueAfterMs?: number;
}

/** signal is aborted when the controller stops: pass it to every slow call, and write nothing once it is. */
export type Reconcile = (key: ObjectKey, signal: AbortSignal) => Promise<Result | undefined>;

export interface ObjectKey {
  namespace: string;
  name: string;
}

/** An error that retrying cannot fix (bad spec): logged and recorded, never requeued. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export const keyOf = (k: ObjectKey): string => `${k.namespace}/${k.name}`;
export const parseKey = (key: string): ObjectKey => {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
};

export class Controller {
  readonly queue = new WorkQueue();
  private workers: Promise<void>[] = [];
  private readonly stopping = new AbortController();

  constructor(
    readonly name: string,
    private readonly reconcile: Reconcile,
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
    private readonly concurrency = 4,
  ) {}

  /** urgent: handed out before every normal key (WorkQueue's urgent lane). */
  enqueue(key: ObjectKey, urgent = false): void {
    this.queue.add(keyOf(key), urgent);
    this.metrics.queueDepth.set({ controller: this.name }, this.queue.length);
  }

  start(): void {
    this.workers = Array.from({ length: this.concurrency }, () => this.work());
  }

  /** Stops taking keys, aborts the reconciles in flight and waits for them to return. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    this.stopping.abort(new Error(`controller ${this.name} stopped`));
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      this.metrics.queueDepth.set({ controller: this.name }, this.queue.length);
      await this.processOne(key);
      this.queue.done(key);
    }
  }

  private async processOne(key: string): Promise<void> {
    const end = this.metrics.reconcileDuration.startTimer({ controller: this.name });
    const { signal } = this.stopping;
    try {
      const result = await this.reconcile(parseKey(key), signal);
      this.queue.forget(key);
      if (result?.requeueAfterMs) this.queue.addAfter(key, result.requeueAfterMs);
      this.metrics.reconciles.inc({ controller: this.name, result: result?.requeueAfterMs ? 'requeue_after' : 'success' });
    } catch (err) {
      // Stopping, not failing: nothing to retry here; whoever runs the controllers next reconciles every object afresh.
      if (signal.aborted) {
        this.log.info({ controller: this.name, key, err: String(err) }, 'reconcile aborted: the controller is stopping');
        return;
      }
      const terminal = err instanceof TerminalError;
      this.metrics.reconciles.inc({ controller: this.name, result: terminal ? 'terminal_error' : 'error' });
      this.metrics.reconcileErrors.inc({ controller: this.name });
      this.log.error({ controller: this.name, key, err, retries: this.queue.retries(key) }, 'reconcile failed');
      if (terminal) this.queue.forget(key);
      else this.queue.addRateLimited(key);
    } finally {
      end();
    }
  }
}

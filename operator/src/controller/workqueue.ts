// A keyed work queue with controller-runtime semantics: a key is queued at most once, a key being
// processed is never handed to a second worker, and a key added while processing is re-queued
// when its worker calls done(). Bursts of events for one object collapse into one reconcile.
// Two lanes, as controller-runtime's priority queue has: an urgent key (an object that needs its first
// action, such as a new FineTuneJob's trainer Job) is handed out before every normal one (status
// bookkeeping), so under a burst the work that starts workloads is not queued behind reports on them.
import { ExponentialBackoff } from './rate-limiter.js';

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly urgent: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added urgently while being processed: requeued urgently on done(). */
  private readonly urgentOnDone = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly backoff = new ExponentialBackoff()) {}

  /** urgent: ahead of every normal key; a key already queued as normal moves up. */
  add(key: string, urgent = false): void {
    if (this.shuttingDown) return;
    const queued = this.dirty.has(key);
    this.dirty.add(key);
    if (queued || this.processing.has(key)) {
      if (urgent) this.raise(key);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      (urgent ? this.urgent : this.queue).push(key);
    }
  }

  private raise(key: string): void {
    if (this.processing.has(key)) {
      this.urgentOnDone.add(key);
      return;
    }
    const at = this.queue.indexOf(key);
    if (at >= 0) this.urgent.push(...this.queue.splice(at, 1));
  }

  /** Adds key after delayMs; an earlier pending add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.backoff.when(key));
  }

  /** Clears the key's failure history after a successful reconcile. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  retries(key: string): number {
    return this.backoff.retries(key);
  }

  /** Next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.urgent.shift() ?? this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const urgent = this.urgentOnDone.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key, urgent);
    }
  }

  get length(): number {
    return this.urgent.length + this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters) waiter(undefined);
    this.waiters = [];
  }
}

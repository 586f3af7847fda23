// A list+watch cache of one resource, over client-node's ListWatch (which keeps the resourceVersion
// and relists on 410 Gone). This wrapper adds what a controller needs on top: restart with back-off
// after any other error, a synced signal, one cache per watched namespace behind a single view, and a
// transform that keeps only what the reconcilers read (client-go's SetTransform): every object loses
// metadata.managedFields and kubectl's last-applied-configuration before it is cached, often half of
// what the API server sends.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ExponentialBackoff } from './rate-limiter.js';

export type EventType = 'add' | 'update' | 'delete';
export type Handler<T> = (obj: T, event: EventType) => void;

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  /** URL path of the collection for one namespace (or all, when namespace is undefined). */
  path: (namespace: string | undefined) => string;
  list: (namespace: string | undefined) => Promise<KubernetesListObject<T>>;
  /** Namespaces to watch; empty means all namespaces. */
  namespaces: string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied to every listed and watched object before it is cached and handed to the handlers; after stripBookkeeping. */
  transform?: (obj: T) => T;
  log: Logger;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The object without the API's own bookkeeping no reconciler reads: metadata.managedFields (server-side
 * apply) and the last-applied-configuration annotation (client-side `kubectl apply`'s copy of the whole
 * object as it was applied).
 */
export function stripBookkeeping<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta?.managedFields && meta?.annotations?.[LAST_APPLIED] === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = meta;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _applied, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  return { ...obj, metadata };
}

/** A Watch whose ADDED, MODIFIED and DELETED objects pass through `transform` (ERROR and BOOKMARK ones as they are). */
class TransformingWatch<T> extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly transform: (obj: T) => T,
  ) {
    super(kc);
  }

  override watch(...[path, params, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    const wrapped: typeof callback = (phase, obj, raw) => callback(phase, phase === 'ERROR' || phase === 'BOOKMARK' ? obj : this.transform(obj as T), raw);
    return super.watch(path, params, wrapped, done);
  }
}

/** What the operator starts, waits on and stops, whatever an informer caches. */
export type InformerLifecycle = Pick<Informer<KubernetesObject>, 'start' | 'stop' | 'hasSynced'>;

export class Informer<T extends KubernetesObject> {
  private readonly caches = new Map<string, ListWatch<T>>();
  private readonly handlers: Handler<T>[] = [];
  private readonly backoff = new ExponentialBackoff(500, 30_000);
  private readonly unsynced = new Set<string>();
  private syncWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly transform: (obj: T) => T;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: InformerOptions<T>,
  ) {
    const extra = opts.transform;
    this.transform = extra ? (obj) => extra(stripBookkeeping(obj)) : stripBookkeeping;
  }

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  /** Starts watching; resolves once every namespace has been listed. */
  async start(): Promise<void> {
    const scopes: (string | undefined)[] = this.opts.namespaces.length ? this.opts.namespaces : [undefined];
    for (const ns of scopes) this.startScope(ns);
    await this.synced();
  }

  synced(): Promise<void> {
    if (this.unsynced.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get hasSynced(): boolean {
    return this.unsynced.size === 0;
  }

  get(namespace: string, name: string): T | undefined {
    return this.cacheFor(namespace)?.get(name, namespace);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.cacheFor(namespace)?.list(namespace) ?? [])];
    return [...this.caches.values()].flatMap((c) => [...c.list()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.caches.values()].map((c) => c.stop()));
  }

  private cacheFor(namespace: string): ListWatch<T> | undefined {
    return this.caches.get(namespace) ?? this.caches.get('*');
  }

  private startScope(ns: string | undefined): void {
    const scope = ns ?? '*';
    this.unsynced.add(scope);
    const list = async () => {
      const result = await this.opts.list(ns);
      this.backoff.forget(scope);
      this.markSynced(scope);
      return { ...result, items: result.items.map(this.transform) };
    };
    const lw = new ListWatch<T>(
      this.opts.path(ns),
      new TransformingWatch<T>(this.kc, this.transform),
      list,
      false,
      this.opts.labelSelector,
      this.opts.fieldSelector,
    );
    for (const event of ['add', 'update', 'delete'] as const) {
      lw.on(event, (obj: T) => {
        for (const h of this.handlers) h(obj, event);
      });
    }
    lw.on('error', (err: unknown) => {
      if (this.stopped) return;
      const delay = this.backoff.when(scope);
      this.opts.log.warn({ informer: this.opts.name, namespace: ns, err: String(err), retryInMs: delay }, 'watch failed; restarting');
      setTimeout(() => void (this.stopped ? undefined : lw.start()), delay).unref();
    });
    this.caches.set(scope, lw);
    void lw.start();
  }

  private markSynced(scope: string): void {
    if (!this.unsynced.delete(scope) || this.unsynced.size) return;
    for (const w of this.syncWaiters) w();
    this.syncWaiters = [];
  }
}

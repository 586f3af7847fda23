// Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection does:
// acquire when the Lease is free or its holder has not renewed within leaseDuration (measured on
// our own clock from when we last saw the record change, so clock skew between replicas is harmless),
// renew every retryPeriod, and give up leadership when renewals fail for renewDeadline.
import { ApiException, type CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  /** Called once when a held lease is lost; the operator exits so a fresh process starts clean. */
  onStoppedLeading: () => void;
}

/** The Lease fields used here, as JSON: MicroTime strings, not Dates. */
interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/**
 * Leases hold MicroTime (exactly six fractional digits); client-node's typed Lease API serializes
 * Dates with three and the API server rejects them, so Leases go through the untyped client.
 */
export const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isStatus = (err: unknown, code: number) => err instanceof ApiException && err.code === code;

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observed: { record: string; at: number } | undefined;

  constructor(
    private readonly api: CustomObjectsApi,
    private readonly cfg: LeaderElectionConfig,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until leader, then renews until stopped or the lease is lost. */
  async run(): Promise<void> {
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.log.info({ lease: this.cfg.name, identity: this.cfg.identity }, 'became leader');
        this.callbacks.onStartedLeading();
      } else {
        await sleep(this.cfg.retryPeriodMs);
      }
    }
    let lastRenew = Date.now();
    while (!this.stopped && this.leading) {
      await sleep(this.cfg.retryPeriodMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.cfg.renewDeadlineMs) {
        this.leading = false;
        this.log.error({ lease: this.cfg.name }, 'leader lease lost');
        this.callbacks.onStoppedLeading();
      }
    }
  }

  private leaseRef() {
    return { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespace: this.cfg.namespace, name: this.cfg.name };
  }

  private read(): Promise<Lease> {
    return this.api.getNamespacedCustomObject(this.leaseRef()) as Promise<Lease>;
  }

  private replace(lease: Lease): Promise<unknown> {
    return this.api.replaceNamespacedCustomObject({ ...this.leaseRef(), body: lease });
  }

  /** Stops campaigning; a leader hands the lease over at once instead of letting it expire. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease.spec?.holderIdentity !== this.cfg.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(new Date()) };
      await this.replace(lease);
      this.log.info({ lease: this.cfg.name }, 'released leader lease');
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not release leader lease; it will expire');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.cfg;
    const now = new Date();
    const nowMicro = microTime(now);
    let lease: Lease;
    try {
      lease = await this.read();
    } catch (err) {
      if (!isStatus(err, 404)) return this.failed(err);
      try {
        const { group, version, plural } = this.leaseRef();
        await this.api.createNamespacedCustomObject({
          group,
          version,
          plural,
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: nowMicro, renewTime: nowMicro, leaseTransitions: 0 },
          } satisfies Lease,
        });
        return true;
      } catch (createErr) {
        return isStatus(createErr, 409) ? false : this.failed(createErr);
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${spec.renewTime ?? ''}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: now.getTime() };
    const expiresAt = this.observed.at + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && expiresAt > now.getTime()) return false;

    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: nowMicro,
      acquireTime: holder === identity ? spec.acquireTime : nowMicro,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      await this.replace(lease);
      return true;
    } catch (err) {
      return isStatus(err, 409) ? false : this.failed(err);
    }
  }

  private failed(err: unknown): false {
    this.log.warn({ err: String(err), lease: this.cfg.name }, 'leader election request failed');
    return false;
  }
}

// Registers the fake nodes and keeps them Ready: a status heartbeat and a Lease renewal per node
// every heartbeat period, as the kubelet's node status and lease controllers do.
import { renameSync, writeFileSync } from 'node:fs';
import type { NodeDef } from './config.js';
import { FIELD_MANAGER, errorMessage, type Kube, serverSideApply, strategicMerge } from './kube.js';
import type { Logger } from './log.js';
import { LEASE_NAMESPACE, leaseObject, nodeObject, nodeStatusPatch, withTransitionTimes } from './node-status.js';

export class NodeKeeper {
  private timer: NodeJS.Timeout | undefined;
  private readonly uids = new Map<string, string>();
  private kubeletVersion = 'v0.0.0';

  constructor(
    private readonly kube: Kube,
    private readonly defs: readonly NodeDef[],
    private readonly periodMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Registers every node (retrying until the apiserver answers), then heartbeats them; writes the
   * node names to `readyFile` once all are registered, for up.sh to wait on.
   */
  async start(readyFile: string): Promise<void> {
    this.kubeletVersion = (await retry(() => this.kube.version.getCode(), this.log)).gitVersion;
    for (const def of this.defs) {
      await retry(() => this.register(def), this.log);
    }
    writeFileSync(`${readyFile}.tmp`, this.defs.map((d) => `${d.name}\n`).join(''));
    renameSync(`${readyFile}.tmp`, readyFile);
    this.timer = setInterval(() => void this.heartbeatAll(), this.periodMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async register(def: NodeDef): Promise<void> {
    const node = await this.kube.core.patchNode({ name: def.name, body: nodeObject(def), fieldManager: FIELD_MANAGER, force: true }, serverSideApply);
    const uid = node.metadata?.uid;
    if (uid === undefined) throw new Error(`node ${def.name} has no uid`);
    this.uids.set(def.name, uid);
    await this.kube.core.patchNodeStatus({ name: def.name, body: withTransitionTimes(nodeStatusPatch(def, this.kubeletVersion)) }, strategicMerge);
    await this.renewLease(def.name);
    this.log.info({ node: def.name, uid }, 'node registered');
  }

  private async heartbeatAll(): Promise<void> {
    await Promise.all(this.defs.map((def) => this.heartbeat(def)));
  }

  private async heartbeat(def: NodeDef): Promise<void> {
    try {
      await this.kube.core.patchNodeStatus({ name: def.name, body: nodeStatusPatch(def, this.kubeletVersion) }, strategicMerge);
      await this.renewLease(def.name);
    } catch (err) {
      // A node deleted behind our back is registered again, as a restarted kubelet would.
      this.log.warn({ node: def.name, err: errorMessage(err) }, 'heartbeat failed; re-registering');
      await this.register(def).catch((e: unknown) => this.log.warn({ node: def.name, err: errorMessage(e) }, 're-registration failed'));
    }
  }

  private async renewLease(name: string): Promise<void> {
    const uid = this.uids.get(name);
    if (uid === undefined) throw new Error(`node ${name} is not registered`);
    await this.kube.coordination.patchNamespacedLease(
      { name, namespace: LEASE_NAMESPACE, body: leaseObject(name, uid), fieldManager: FIELD_MANAGER, force: true },
      serverSideApply,
    );
  }
}

/** Retries fn with capped exponential back-off until it succeeds (the apiserver may be starting). */
async function retry<T>(fn: () => Promise<T>, log: Logger): Promise<T> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await fn();
    } catch (err) {
      log.warn({ err: errorMessage(err), retryInMs: delay }, 'API call failed');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

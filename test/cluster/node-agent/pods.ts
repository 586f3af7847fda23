// Routes pod events to one PodWorker per pod UID, for pods bound to the agent's nodes.
import type * as k8s from '@kubernetes/client-node';
import type { NodeDef } from './config.js';
import type { PodHandler } from './pod-watch.js';
import { PodWorker, type WorkerDeps } from './pod-worker.js';

export class PodManager implements PodHandler {
  private readonly workers = new Map<string, PodWorker>();

  constructor(
    private readonly nodes: ReadonlyMap<string, NodeDef>,
    private readonly deps: WorkerDeps,
  ) {}

  upsert(pod: k8s.V1Pod): void {
    const uid = pod.metadata?.uid;
    const node = this.nodes.get(pod.spec?.nodeName ?? '');
    if (uid === undefined || node === undefined) return;
    let worker = this.workers.get(uid);
    if (worker === undefined) {
      // A pod that finished before this agent saw it (agent restart) has nothing left to run.
      const phase = pod.status?.phase;
      if ((phase === 'Succeeded' || phase === 'Failed') && pod.metadata?.deletionTimestamp === undefined) return;
      worker = new PodWorker(pod, node, this.deps);
      this.workers.set(uid, worker);
    }
    worker.update(pod);
  }

  remove(pod: k8s.V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    this.workers.get(uid)?.remove();
    this.workers.delete(uid);
  }

  killAll(): void {
    for (const w of this.workers.values()) w.kill();
  }
}

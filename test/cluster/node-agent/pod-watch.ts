// List+watch of the pods bound to any node (fieldSelector spec.nodeName!=, as the scheduler's
// assigned-pod informer uses), restarted with capped exponential back-off when the apiserver goes
// away: client-node's ListWatch reports errors but does not retry by itself.
import * as k8s from '@kubernetes/client-node';
import { errorMessage, type Kube } from './kube.js';
import type { Logger } from './log.js';

export interface PodHandler {
  upsert(pod: k8s.V1Pod): void;
  remove(pod: k8s.V1Pod): void;
}

export class PodWatch {
  private informer: k8s.ListWatch<k8s.V1Pod> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  private stopped = false;

  constructor(
    private readonly kube: Kube,
    private readonly handler: PodHandler,
    private readonly log: Logger,
  ) {}

  start(): void {
    const fieldSelector = 'spec.nodeName!=';
    const informer = new k8s.ListWatch<k8s.V1Pod>(
      '/api/v1/pods',
      new k8s.Watch(this.kube.config),
      async () => {
        const list = await this.kube.core.listPodForAllNamespaces({ fieldSelector });
        this.backoffMs = 250; // the apiserver answers again
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    informer.on(k8s.ADD, (pod) => this.handler.upsert(pod));
    informer.on(k8s.UPDATE, (pod) => this.handler.upsert(pod));
    informer.on(k8s.DELETE, (pod) => this.handler.remove(pod));
    informer.on(k8s.ERROR, (err: unknown) => {
      if (this.stopped) return;
      this.log.warn({ err: errorMessage(err), retryInMs: this.backoffMs }, 'pod watch failed; restarting');
      this.retry = setTimeout(() => void this.restart(informer), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
    });
    this.informer = informer;
    void this.restart(informer);
  }

  private async restart(informer: k8s.ListWatch<k8s.V1Pod>): Promise<void> {
    if (this.stopped) return;
    try {
      await informer.start();
    } catch (err) {
      // start() rejects only when the watch request itself cannot be made; ERROR handles the rest.
      this.log.warn({ err: errorMessage(err) }, 'pod watch did not start');
      this.retry = setTimeout(() => void this.restart(informer), this.backoffMs);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer?.stop();
  }
}

// Records core/v1 Events on the objects the operator manages, as client-go's EventRecorder does:
// recording never blocks the caller (the write goes on in the background, so a reconcile does not
// wait on it), and stop() waits for the writes still in flight.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export type EventType = 'Normal' | 'Warning';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export class EventRecorder {
  constructor(
    private readonly api: CoreV1Api,
    private readonly component: string,
    private readonly log: Logger,
  ) {}

  private readonly inFlight = new Set<Promise<void>>();

  /** Best effort: an event that cannot be written is logged, never fails a reconcile. */
  record(obj: InvolvedObject, type: EventType, reason: string, message: string): void {
    const write = this.write(obj, type, reason, message).finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
  }

  /** Resolves once every event recorded so far is written (or given up). */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private async write(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const meta = obj.metadata;
    const now = new Date();
    try {
      await this.api.createNamespacedEvent({
        namespace: meta.namespace ?? 'default',
        body: {
          metadata: { generateName: `${meta.name}.`, namespace: meta.namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resourceVersion: meta.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.component },
          reportingComponent: this.component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.log.warn({ err: String(err), reason, name: meta.name }, 'could not record event');
    }
  }
}

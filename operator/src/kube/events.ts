// Records core/v1 Events on the objects the operator manages, as client-go's EventRecorder does.
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

  /** Best effort: an event that cannot be written is logged, never fails a reconcile. */
  async record(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
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

// What the FineTuneJob reconciler keeps of the trainer Jobs, their pods and Kueue's Workloads in its
// caches: the fields observe.ts, kueue.ts and reconciler.ts read, nothing else. A Job's pod template
// (the trainer's whole configuration as env and args) and a Workload's copy of it (spec.podSets) are
// most of what the API server sends and nothing reads them; at 1,000 FineTuneJobs they were most of
// the operator's memory. A field a reconciler starts to read must be added here (cache-shapes.test.ts
// round-trips every field observe() and the reconciler read).
import type { V1Container, V1Job, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import type { Workload } from './kueue.js';

function meta(m: V1ObjectMeta | undefined): V1ObjectMeta | undefined {
  if (!m) return m;
  const { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, labels, annotations, ownerReferences } = m;
  return { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, labels, annotations, ownerReferences };
}

/** Metadata, the spec fields the FineTuneJob controls or reports (suspend and the limits), and the status. */
export function slimJob(job: V1Job): V1Job {
  const spec = job.spec;
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata: meta(job.metadata),
    ...(spec
      ? {
          spec: {
            suspend: spec.suspend,
            backoffLimit: spec.backoffLimit,
            activeDeadlineSeconds: spec.activeDeadlineSeconds,
            ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished,
            // Required by the type; the pod template is read from the pods themselves.
            template: {},
          },
        }
      : {}),
    status: job.status,
  };
}

const container = (c: V1Container): V1Container => ({ name: c.name, image: c.image, ports: c.ports, resources: c.resources });

/** Metadata, where the pod runs and its containers' image, ports and resources (for messages and /metrics), and the status. */
export function slimPod(pod: V1Pod): V1Pod {
  const spec = pod.spec;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: meta(pod.metadata),
    ...(spec ? { spec: { nodeName: spec.nodeName, containers: spec.containers.map(container) } } : {}),
    status: pod.status,
  };
}

/** Metadata, spec.queueName and spec.active, and the status fields kueue.ts reads. */
export function slimWorkload<W extends Workload>(wl: W): W {
  const { conditions, admission, schedulingStats } = wl.status ?? {};
  return {
    apiVersion: wl.apiVersion,
    kind: wl.kind,
    metadata: meta(wl.metadata as V1ObjectMeta) as Workload['metadata'],
    spec: { queueName: wl.spec?.queueName, active: wl.spec?.active },
    ...(wl.status ? { status: { conditions, admission, schedulingStats } } : {}),
  } as W;
}

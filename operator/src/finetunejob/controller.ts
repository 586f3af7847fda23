// Wires the caches of the trainer Jobs, their pods and Kueue's Workloads (each slimmed to what the
// reconciler reads: cache-shapes.ts) and of the Job controller's FailedCreate events, the reconciler and
// its work queue. A FineTuneJob is reconciled on its own changes and on those of the Job and pods it owns
// (found by the finetunejob label), of the Workload Kueue made for its Job, and of its Job's FailedCreate.
import {
  ApiException,
  ApisApi,
  BatchV1Api,
  type CoreV1Api,
  type CoreV1Event,
  type CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { CacheReader } from '../controller/cache.js';
import { Controller } from '../controller/controller.js';
import { Informer, type InformerLifecycle } from '../controller/informer.js';
import { ExponentialBackoff } from '../controller/rate-limiter.js';
import { slimJob, slimPod, slimWorkload } from './cache-shapes.js';
import type { EventRecorder } from '../kube/events.js';
import type { OperatorMetrics } from '../ops/metrics.js';
import { KUEUE_GROUP, KUEUE_VERSION, WORKLOADS, jobNameOf, type Workload } from './kueue.js';
import { LABEL_FINETUNEJOB, LABEL_MANAGED_BY, MANAGED_BY } from './naming.js';
import { createFineTuneJobReconciler } from './reconciler.js';
import type { TrainerDefaults } from './render-job.js';
import { createServiceAccountEnsurer } from './service-account.js';

export interface FineTuneJobControllerOptions {
  kc: KubeConfig;
  namespaces: string[];
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
  /** The operator's FineTuneJob cache: read by the reconciler, watched to enqueue each job. */
  fineTuneJobs: CacheReader<unknown> & { on(handler: (job: KubernetesObject) => void): void };
  events: EventRecorder;
  metrics: OperatorMetrics;
  trainer: TrainerDefaults;
  /** How often a running trainer's /metrics is read into status.progress. */
  progressIntervalMs: number;
  concurrency: number;
  log: Logger;
}

export function createFineTuneJobController(o: FineTuneJobControllerOptions) {
  const batch = o.kc.makeApiClient(BatchV1Api);
  const { core, customObjects, namespaces, log } = o;
  const ns = (n: string | undefined) => (n ? `/namespaces/${n}` : '');
  const ownedSelector = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

  const jobs = new Informer<V1Job>(o.kc, {
    name: 'jobs',
    namespaces,
    log,
    labelSelector: ownedSelector,
    transform: slimJob,
    path: (n) => `/apis/batch/v1${ns(n)}/jobs`,
    list: (n) =>
      n ? batch.listNamespacedJob({ namespace: n, labelSelector: ownedSelector }) : batch.listJobForAllNamespaces({ labelSelector: ownedSelector }),
  });
  const pods = new Informer<V1Pod>(o.kc, {
    name: 'pods',
    namespaces,
    log,
    labelSelector: ownedSelector,
    transform: slimPod,
    path: (n) => `/api/v1${ns(n)}/pods`,
    list: (n) => (n ? core.listNamespacedPod({ namespace: n, labelSelector: ownedSelector }) : core.listPodForAllNamespaces({ labelSelector: ownedSelector })),
  });

  // Why the Job controller cannot create a trainer pod (missing ServiceAccount, PriorityClass, quota).
  // Watched, not listed per reconcile: Event field selectors are not indexed, so each list walked every
  // Event in the namespace; watched, a FailedCreate also reconciles its FineTuneJob when it arrives.
  const failedCreateSelector = 'involvedObject.kind=Job,reason=FailedCreate';
  const failedCreates = new Informer<CoreV1Event>(o.kc, {
    name: 'failed-create-events',
    namespaces,
    log,
    fieldSelector: failedCreateSelector,
    path: (n) => `/api/v1${ns(n)}/events`,
    list: (n) =>
      n
        ? core.listNamespacedEvent({ namespace: n, fieldSelector: failedCreateSelector })
        : core.listEventForAllNamespaces({ fieldSelector: failedCreateSelector }),
  });

  // Kueue's Workloads, read to say in a queued FineTuneJob's status what Kueue decided. Started only
  // when the cluster serves the Kueue API (discoverKueue()): without Kueue there is nothing to watch.
  const workloads = new Informer<Workload & KubernetesObject>(o.kc, {
    name: 'workloads',
    namespaces,
    log,
    transform: slimWorkload,
    path: (n) => `/apis/${KUEUE_GROUP}/${KUEUE_VERSION}${ns(n)}/${WORKLOADS}`,
    list: (n) =>
      (n
        ? customObjects.listNamespacedCustomObject({ group: KUEUE_GROUP, version: KUEUE_VERSION, namespace: n, plural: WORKLOADS })
        : customObjects.listClusterCustomObject({ group: KUEUE_GROUP, version: KUEUE_VERSION, plural: WORKLOADS })) as Promise<
        KubernetesListObject<Workload & KubernetesObject>
      >,
  });
  let kueueServed = false;
  const apis = o.kc.makeApiClient(ApisApi);

  const reconcile = createFineTuneJobReconciler({
    fineTuneJobs: o.fineTuneJobs,
    jobs,
    pods,
    workloads: { get: (n, name) => (kueueServed ? workloads.get(n, name) : undefined), list: (n) => (kueueServed ? workloads.list(n) : []) },
    batch,
    customObjects,
    events: o.events,
    trainer: o.trainer,
    failedCreate: (namespace, jobName) => {
      const time = (e: CoreV1Event) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return failedCreates
        .list(namespace)
        .filter((e) => e.involvedObject.name === jobName)
        .sort((a, b) => time(a) - time(b))
        .at(-1)?.message;
    },
    ensureServiceAccount: createServiceAccountEnsurer(core, o.trainer.serviceAccountName),
    ensureService: async (service) => {
      try {
        await core.createNamespacedService({ namespace: service.metadata!.namespace!, body: service });
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      }
    },
    log,
    progressIntervalMs: o.progressIntervalMs,
  });
  const controller = new Controller('finetunejob', reconcile, o.metrics, log, o.concurrency);

  const enqueueOwner = (obj: KubernetesObject) => {
    const owner = obj.metadata?.labels?.[LABEL_FINETUNEJOB];
    if (owner && obj.metadata?.namespace) controller.enqueue({ namespace: obj.metadata.namespace, name: owner });
  };
  // A FineTuneJob without a status has not had its trainer Job made yet: that goes first under a burst,
  // ahead of the status writes that Job and pod events bring.
  o.fineTuneJobs.on((job) => {
    if (job.metadata?.name && job.metadata.namespace)
      controller.enqueue({ namespace: job.metadata.namespace, name: job.metadata.name }, (job as { status?: unknown }).status === undefined);
  });
  jobs.on(enqueueOwner);
  pods.on(enqueueOwner);
  // A FailedCreate event and a Workload name the trainer Job, which names its FineTuneJob.
  const enqueueOwnerOfJob = (namespace: string | undefined, jobName: string | undefined) => {
    const job = namespace && jobName ? jobs.get(namespace, jobName) : undefined;
    if (job) enqueueOwner(job);
  };
  failedCreates.on((event) => enqueueOwnerOfJob(event.metadata.namespace, event.involvedObject.name));
  workloads.on((wl) => enqueueOwnerOfJob(wl.metadata?.namespace, jobNameOf(wl)));

  return {
    controller,
    /** The caches to fill before the controller starts; Kueue's Workloads once discoverKueue() found the API. */
    get informers(): InformerLifecycle[] {
      return kueueServed ? [jobs, pods, failedCreates, workloads] : [jobs, pods, failedCreates];
    },
    /** Whether the API server serves kueue.x-k8s.io/v1beta2; retried with back-off while discovery fails. */
    async discoverKueue(): Promise<boolean> {
      const backoff = new ExponentialBackoff(500, 30_000);
      for (;;) {
        try {
          const { groups } = await apis.getAPIVersions();
          kueueServed = groups.some((g) => g.name === KUEUE_GROUP && g.versions.some((v) => v.version === KUEUE_VERSION));
          return kueueServed;
        } catch (err) {
          const delay = backoff.when('discovery');
          log.warn({ err: String(err), retryInMs: delay }, 'API discovery failed; retrying');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    },
  };
}

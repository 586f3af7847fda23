// Wires the caches, the work queues and the FineTuneJob and LoraAdapter reconcilers into one runnable unit.
import { ApisApi, BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '@loraplane/api/group';
import { FINETUNEJOB } from '@loraplane/api/resources';
import type { OperatorConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { Informer } from './controller/informer.js';
import { ExponentialBackoff } from './controller/rate-limiter.js';
import { KUEUE_GROUP, KUEUE_VERSION, WORKLOADS, jobNameOf, type Workload } from './finetunejob/kueue.js';
import { LABEL_FINETUNEJOB, LABEL_MANAGED_BY, MANAGED_BY } from './finetunejob/naming.js';
import { createFineTuneJobReconciler } from './finetunejob/reconciler.js';
import { createServiceAccountEnsurer } from './finetunejob/service-account.js';
import { EventRecorder } from './kube/events.js';
import { createLoraAdapterController } from './loraadapter/controller.js';
import { createOperatorMetrics } from './ops/metrics.js';

type Obj = { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };

export function createOperator(kc: KubeConfig, cfg: OperatorConfig, log: Logger) {
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const customObjects = kc.makeApiClient(CustomObjectsApi);
  const namespaces = cfg.WATCH_NAMESPACES;
  const ns = (n: string | undefined) => (n ? `/namespaces/${n}` : '');
  const ownedSelector = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

  const fineTuneJobs = new Informer<Obj & { apiVersion?: string; kind?: string }>(kc, {
    name: 'finetunejobs',
    namespaces,
    log,
    path: (n) => `/apis/${GROUP}/${VERSION}${ns(n)}/${FINETUNEJOB.plural}`,
    list: (n) =>
      (n
        ? customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: n, plural: FINETUNEJOB.plural })
        : customObjects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: FINETUNEJOB.plural })) as Promise<KubernetesListObject<Obj>>,
  });
  const jobs = new Informer<V1Job>(kc, {
    name: 'jobs',
    namespaces,
    log,
    labelSelector: ownedSelector,
    path: (n) => `/apis/batch/v1${ns(n)}/jobs`,
    list: (n) => (n ? batch.listNamespacedJob({ namespace: n, labelSelector: ownedSelector }) : batch.listJobForAllNamespaces({ labelSelector: ownedSelector })),
  });
  const pods = new Informer<V1Pod>(kc, {
    name: 'pods',
    namespaces,
    log,
    labelSelector: ownedSelector,
    path: (n) => `/api/v1${ns(n)}/pods`,
    list: (n) => (n ? core.listNamespacedPod({ namespace: n, labelSelector: ownedSelector }) : core.listPodForAllNamespaces({ labelSelector: ownedSelector })),
  });

  // Kueue's Workloads, read to say in a queued FineTuneJob's status what Kueue decided. Started only
  // when the cluster serves the Kueue API (discovered in start()): without Kueue there is nothing to watch.
  const workloads = new Informer<Workload & Obj>(kc, {
    name: 'workloads',
    namespaces,
    log,
    path: (n) => `/apis/${KUEUE_GROUP}/${KUEUE_VERSION}${ns(n)}/${WORKLOADS}`,
    list: (n) =>
      (n
        ? customObjects.listNamespacedCustomObject({ group: KUEUE_GROUP, version: KUEUE_VERSION, namespace: n, plural: WORKLOADS })
        : customObjects.listClusterCustomObject({ group: KUEUE_GROUP, version: KUEUE_VERSION, plural: WORKLOADS })) as Promise<KubernetesListObject<Workload & Obj>>,
  });
  let kueueServed = false;
  const apis = kc.makeApiClient(ApisApi);
  /** Whether the API server serves kueue.x-k8s.io/v1beta2; retried with back-off while discovery fails. */
  async function discoverKueue(): Promise<boolean> {
    const backoff = new ExponentialBackoff(500, 30_000);
    for (;;) {
      try {
        const { groups } = await apis.getAPIVersions();
        return groups.some((g) => g.name === KUEUE_GROUP && g.versions.some((v) => v.version === KUEUE_VERSION));
      } catch (err) {
        const delay = backoff.when('discovery');
        log.warn({ err: String(err), retryInMs: delay }, 'API discovery failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  // FineTuneJob metrics by namespace and queue, computed from the cache when scraped; every event for the queued-time histogram.
  const metrics = createOperatorMetrics(() => fineTuneJobs.list());
  fineTuneJobs.on((o, event) => metrics.fineTuneJobs.observe(o, event));

  const events = new EventRecorder(core, 'loraplane-operator', log);
  const reconcile = createFineTuneJobReconciler({
    fineTuneJobs,
    jobs,
    pods,
    workloads: { get: (n, name) => (kueueServed ? workloads.get(n, name) : undefined), list: (n) => (kueueServed ? workloads.list(n) : []) },
    batch,
    customObjects,
    events,
    trainer: { image: cfg.TRAINER_IMAGE, serviceAccountName: cfg.TRAINER_SERVICE_ACCOUNT, imagePullPolicy: cfg.TRAINER_IMAGE_PULL_POLICY },
    failedCreate: async (namespace, jobName) => {
      const { items } = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Job,involvedObject.name=${jobName},reason=FailedCreate` });
      const time = (e: (typeof items)[number]) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return items.sort((a, b) => time(a) - time(b)).at(-1)?.message;
    },
    ensureServiceAccount: createServiceAccountEnsurer(core, cfg.TRAINER_SERVICE_ACCOUNT),
    log,
    progressIntervalMs: cfg.PROGRESS_INTERVAL_SECONDS * 1000,
  });
  const controller = new Controller('finetunejob', reconcile, metrics, log, cfg.MAX_CONCURRENT_RECONCILES);

  const enqueueSelf = (o: Obj) => o.metadata?.name && o.metadata.namespace && controller.enqueue({ namespace: o.metadata.namespace, name: o.metadata.name });
  const enqueueOwner = (o: Obj) => {
    const owner = o.metadata?.labels?.[LABEL_FINETUNEJOB];
    if (owner && o.metadata?.namespace) controller.enqueue({ namespace: o.metadata.namespace, name: owner });
  };
  fineTuneJobs.on(enqueueSelf);
  jobs.on(enqueueOwner);
  pods.on(enqueueOwner);
  // A Workload is owned by the trainer Job, which names its FineTuneJob.
  workloads.on((wl) => {
    const jobName = jobNameOf(wl);
    const job = jobName && wl.metadata?.namespace ? jobs.get(wl.metadata.namespace, jobName) : undefined;
    if (job) enqueueOwner(job);
  });

  const adapters = createLoraAdapterController({
    kc,
    namespaces,
    core,
    customObjects,
    fineTuneJobs,
    events,
    metrics,
    verifyPeriodMs: cfg.ADAPTER_VERIFY_PERIOD_SECONDS * 1000,
    allowedEndpoints: cfg.ALLOWED_S3_ENDPOINTS,
    concurrency: cfg.MAX_CONCURRENT_RECONCILES,
    log,
  });

  const informers: Informer<Obj>[] = [fineTuneJobs, jobs, pods, adapters.informer];
  const controllers = [controller, adapters.controller];
  return {
    metrics,
    get synced() {
      return informers.every((i) => i.hasSynced);
    },
    /** Fills the caches, then starts the workers: no reconcile ever sees a half-filled cache. */
    async start(): Promise<void> {
      kueueServed = await discoverKueue();
      if (kueueServed) informers.push(workloads);
      await Promise.all(informers.map((i) => i.start()));
      log.info({ namespaces: namespaces.length ? namespaces : 'all', kueue: kueueServed }, 'caches synced; reconciling');
      controllers.forEach((c) => c.start());
    },
    async stop(): Promise<void> {
      await Promise.all(controllers.map((c) => c.stop()));
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}

// Wires the caches, the work queues and the FineTuneJob and LoraAdapter reconcilers into one runnable unit.
import { BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fineTuneJob, type Phase } from './api/finetunejob.js';
import { GROUP, VERSION } from './api/group.js';
import { FINETUNEJOB } from './api/resources.js';
import type { OperatorConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { Informer } from './controller/informer.js';
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

  const countByPhase = () => {
    const counts = new Map<Phase, number>();
    for (const obj of fineTuneJobs.list()) {
      const phase = fineTuneJob.shape.status.safeParse((obj as { status?: unknown }).status).data?.phase ?? 'Pending';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    return counts;
  };
  const metrics = createOperatorMetrics(countByPhase);

  const events = new EventRecorder(core, 'loraplane-operator', log);
  const reconcile = createFineTuneJobReconciler({
    fineTuneJobs,
    jobs,
    pods,
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

  const informers = [fineTuneJobs, jobs, pods, adapters.informer];
  const controllers = [controller, adapters.controller];
  return {
    metrics,
    get synced() {
      return informers.every((i) => i.hasSynced);
    },
    /** Fills the caches, then starts the workers: no reconcile ever sees a half-filled cache. */
    async start(): Promise<void> {
      await Promise.all(informers.map((i) => i.start()));
      log.info({ namespaces: namespaces.length ? namespaces : 'all' }, 'caches synced; reconciling');
      controllers.forEach((c) => c.start());
    },
    async stop(): Promise<void> {
      await Promise.all(controllers.map((c) => c.stop()));
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}

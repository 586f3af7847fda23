// Wires the shared FineTuneJob cache, metrics and event recorder into the FineTuneJob and LoraAdapter
// controllers, and starts and stops them as one unit: every cache filled before any worker runs.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '@loraplane/api/group';
import { FINETUNEJOB } from '@loraplane/api/resources';
import type { OperatorConfig } from './config.js';
import { Informer } from './controller/informer.js';
import { createFineTuneJobController } from './finetunejob/controller.js';
import { EventRecorder } from './kube/events.js';
import { createLoraAdapterController } from './loraadapter/controller.js';
import { createOperatorMetrics } from './ops/metrics.js';

export function createOperator(kc: KubeConfig, cfg: OperatorConfig, log: Logger) {
  const core = kc.makeApiClient(CoreV1Api);
  const customObjects = kc.makeApiClient(CustomObjectsApi);
  const namespaces = cfg.WATCH_NAMESPACES;
  const ns = (n: string | undefined) => (n ? `/namespaces/${n}` : '');

  // Read by both controllers: the FineTuneJob one reconciles them, the LoraAdapter one resolves `source.fineTuneJob`.
  const fineTuneJobs = new Informer<KubernetesObject>(kc, {
    name: 'finetunejobs',
    namespaces,
    log,
    path: (n) => `/apis/${GROUP}/${VERSION}${ns(n)}/${FINETUNEJOB.plural}`,
    list: (n) =>
      (n
        ? customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: n, plural: FINETUNEJOB.plural })
        : customObjects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: FINETUNEJOB.plural })) as Promise<
        KubernetesListObject<KubernetesObject>
      >,
  });

  // FineTuneJob metrics by namespace and queue, computed from the cache when scraped; every event for the queued-time histogram.
  const metrics = createOperatorMetrics(() => fineTuneJobs.list());
  fineTuneJobs.on((o, event) => metrics.fineTuneJobs.observe(o, event));

  const events = new EventRecorder(core, 'loraplane-operator', log);
  const fineTunes = createFineTuneJobController({
    kc,
    namespaces,
    core,
    customObjects,
    fineTuneJobs,
    events,
    metrics,
    trainer: {
      image: cfg.TRAINER_IMAGE,
      serviceAccountName: cfg.TRAINER_SERVICE_ACCOUNT,
      imagePullPolicy: cfg.TRAINER_IMAGE_PULL_POLICY,
      rendezvousTimeoutSeconds: cfg.TRAINER_RENDEZVOUS_TIMEOUT_SECONDS,
    },
    progressIntervalMs: cfg.PROGRESS_INTERVAL_SECONDS * 1000,
    concurrency: cfg.MAX_CONCURRENT_RECONCILES,
    log,
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

  const controllers = [fineTunes, adapters];
  const informers = () => [fineTuneJobs, ...controllers.flatMap((c) => c.informers)];
  return {
    metrics,
    get synced() {
      return informers().every((i) => i.hasSynced);
    },
    /** Fills the caches, then starts the workers: no reconcile ever sees a half-filled cache. */
    async start(): Promise<void> {
      const kueue = await fineTunes.discoverKueue();
      await Promise.all(informers().map((i) => i.start()));
      log.info({ namespaces: namespaces.length ? namespaces : 'all', kueue }, 'caches synced; reconciling');
      for (const c of controllers) c.controller.start();
    },
    /** Stops the workers (aborting the reconciles in flight), then the caches. */
    async stop(): Promise<void> {
      await Promise.all(controllers.map((c) => c.controller.stop()));
      await Promise.all(informers().map((i) => i.stop()));
      await events.flush();
    },
  };
}

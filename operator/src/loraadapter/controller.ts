// Wires the LoraAdapter informer, the reconciler and its work queue. A FineTuneJob's changes reach
// the adapters whose source names it, so an adapter waiting for its job is checked once the job ends.
import {
  ApiException,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '@loraplane/api/group';
import { LORAADAPTER } from '@loraplane/api/resources';
import type { CacheReader } from '../controller/cache.js';
import { Controller } from '../controller/controller.js';
import { Informer, type InformerLifecycle } from '../controller/informer.js';
import type { EventRecorder } from '../kube/events.js';
import type { OperatorMetrics } from '../ops/metrics.js';
import { endpointPolicy } from './endpoints.js';
import { createAdapterMetrics } from './metrics.js';
import { createLoraAdapterReconciler } from './reconciler.js';

type Obj = KubernetesObject & { spec?: { source?: { fineTuneJob?: { name?: string } } }; status?: unknown };

export interface LoraAdapterControllerOptions {
  kc: KubeConfig;
  namespaces: string[];
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
  /** The operator's FineTuneJob cache: read to resolve `source.fineTuneJob`, watched to recheck its adapters. */
  fineTuneJobs: CacheReader<unknown> & { on(handler: (job: KubernetesObject) => void): void };
  events: EventRecorder;
  metrics: OperatorMetrics;
  verifyPeriodMs: number;
  /** S3 endpoints the operator may connect to (besides AWS S3, for a location without one). */
  allowedEndpoints: readonly string[];
  concurrency: number;
  log: Logger;
}

export function createLoraAdapterController(o: LoraAdapterControllerOptions) {
  const ns = (n: string | undefined) => (n ? `/namespaces/${n}` : '');
  const adapters = new Informer<Obj>(o.kc, {
    name: 'loraadapters',
    namespaces: o.namespaces,
    log: o.log,
    path: (n) => `/apis/${GROUP}/${VERSION}${ns(n)}/${LORAADAPTER.plural}`,
    list: (n) =>
      (n
        ? o.customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: n, plural: LORAADAPTER.plural })
        : o.customObjects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: LORAADAPTER.plural })) as Promise<KubernetesListObject<Obj>>,
  });

  const reconcile = createLoraAdapterReconciler({
    adapters,
    fineTuneJobs: o.fineTuneJobs,
    customObjects: o.customObjects,
    readSecret: async (namespace, name) => {
      try {
        return await o.core.readNamespacedSecret({ namespace, name });
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    endpoints: endpointPolicy(o.allowedEndpoints),
    events: o.events,
    metrics: createAdapterMetrics(o.metrics.registry, () => adapters.list().map((a) => a.status)),
    verifyPeriodMs: o.verifyPeriodMs,
    log: o.log.child({ controller: 'loraadapter' }),
  });
  const controller = new Controller('loraadapter', reconcile, o.metrics, o.log, o.concurrency);

  adapters.on((a) => {
    if (a.metadata?.name && a.metadata.namespace) controller.enqueue({ namespace: a.metadata.namespace, name: a.metadata.name });
  });
  o.fineTuneJobs.on((job) => {
    const namespace = job.metadata?.namespace;
    if (!namespace) return;
    for (const a of adapters.list(namespace))
      if (a.spec?.source?.fineTuneJob?.name === job.metadata?.name) controller.enqueue({ namespace, name: a.metadata!.name! });
  });

  /** The caches to fill before the controller starts. */
  const informers: InformerLifecycle[] = [adapters];
  return { controller, informers };
}

import type { BatchV1Api, CustomObjectsApi, V1Job, V1Pod } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TRAINER_METRICS } from '@loraplane/api/trainer-metrics';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import type { CacheReader } from '../controller/cache.js';
import { Controller } from '../controller/controller.js';
import type { EventRecorder } from '../kube/events.js';
import { createOperatorMetrics } from '../ops/metrics.js';
import { LABEL_JOB_NAME, trainerJobName } from './naming.js';
import { createFineTuneJobReconciler } from './reconciler.js';

const cache = <T>(items: Map<string, T>): CacheReader<T> => ({
  get: (ns, name) => items.get(`${ns}/${name}`),
  list: () => [...items.values()],
});

/** The reconciler of a FineTuneJob whose trainer pod is running and serves /metrics on 127.0.0.1:port. */
function runningTrainer(port: number, now: () => Date) {
  const ftj = exampleFineTuneJob();
  const { namespace, name, uid } = ftj.metadata as { namespace: string; name: string; uid: string };
  const jobName = trainerJobName(name, uid);
  const job: V1Job = {
    metadata: { name: jobName, ownerReferences: [{ apiVersion: 'v1', kind: 'FineTuneJob', name, uid }] },
    spec: {
      template: {},
      backoffLimit: ftj.spec.backoffLimit,
      activeDeadlineSeconds: ftj.spec.activeDeadlineSeconds,
      ttlSecondsAfterFinished: ftj.spec.ttlSecondsAfterFinished,
    },
    status: { active: 1 },
  };
  const pod: V1Pod = {
    metadata: { name: 'p-1', labels: { [LABEL_JOB_NAME]: jobName } },
    spec: { nodeName: 'n', containers: [{ name: 'trainer', ports: [{ name: 'metrics', containerPort: port }] }] },
    status: { phase: 'Running', podIP: '127.0.0.1' },
  };
  const stored = new Map<string, unknown>([[`${namespace}/${name}`, ftj]]);
  let statusWrites = 0;
  const reconcile = createFineTuneJobReconciler({
    fineTuneJobs: cache(stored),
    jobs: cache(new Map([[`${namespace}/${jobName}`, job]])),
    pods: cache(new Map([['p-1', pod]])),
    batch: {} as BatchV1Api,
    customObjects: {
      // A status write comes back as the next reconcile's object, as the watch brings it.
      patchNamespacedCustomObjectStatus: async ({ body }: { body: { status: unknown } }) => {
        statusWrites += 1;
        stored.set(`${namespace}/${name}`, { ...ftj, status: body.status });
      },
    } as unknown as CustomObjectsApi,
    events: { record: () => {} } as unknown as EventRecorder,
    trainer: { image: 'img', serviceAccountName: 'sa', imagePullPolicy: 'IfNotPresent' },
    failedCreate: () => undefined,
    ensureServiceAccount: async () => {},
    ensureService: async () => {},
    log: pino({ level: 'silent' }),
    progressIntervalMs: 10_000,
    now,
  });
  return { reconcile, key: { namespace, name }, statusWrites: () => statusWrites };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('FineTuneJob reconciler progress', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('scrapes a running trainer at most once per progress interval, however often it reconciles', async () => {
    let scrapes = 0;
    server = createServer((_req, res) => {
      scrapes += 1;
      res.end(`${TRAINER_METRICS.totalSteps.name} 100\n${TRAINER_METRICS.step.name} 10\n`);
    });
    let t = new Date('2026-11-29T10:00:00Z');
    const { reconcile, key } = runningTrainer(await listen(server), () => t);
    const { signal } = new AbortController();

    expect(await reconcile(key, signal)).toEqual({ requeueAfterMs: 10_000 });
    expect(scrapes).toBe(1);
    t = new Date(t.getTime() + 4_000);
    expect(await reconcile(key, signal)).toEqual({ requeueAfterMs: 6_000 });
    expect(scrapes).toBe(1);
    t = new Date(t.getTime() + 6_000);
    await reconcile(key, signal);
    expect(scrapes).toBe(2);
  });

  it('gives up a scrape the trainer never answers as soon as the controller stops, and writes no status', async () => {
    let scraped!: () => void;
    const scraping = new Promise<void>((resolve) => (scraped = resolve));
    let dropped!: () => void;
    const hungUp = new Promise<void>((resolve) => (dropped = resolve));
    // Takes the request and never answers; the client hanging up is the scrape seeing the abort.
    server = createServer((req) => {
      req.socket.on('close', dropped);
      scraped();
    });
    const { reconcile, key, statusWrites } = runningTrainer(await listen(server), () => new Date());
    const controller = new Controller(
      'finetunejob',
      reconcile,
      createOperatorMetrics(() => []),
      pino({ level: 'silent' }),
      1,
    );
    controller.start();
    controller.enqueue(key);
    await scraping;

    const t0 = performance.now();
    await controller.stop();
    // Well under the scrape's own timeout (2 s).
    expect(performance.now() - t0).toBeLessThan(1_000);
    await hungUp;
    expect(statusWrites()).toBe(0);
  });
});

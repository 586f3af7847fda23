import type { BatchV1Api, CustomObjectsApi, V1Job, V1Pod } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TRAINER_METRICS } from '@loraplane/api/trainer-metrics';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import type { EventRecorder } from '../kube/events.js';
import { LABEL_JOB_NAME, trainerJobName } from './naming.js';
import { createFineTuneJobReconciler, type Cache } from './reconciler.js';

const cache = <T>(items: Map<string, T>): Cache<T> => ({
  get: (ns, name) => items.get(`${ns}/${name}`),
  list: () => [...items.values()],
});

describe('FineTuneJob reconciler progress', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('scrapes a running trainer at most once per progress interval, however often it reconciles', async () => {
    let scrapes = 0;
    server = createServer((_req, res) => {
      scrapes += 1;
      res.end(`${TRAINER_METRICS.totalSteps.name} 100\n${TRAINER_METRICS.step.name} 10\n`);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };

    const ftj = exampleFineTuneJob();
    const { namespace, name, uid } = ftj.metadata as { namespace: string; name: string; uid: string };
    const jobName = trainerJobName(name, uid);
    const job: V1Job = { metadata: { name: jobName, ownerReferences: [{ apiVersion: 'v1', kind: 'FineTuneJob', name, uid }] }, spec: { template: {}, backoffLimit: ftj.spec.backoffLimit, activeDeadlineSeconds: ftj.spec.activeDeadlineSeconds, ttlSecondsAfterFinished: ftj.spec.ttlSecondsAfterFinished }, status: { active: 1 } };
    const pod: V1Pod = {
      metadata: { name: 'p-1', labels: { [LABEL_JOB_NAME]: jobName } },
      spec: { nodeName: 'n', containers: [{ name: 'trainer', ports: [{ name: 'metrics', containerPort: port }] }] },
      status: { phase: 'Running', podIP: '127.0.0.1' },
    };
    const stored = new Map<string, unknown>([[`${namespace}/${name}`, ftj]]);
    let t = new Date('2026-11-29T10:00:00Z');
    const reconcile = createFineTuneJobReconciler({
      fineTuneJobs: cache(stored),
      jobs: cache(new Map([[`${namespace}/${jobName}`, job]])),
      pods: cache(new Map([['p-1', pod]])),
      batch: {} as BatchV1Api,
      customObjects: {
        // A status write comes back as the next reconcile's object, as the watch brings it.
        patchNamespacedCustomObjectStatus: async ({ body }: { body: { status: unknown } }) => void stored.set(`${namespace}/${name}`, { ...ftj, status: body.status }),
      } as unknown as CustomObjectsApi,
      events: { record: async () => {} } as unknown as EventRecorder,
      trainer: { image: 'img', serviceAccountName: 'sa', imagePullPolicy: 'IfNotPresent' },
      failedCreate: async () => undefined,
      ensureServiceAccount: async () => {},
      log: pino({ level: 'silent' }),
      progressIntervalMs: 10_000,
      now: () => t,
    });
    const key = { namespace, name };

    expect(await reconcile(key)).toEqual({ requeueAfterMs: 10_000 });
    expect(scrapes).toBe(1);
    t = new Date(t.getTime() + 4_000);
    expect(await reconcile(key)).toEqual({ requeueAfterMs: 6_000 });
    expect(scrapes).toBe(1);
    t = new Date(t.getTime() + 6_000);
    await reconcile(key);
    expect(scrapes).toBe(2);
  });
});

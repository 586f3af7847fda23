import type { CustomObjectsApi } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { secretKey } from '@loraplane/api/trainer-contract';
import type { CacheReader } from '../controller/cache.js';
import { Controller } from '../controller/controller.js';
import type { EventRecorder } from '../kube/events.js';
import { createOperatorMetrics } from '../ops/metrics.js';
import { endpointPolicy } from './endpoints.js';
import { createAdapterMetrics } from './metrics.js';
import { createLoraAdapterReconciler } from './reconciler.js';
import { adapter } from './test-helpers.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('LoraAdapter reconciler', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('gives up a storage check the S3 server never answers as soon as the controller stops, and writes nothing', async () => {
    let requested!: () => void;
    const checking = new Promise<void>((resolve) => (requested = resolve));
    let dropped!: () => void;
    const hungUp = new Promise<void>((resolve) => (dropped = resolve));
    // Takes the request and never answers; the client hanging up is the check seeing the abort.
    server = createServer((req) => {
      req.socket.on('close', dropped);
      requested();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const a = adapter((raw) => {
      raw.spec.source = { s3: { bucket: 'adapters', prefix: 'support/v1', endpoint, credentialsSecret: { name: 's3-credentials' } } };
    });
    const adapters: CacheReader<unknown> = { get: () => a, list: () => [a] };
    let writes = 0;
    const reconcile = createLoraAdapterReconciler({
      adapters,
      fineTuneJobs: { get: () => undefined, list: () => [] },
      customObjects: {
        patchNamespacedCustomObjectStatus: async () => {
          writes += 1;
        },
        patchNamespacedCustomObject: async () => {
          writes += 1;
        },
      } as unknown as CustomObjectsApi,
      readSecret: async () => ({ data: { [secretKey('accessKeyId')]: b64('id'), [secretKey('secretAccessKey')]: b64('secret') } }),
      endpoints: endpointPolicy([endpoint]),
      events: {
        record: () => {
          writes += 1;
        },
      } as unknown as EventRecorder,
      metrics: createAdapterMetrics(new Registry(), () => []),
      verifyPeriodMs: 60_000,
      log: pino({ level: 'silent' }),
    });
    const controller = new Controller(
      'loraadapter',
      reconcile,
      createOperatorMetrics(() => []),
      pino({ level: 'silent' }),
      1,
    );
    controller.start();
    controller.enqueue({ namespace: a.metadata.namespace, name: a.metadata.name });
    await checking;

    const t0 = performance.now();
    await controller.stop();
    // Well under the S3 client's request timeout (30 s).
    expect(performance.now() - t0).toBeLessThan(1_000);
    await hungUp;
    expect(writes).toBe(0);
  });
});

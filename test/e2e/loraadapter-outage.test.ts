// A storage outage is not drift: the adapter reaches the real S3 server through a TCP relay in this
// process; closing the relay makes every request fail with ECONNREFUSED (a real network failure).
// The reconciler retries with back-off and says so in Reconciling, Ready never flips (its transition
// time does not move), and once the relay is back the adapter is verified again.
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { Relay } from '../lib/relay.js';
import { client, freshBucket, server } from '../storage/storage.js';
import { OPERATOR_NAMESPACE, freePort, startOperator, type OperatorProcess } from './support/operator-process.js';
import { adapterEventsOnce, condition, declareAdapter, getAdapter, waitForReady } from './support/lora-adapters.js';
import { installCrds } from './support/resources.js';

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let operator: OperatorProcess;
let s3: S3Client;
let bucket: string;
let work: string;
let relay: Relay;

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  s3 = client();
  bucket = await freshBucket(s3, 'outage');
  work = await mkdtemp(join(tmpdir(), 'e2e-outage-'));
  relay = new Relay(await freePort(), new URL(server().endpoint));
  await relay.open();
  operator = await startOperator(kubeconfig(), 'operator-outage', {
    ADAPTER_VERIFY_PERIOD_SECONDS: '1',
    ALLOWED_S3_ENDPOINTS: `${server().endpoint},http://127.0.0.1:${relay.port}`,
  });
});

afterAll(async () => {
  await operator?.stop();
  await relay?.close();
  s3?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('storage outage', () => {
  it('keeps Ready while the storage is unreachable, reports StorageUnreachable, and verifies again once it is back', async () => {
    const { ns } = await declareAdapter({ s3, bucket, work }, 'steady', { endpoint: `http://127.0.0.1:${relay.port}` });
    const ready = await waitForReady(ns, 'steady', 'True', 'Verified');
    const readySince = condition(ready, 'Ready')!.lastTransitionTime;
    const driftBefore = await operator.metric('loraplane_adapter_drift_total');

    await relay.close();
    const down = await waitFor(
      async () => {
        const a = await getAdapter(ns, 'steady');
        return condition(a, 'Reconciling')?.reason === 'StorageUnreachable' ? a : undefined;
      },
      { timeoutMs: 30_000, description: 'Reconciling=True (StorageUnreachable)' },
    );
    expect(condition(down, 'Reconciling')).toMatchObject({ status: 'True', message: expect.stringContaining('ECONNREFUSED') });
    expect(down.status!.phase).toBe('Ready');
    expect(condition(down, 'Ready')).toMatchObject({ status: 'True', reason: 'Verified', lastTransitionTime: readySince });
    // The retries go on (the error counter climbs) and Ready stays as it was throughout.
    const errors = await operator.metric('loraplane_operator_reconcile_errors_total', 'controller="loraadapter"');
    await waitFor(async () => (await operator.metric('loraplane_operator_reconcile_errors_total', 'controller="loraadapter"')) >= errors + 2, {
      timeoutMs: 30_000,
      description: 'two more failed retries',
    });
    const still = await getAdapter(ns, 'steady');
    expect(still.status!.phase).toBe('Ready');
    expect(condition(still, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: readySince });

    await relay.open();
    const back = await waitFor(
      async () => {
        const a = await getAdapter(ns, 'steady');
        return condition(a, 'Reconciling')?.status === 'False' && a.status!.verifiedAt! > ready.status!.verifiedAt! ? a : undefined;
      },
      { timeoutMs: 90_000, description: 'verified again after the outage' },
    );
    expect(condition(back, 'Ready')).toMatchObject({ status: 'True', reason: 'Verified', lastTransitionTime: readySince });
    expect((await adapterEventsOnce(ns, 'steady', 'Verified', 2)).map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'Verified'],
      ['Normal', 'Verified'],
      ['Warning', 'StorageUnreachable'],
    ]);
    expect(await operator.metric('loraplane_adapter_drift_total')).toBe(driftBefore);
  });
});

// reclaimPolicy on the real control plane and S3 server: Delete holds the adapter with the
// loraplane.io/reclaim finalizer until the verified manifest and the files it lists are gone,
// and touches nothing outside it; Retain carries no finalizer and leaves every object.
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../cluster/cluster.js';
import { client, freshBucket } from '../storage/storage.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { SECRET, adapterEvents, adapterEventsOnce, applySecret, declareAdapter, getAdapter, listKeys, waitForReady } from './support/lora-adapters.js';
import { installCrds, mustKubectl } from './support/resources.js';

const kubeconfig = () => process.env.LORAPLANE_E2E_KUBECONFIG!;
let operator: OperatorProcess;
let s3: S3Client;
let bucket: string;
let work: string;

beforeAll(async () => {
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  s3 = client();
  bucket = await freshBucket(s3, 'reclaim');
  work = await mkdtemp(join(tmpdir(), 'e2e-reclaim-'));
  operator = await startOperator(kubeconfig(), 'operator-reclaim', { ADAPTER_VERIFY_PERIOD_SECONDS: '2' });
});

afterAll(async () => {
  await operator?.stop();
  s3?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('reclaimPolicy', () => {
  it('Delete: kubectl delete lora removes the manifest and the files it lists, and nothing of another adapter', async () => {
    const st = { s3, bucket, work };
    const neighbour = await declareAdapter(st, 'neighbour');
    const { ns, prefix, uploaded } = await declareAdapter(st, 'doomed', { reclaimPolicy: 'Delete' });
    await waitForReady(ns, 'doomed', 'True', 'Verified');
    expect((await getAdapter(ns, 'doomed')).metadata.finalizers).toEqual(['loraplane.io/reclaim']);
    expect(await listKeys(s3, bucket, `${prefix}/`)).toEqual([...uploaded.manifest.files.map((f) => `${prefix}/${f.path}`), `${prefix}/manifest.json`].sort());

    await mustKubectl(['delete', 'lora', 'doomed', '-n', ns, '--wait=true', '--timeout=60s']);
    expect(await listKeys(s3, bucket, `${prefix}/`)).toEqual([]);
    expect((await listKeys(s3, bucket, `${neighbour.prefix}/`)).length).toBe(neighbour.uploaded.manifest.files.length + 1);
    const reclaimed = (await adapterEventsOnce(ns, 'doomed', 'Reclaimed')).find((e) => e.reason === 'Reclaimed');
    expect(reclaimed?.message).toBe(
      `deleted the adapter's ${uploaded.manifest.files.length + 1} objects under s3://${bucket}/${prefix}/: its manifest and the files it lists (reclaimPolicy Delete)`,
    );
    expect(await operator.metric('loraplane_adapter_reclaims_total', 'result="deleted"')).toBe(1);
  });

  it('Retain: no finalizer; kubectl delete lora leaves every object', async () => {
    const { ns, prefix, uploaded } = await declareAdapter({ s3, bucket, work }, 'kept');
    await waitForReady(ns, 'kept', 'True', 'Verified');
    expect((await getAdapter(ns, 'kept')).metadata.finalizers).toBeUndefined();
    await mustKubectl(['delete', 'lora', 'kept', '-n', ns, '--wait=true', '--timeout=60s']);
    expect(await listKeys(s3, bucket, `${prefix}/`)).toEqual([...uploaded.manifest.files.map((f) => `${prefix}/${f.path}`), `${prefix}/manifest.json`].sort());
  });

  it('switching Delete to Retain releases the finalizer, and deletion then keeps the objects', async () => {
    const { ns, prefix } = await declareAdapter({ s3, bucket, work }, 'relented', { reclaimPolicy: 'Delete' });
    await waitForReady(ns, 'relented', 'True', 'Verified');
    expect((await getAdapter(ns, 'relented')).metadata.finalizers).toEqual(['loraplane.io/reclaim']);
    await mustKubectl(['patch', 'lora', 'relented', '-n', ns, '--type', 'merge', '-p', '{"spec":{"reclaimPolicy":"Retain"}}']);
    await waitForFinalizers(ns, 'relented', undefined);
    await mustKubectl(['delete', 'lora', 'relented', '-n', ns, '--wait=true', '--timeout=60s']);
    expect((await listKeys(s3, bucket, `${prefix}/`)).length).toBe(3);
  });
});

describe('reclaim without credentials', () => {
  it('keeps the finalizer and the objects (ReclaimFailed) until the Secret is back, then deletes them', async () => {
    const { ns, prefix } = await declareAdapter({ s3, bucket, work }, 'stuck', { reclaimPolicy: 'Delete' });
    await waitForReady(ns, 'stuck', 'True', 'Verified');
    await mustKubectl(['delete', 'secret', SECRET, '-n', ns]);
    await mustKubectl(['delete', 'lora', 'stuck', '-n', ns, '--wait=false']);
    const failed = await waitFor(async () => (await adapterEvents(ns, 'stuck')).find((e) => e.reason === 'ReclaimFailed'), {
      timeoutMs: 20_000,
      description: 'a ReclaimFailed event',
    });
    expect(failed.message).toBe(
      `Secret ${ns}/${SECRET} (the location's credentialsSecret) does not exist; the adapter's objects under s3://${bucket}/${prefix}/ and the finalizer stay until it works (or the finalizer is removed)`,
    );
    expect((await getAdapter(ns, 'stuck')).metadata.finalizers).toEqual(['loraplane.io/reclaim']);
    expect((await listKeys(s3, bucket, `${prefix}/`)).length).toBe(3);

    await applySecret(ns);
    await waitFor(async () => (await kubectl(['get', 'lora', 'stuck', '-n', ns])).code !== 0, { timeoutMs: 30_000, description: 'the adapter gone' });
    expect(await listKeys(s3, bucket, `${prefix}/`)).toEqual([]);
  });
});

async function waitForFinalizers(ns: string, name: string, want: string[] | undefined): Promise<void> {
  await waitFor(async () => JSON.stringify((await getAdapter(ns, name)).metadata.finalizers) === JSON.stringify(want), {
    timeoutMs: 20_000,
    description: `finalizers of ${ns}/${name} to be ${JSON.stringify(want)}`,
  });
}

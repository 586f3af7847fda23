// Helpers for the LoraAdapter tests: a real PEFT adapter (the reference goldens' weights, its config
// naming the base model under test) uploaded with the storage layer (files, then manifest.json), the
// S3 Secret, LoraAdapter documents pointing at the test S3 server, and reads of what they show.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Location } from '@loraplane/api/common';
import { uploadDirectory, type UploadedDirectory } from '@loraplane/storage/upload';
import { waitFor } from '../../cluster/cluster.js';
import { location, server } from '../../storage/storage.js';
import { freshNamespace, getJson, mustKubectl, toYaml, type Json } from './resources.js';

const GOLDEN = join(import.meta.dirname, '../../reference/goldens/llama/final_adapter');
export const BASE_MODEL = 'meta-llama/Llama-3.2-3B-Instruct';
export const SECRET = 's3-credentials';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}
export interface Adapter {
  metadata: { name: string; finalizers?: string[] };
  status?: Json & { phase?: string; digest?: string; verifiedAt?: string; conditions?: Condition[] };
}

/** The golden adapter in `dir`, its config naming `baseModel`; returns the weights' bytes and sha256:<hex>. */
export async function writeAdapter(dir: string, baseModel = BASE_MODEL): Promise<{ weights: Buffer; digest: string }> {
  await mkdir(dir, { recursive: true });
  const weights = await readFile(join(GOLDEN, 'adapter_model.safetensors'));
  const config = JSON.parse(await readFile(join(GOLDEN, 'adapter_config.json'), 'utf8')) as Json;
  await writeFile(join(dir, 'adapter_model.safetensors'), weights);
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: baseModel }, null, 2));
  return { weights, digest: sha256(weights) };
}

export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function uploadAdapter(s3: S3Client, bucket: string, prefix: string, dir: string): Promise<UploadedDirectory> {
  return uploadDirectory(s3, bucket, prefix, dir, { stateDir: join(dir, '..', '.upload-state') });
}

export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

/** The test server's keys in a Secret with the trainer contract's key names. */
export async function applySecret(ns: string, name = SECRET): Promise<void> {
  const s = server();
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    stringData: { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey },
  };
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(secret));
}

/** A location on the test server whose credentials are the Secret `secret`. */
export const s3At = (bucket: string, prefix: string, secret = SECRET, endpoint?: string): S3Location => ({
  ...location(bucket, prefix),
  ...(endpoint !== undefined ? { endpoint } : {}),
  credentialsSecret: { name: secret },
});

export async function applyAdapter(
  ns: string,
  name: string,
  source: { s3: S3Location } | { fineTuneJob: { name: string } },
  opts: { baseModel?: string; reclaimPolicy?: 'Retain' | 'Delete' } = {},
): Promise<void> {
  const doc = {
    apiVersion: 'loraplane.io/v1alpha1',
    kind: 'LoraAdapter',
    metadata: { name },
    spec: { baseModel: { name: opts.baseModel ?? BASE_MODEL }, source, reclaimPolicy: opts.reclaimPolicy ?? 'Retain' },
  };
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(doc));
}

export const getAdapter = (ns: string, name: string): Promise<Adapter> => getJson<Adapter>(['get', 'lora', name, '-n', ns]);
export const condition = (a: Adapter, type: string): Condition | undefined => a.status?.conditions?.find((c) => c.type === type);

/** Waits until the adapter's Ready condition has this status and reason. */
export function waitForReady(ns: string, name: string, status: 'True' | 'False', reason: string, timeoutMs = 30_000): Promise<Adapter> {
  return waitFor(
    async () => {
      const a = await getAdapter(ns, name);
      const ready = condition(a, 'Ready');
      return ready?.status === status && ready.reason === reason ? a : undefined;
    },
    { timeoutMs, description: `LoraAdapter ${ns}/${name} Ready=${status} (${reason})` },
  );
}

/** The adapter's events, sorted by type and reason (the API lists them by name; their timestamps have whole seconds). */
/** The adapter's Events once `count` of them have `reason`: the operator records an Event after the status it reports. */
export function adapterEventsOnce(ns: string, name: string, reason: string, count = 1): ReturnType<typeof adapterEvents> {
  return waitFor(
    async () => {
      const events = await adapterEvents(ns, name);
      return events.filter((e) => e.reason === reason).length >= count ? events : undefined;
    },
    { timeoutMs: 30_000, description: `${count} ${reason} Event(s) of LoraAdapter ${ns}/${name}` },
  );
}

export async function adapterEvents(ns: string, name: string): Promise<{ type: string; reason: string; message: string }[]> {
  const list = await getJson<{ items: { type: string; reason: string; message: string }[] }>([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.kind=LoraAdapter,involvedObject.name=${name}`,
  ]);
  const key = (e: { type: string; reason: string }) => `${e.type}/${e.reason}`;
  return list.items.sort((a, b) => key(a).localeCompare(key(b)));
}

export interface Storage {
  s3: S3Client;
  bucket: string;
  /** A local scratch directory for the adapters' files. */
  work: string;
}

/**
 * A fresh namespace with the S3 Secret, the golden adapter uploaded under <namespace>/<name> and a
 * LoraAdapter declaring it (source.s3).
 */
export async function declareAdapter(
  st: Storage,
  name: string,
  opts: { baseModel?: string; reclaimPolicy?: 'Retain' | 'Delete'; endpoint?: string } = {},
): Promise<{ ns: string; prefix: string; weights: Buffer; digest: string; uploaded: UploadedDirectory }> {
  const ns = await freshNamespace('lora');
  await applySecret(ns);
  const prefix = `${ns}/${name}`;
  const dir = join(st.work, ns, name);
  const { weights, digest } = await writeAdapter(dir);
  const uploaded = await uploadAdapter(st.s3, st.bucket, prefix, dir);
  await applyAdapter(ns, name, { s3: s3At(st.bucket, prefix, SECRET, opts.endpoint) }, opts);
  return { ns, prefix, weights, digest, uploaded };
}

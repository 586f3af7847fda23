// Test helpers for loraplane's own resources on the test control plane: CRDs, namespaces, FineTuneJobs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubectl, waitFor, waitForCrds } from '../../cluster/cluster.js';

const repo = join(import.meta.dirname, '../../..');

export type Json = { [key: string]: unknown };

/** Applies crds/ and waits until the API server serves them. */
export async function installCrds(): Promise<void> {
  await mustKubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds')]);
  await waitForCrds(['finetunejobs.loraplane.io', 'loraadapters.loraplane.io']);
}

export async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? undefined : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

let counter = 0;
/** A fresh namespace per test keeps tests independent. */
export async function freshNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${process.pid % 10000}-${Date.now() % 100000}-${counter++}`;
  await mustKubectl(['create', 'namespace', ns]);
  return ns;
}

/** The FineTuneJob from examples/finetune.yaml (the Secret beside it is returned too). */
export function exampleDocs(): { secret: Json; fineTuneJob: Json } {
  const docs = parseAllDocuments(readFileSync(join(repo, 'examples/finetune.yaml'), 'utf8')).map((d) => d.toJS() as Json);
  return { secret: docs.find((d) => d.kind === 'Secret')!, fineTuneJob: docs.find((d) => d.kind === 'FineTuneJob')! };
}

export const toYaml = (obj: unknown): string => stringify(obj);

export async function getJson<T = Json>(args: string[]): Promise<T> {
  return JSON.parse(await mustKubectl([...args, '-o', 'json'])) as T;
}

export interface KubeEvent {
  type: string;
  reason: string;
  message: string;
  involvedObject: { name: string };
}

export async function fineTuneJobEvents(ns: string, name: string): Promise<KubeEvent[]> {
  const { items } = await getJson<{ items: KubeEvent[] }>([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.kind=FineTuneJob,involvedObject.name=${name}`,
  ]);
  return items;
}

/** A FineTuneJob's Events once one has `reason`: the operator records an Event after the status it reports. */
export function fineTuneJobEventsOnce(ns: string, name: string, reason: string): Promise<KubeEvent[]> {
  return waitFor(
    async () => {
      const items = await fineTuneJobEvents(ns, name);
      return items.some((e) => e.reason === reason) ? items : undefined;
    },
    { timeoutMs: 30_000, description: `a ${reason} Event of FineTuneJob ${ns}/${name}` },
  );
}

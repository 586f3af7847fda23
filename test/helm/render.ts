// `helm template` of the chart with given values, as parsed objects.
import { parseAllDocuments, stringify } from 'yaml';
import { CHART_DIR, mustHelm } from './helm.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export const RELEASE = 'lp';
export const RELEASE_NAMESPACE = 'loraplane-system';

export async function renderChart(values: object = {}, namespace = RELEASE_NAMESPACE): Promise<K8sObject[]> {
  const out = await mustHelm(['template', RELEASE, CHART_DIR, '--namespace', namespace, '-f', '-'], { input: stringify(values) });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The one object of a kind (and name, when given); throws when there is not exactly one. */
export function only(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, rendered ${found.length}`);
  return found[0]!;
}

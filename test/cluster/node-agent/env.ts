// A container's environment as the kubelet builds it (kubelet_pods.go makeEnvironmentVariables):
// envFrom first, then env in order (later names win), $(VAR) references expanded against what is
// defined so far; a missing Secret/ConfigMap or key fails with the kubelet's message unless optional.
import type * as k8s from '@kubernetes/client-node';
import type { ConfigSource, KeyValues } from './config-source.js';
import { fieldRefValue, type PodRuntimeInfo, resourceFieldRefValue } from './downward.js';
import { WaitingError } from './errors.js';

const configError = (message: string): WaitingError => new WaitingError('CreateContainerConfigError', message);

/**
 * Kubernetes $(VAR) expansion (third_party/forked/golang/expansion): `$(NAME)` becomes NAME's value
 * when defined and stays literal otherwise; `$$` escapes a `$`.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  return input.replace(/\$\$|\$\(([^)]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return lookup(name ?? '') ?? whole;
  });
}

export async function resolveEnv(pod: k8s.V1Pod, container: k8s.V1Container, source: ConfigSource, info: PodRuntimeInfo): Promise<Map<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env = new Map<string, string>();

  const fetch = async (kind: 'Secret' | 'ConfigMap', name: string, optional: boolean | undefined) => {
    const found: KeyValues | undefined = kind === 'Secret' ? await source.secret(namespace, name) : await source.configMap(namespace, name);
    if (found === undefined && optional !== true) throw configError(`${kind.toLowerCase()} "${name}" not found`);
    return found;
  };

  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (ref === undefined) continue;
    const data = await fetch(from.secretRef !== undefined ? 'Secret' : 'ConfigMap', ref.name ?? '', ref.optional);
    // Keys that are not valid variable names are skipped (the kubelet emits an event for them).
    for (const [k, v] of data ?? []) {
      const key = `${from.prefix ?? ''}${k}`;
      if (/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) env.set(key, v.toString('utf8'));
    }
  }

  for (const e of container.env ?? []) {
    const value = await envValue(pod, container, e, fetch, info, (n) => env.get(n));
    if (value !== undefined) env.set(e.name, value);
  }
  return env;
}

type Fetch = (kind: 'Secret' | 'ConfigMap', name: string, optional: boolean | undefined) => Promise<KeyValues | undefined>;

async function envValue(
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  e: k8s.V1EnvVar,
  fetch: Fetch,
  info: PodRuntimeInfo,
  lookup: (name: string) => string | undefined,
): Promise<string | undefined> {
  const from = e.valueFrom;
  if (from === undefined) return expand(e.value ?? '', lookup);
  const keyRef = from.secretKeyRef ?? from.configMapKeyRef;
  if (keyRef !== undefined) {
    const kind = from.secretKeyRef !== undefined ? 'Secret' : 'ConfigMap';
    const data = await fetch(kind, keyRef.name ?? '', keyRef.optional);
    if (data === undefined) return undefined;
    const v = data.get(keyRef.key);
    if (v === undefined) {
      if (keyRef.optional === true) return undefined;
      throw configError(`couldn't find key ${keyRef.key} in ${kind} ${pod.metadata?.namespace}/${keyRef.name}`);
    }
    return v.toString('utf8');
  }
  if (from.fieldRef !== undefined) return fieldRefValue(pod, from.fieldRef.fieldPath, info);
  if (from.resourceFieldRef !== undefined) return resourceFieldRefValue(container, from.resourceFieldRef, info);
  throw configError(`env ${e.name}: unsupported valueFrom ${Object.keys(from).join(',')}`);
}

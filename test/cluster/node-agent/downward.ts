// The downward API: pod fields and container resources as strings, as the kubelet renders them for
// env fieldRef/resourceFieldRef and downwardAPI volume items.
import type * as k8s from '@kubernetes/client-node';
import { parseQuantity } from './quantity.js';

export interface PodRuntimeInfo {
  podIP: string;
  hostIP: string;
  /** Node allocatable: what limits.* resolve to when the container sets no limit. */
  allocatable: Record<string, string>;
}

const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/;

const formatMap = (m: Record<string, string> | undefined): string =>
  Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m?.[k])}`)
    .join('\n');

export function fieldRefValue(pod: k8s.V1Pod, fieldPath: string, info: PodRuntimeInfo): string {
  const meta = pod.metadata ?? {};
  const byKey = keyed.exec(fieldPath);
  if (byKey !== null) {
    const map = byKey[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[byKey[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return formatMap(meta.labels);
    case 'metadata.annotations':
      return formatMap(meta.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return info.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return info.podIP;
    default:
      throw new Error(`unsupported fieldRef fieldPath ${JSON.stringify(fieldPath)}`);
  }
}

/**
 * limits.cpu → ceil(millicores / divisor millicores); memory and storage → ceil(bytes / divisor).
 * An unset limit reads as the node's allocatable, an unset request as 0, as in the kubelet.
 */
export function resourceFieldRefValue(container: k8s.V1Container, ref: k8s.V1ResourceFieldSelector, info: PodRuntimeInfo): string {
  const [kind, resource] = ref.resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || resource === undefined) {
    throw new Error(`unsupported resourceFieldRef resource ${JSON.stringify(ref.resource)}`);
  }
  const set = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  const raw = set?.[resource] ?? (kind === 'limits' ? info.allocatable[resource] : undefined) ?? '0';
  // The apiserver stores an omitted divisor as "0"; the kubelet reads zero as 1.
  const divisor = parseQuantity(ref.divisor ?? '0') || 1;
  // Round to the quantity's own precision first (millicores for cpu) so 0.1/0.001 is 100, not 100.00000001.
  const value = resource === 'cpu' ? Math.round(parseQuantity(raw) * 1000) / Math.round(divisor * 1000) : parseQuantity(raw) / divisor;
  return String(Math.ceil(value - 1e-9));
}

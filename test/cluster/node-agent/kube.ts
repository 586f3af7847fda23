// API clients and the few request options the agent needs beyond client-node's defaults.
import * as k8s from '@kubernetes/client-node';

export interface Kube {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  coordination: k8s.CoordinationV1Api;
  version: k8s.VersionApi;
}

export function connect(): Kube {
  const config = new k8s.KubeConfig();
  config.loadFromDefault();
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    coordination: config.makeApiClient(k8s.CoordinationV1Api),
    version: config.makeApiClient(k8s.VersionApi),
  };
}

// client-node sends patches as JSON Patch unless told otherwise. Strategic merge is what the
// kubelet uses for status: conditions merge by type, so the scheduler's PodScheduled stays.
export const strategicMerge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
// Server-side apply creates or updates in one call (Node registration, Lease renewal); the body is
// JSON, which is YAML.
export const serverSideApply = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
export const FIELD_MANAGER = 'loraplane-node-agent';

export function httpStatus(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  if (typeof err === 'object' && err !== null && 'statusCode' in err && typeof err.statusCode === 'number') {
    return err.statusCode;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => httpStatus(err) === 404;

export function errorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    // The body is the apiserver's Status, raw or parsed depending on the call.
    let status: unknown = err.body;
    if (typeof status === 'string') {
      try {
        status = JSON.parse(status);
      } catch {
        return `HTTP ${err.code}: ${status}`;
      }
    }
    if (typeof status === 'object' && status !== null && 'message' in status) {
      return `HTTP ${err.code}: ${String(status.message)}`;
    }
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** RFC 3339 with seconds precision, as metav1.Time serializes. */
export const rfc3339 = (d: Date = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** RFC 3339 with microseconds, as metav1.MicroTime serializes (Lease renewTime). */
export const rfc3339Micro = (d: Date = new Date()): string => d.toISOString().replace(/Z$/, '000Z');

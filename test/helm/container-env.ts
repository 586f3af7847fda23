// A Deployment container's environment as the kubelet would give it to a pod, for running the same
// process outside the cluster.
import type { V1Deployment } from '@kubernetes/client-node';

export interface PodIdentity {
  /** What metadata.name resolves to. */
  podName: string;
  /** What metadata.namespace resolves to. */
  podNamespace: string;
}

/** Literal values and the downward API's pod name and namespace; any other source throws. */
export function containerEnv(deployment: V1Deployment, container: string, pod: PodIdentity): Record<string, string> {
  const spec = deployment.spec?.template.spec?.containers.find((c) => c.name === container);
  if (spec === undefined) throw new Error(`deployment ${deployment.metadata?.name} has no container ${container}`);
  const fields: Record<string, string> = { 'metadata.name': pod.podName, 'metadata.namespace': pod.podNamespace };
  const env: Record<string, string> = {};
  for (const v of spec.env ?? []) {
    const field = v.valueFrom?.fieldRef?.fieldPath;
    if (v.valueFrom === undefined) env[v.name] = v.value ?? '';
    else if (field !== undefined && field in fields) env[v.name] = fields[field]!;
    else throw new Error(`env ${v.name}: only values and fieldRef metadata.name/metadata.namespace are resolved, not ${JSON.stringify(v.valueFrom)}`);
  }
  return env;
}

// A parsed LoraAdapter for unit tests, as the API server would store it.
import { loraAdapter, type LoraAdapter } from '@loraplane/api/loraadapter';

export const BASE_MODEL = 'meta-llama/Llama-3.2-3B-Instruct';
export const DIGEST = `sha256:${'a'.repeat(64)}`;

export function adapter(
  edit: (raw: { metadata: Record<string, unknown>; spec: Record<string, unknown>; status?: Record<string, unknown> }) => void = () => {},
): LoraAdapter {
  const raw = {
    apiVersion: 'loraplane.io/v1alpha1',
    kind: 'LoraAdapter',
    metadata: { name: 'support-v1', namespace: 'team-a', uid: 'u-1', generation: 1, resourceVersion: '10' },
    spec: {
      baseModel: { name: BASE_MODEL },
      source: { s3: { bucket: 'adapters', prefix: 'support/v1', endpoint: 'http://s3.storage:9000', credentialsSecret: { name: 's3-credentials' } } },
      reclaimPolicy: 'Retain',
    } as Record<string, unknown>,
  };
  edit(raw);
  return loraAdapter.parse(raw);
}

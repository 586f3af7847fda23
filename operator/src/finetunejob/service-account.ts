// The trainer pods' ServiceAccount. A pod that names a missing ServiceAccount is refused by admission,
// so the operator makes the default one in each namespace it runs trainers in. It carries no API
// rights and mounts no token: the trainer reports through its termination message and /metrics.
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGED_BY } from './naming.js';

export function createServiceAccountEnsurer(core: CoreV1Api, name: string) {
  const ensured = new Set<string>();
  return async function ensure(namespace: string): Promise<void> {
    if (ensured.has(namespace)) return;
    try {
      await core.createNamespacedServiceAccount({
        namespace,
        body: { metadata: { name, namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } }, automountServiceAccountToken: false },
      });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
    ensured.add(namespace);
  };
}

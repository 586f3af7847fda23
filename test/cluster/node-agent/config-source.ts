// Secrets and ConfigMaps as the kubelet reads them for env vars and volumes: a direct GET each
// time (the kubelet caches; pods here are few), `undefined` when the object does not exist.
import { isNotFound, type Kube } from './kube.js';

export type KeyValues = Map<string, Buffer>;

export interface ConfigSource {
  secret(namespace: string, name: string): Promise<KeyValues | undefined>;
  configMap(namespace: string, name: string): Promise<KeyValues | undefined>;
}

export function apiConfigSource(kube: Kube): ConfigSource {
  const notFoundAsUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    async secret(namespace, name) {
      const s = await notFoundAsUndefined(kube.core.readNamespacedSecret({ namespace, name }));
      if (s === undefined) return undefined;
      const out: KeyValues = new Map();
      for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
      // stringData is write-only on the server, but a fake in a unit test may carry it.
      for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
      return out;
    },
    async configMap(namespace, name) {
      const cm = await notFoundAsUndefined(kube.core.readNamespacedConfigMap({ namespace, name }));
      if (cm === undefined) return undefined;
      const out: KeyValues = new Map();
      for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
      return out;
    },
  };
}

import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ConfigSource, KeyValues } from './config-source.js';
import { expand, resolveEnv } from './env.js';
import { WaitingError } from './errors.js';

const kv = (o: Record<string, string>): KeyValues => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));
const source: ConfigSource = {
  secret: async (_ns, name) => (name === 's3' ? kv({ key: 'AKIA', secret: 'x' }) : undefined),
  configMap: async (_ns, name) => (name === 'cfg' ? kv({ mode: 'fast', 'bad key': 'skipped' }) : undefined),
};
const pod: k8s.V1Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u-1', labels: { app: 'trainer' } },
  spec: { nodeName: 'gpu-h100-0', serviceAccountName: 'sa', containers: [] },
};
const info = { podIP: '127.0.0.7', hostIP: '127.0.0.1', allocatable: { cpu: '192', memory: '2048Gi' } };
const resolve = (c: Partial<k8s.V1Container>) => resolveEnv(pod, { name: 'c', ...c }, source, info);

describe('expand', () => {
  it('replaces defined $(VAR)s, keeps undefined ones and unescapes $$', () => {
    const vars: Record<string, string> = { A: '1' };
    expect(expand('$(A)/$(B)/$$(A)/$x', (n) => vars[n])).toBe('1/$(B)/$(A)/$x');
  });
});

describe('resolveEnv', () => {
  it('resolves values, Secret/ConfigMap keys, envFrom with prefix, fieldRefs and resourceFieldRefs', async () => {
    const env = await resolve({
      envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }],
      env: [
        { name: 'KEY', valueFrom: { secretKeyRef: { name: 's3', key: 'key' } } },
        { name: 'OPT', valueFrom: { secretKeyRef: { name: 'missing', key: 'k', optional: true } } },
        { name: 'URL', value: 'https://$(KEY)@host' },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
      ],
      resources: { limits: { memory: '1536Mi' } },
    });
    expect(Object.fromEntries(env)).toEqual({
      CFG_mode: 'fast',
      KEY: 'AKIA',
      URL: 'https://AKIA@host',
      NODE: 'gpu-h100-0',
      APP: 'trainer',
      IP: '127.0.0.7',
      MEM_MI: '1536',
      CPU: '192',
    });
  });

  it('fails like the kubelet for a missing Secret or key', async () => {
    await expect(resolve({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] })).rejects.toEqual(
      new WaitingError('CreateContainerConfigError', 'secret "nope" not found'),
    );
    await expect(resolve({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's3', key: 'k' } } }] })).rejects.toThrow(
      "couldn't find key k in Secret ns/s3",
    );
    await expect(resolve({ envFrom: [{ configMapRef: { name: 'nope' } }] })).rejects.toThrow('configmap "nope" not found');
  });
});

import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PooledKubeConfig } from './pooled-kube-config.js';

function load<T extends KubeConfig>(kc: T): T {
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64'), skipTLSVerify: false }],
    users: [
      { name: 'alice', certData: Buffer.from('alice-cert').toString('base64'), keyData: Buffer.from('alice-key').toString('base64') },
      { name: 'bob', token: 'bob-token' },
    ],
    contexts: [
      { name: 'as-alice', cluster: 'c', user: 'alice' },
      { name: 'as-bob', cluster: 'c', user: 'bob' },
    ],
    currentContext: 'as-alice',
  });
  return kc;
}

async function dispatcherOf(kc: KubeConfig) {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  return { dispatcher: context.getDispatcher(), authorization: context.getHeaders().Authorization };
}

describe('PooledKubeConfig', () => {
  it('hands every request of one identity the same connection pool; client-node alone makes one per request', async () => {
    const plain = load(new KubeConfig());
    expect((await dispatcherOf(plain)).dispatcher).not.toBe((await dispatcherOf(plain)).dispatcher);

    const pooled = load(new PooledKubeConfig());
    const first = await dispatcherOf(pooled);
    expect(first.dispatcher).toBeDefined();
    expect((await dispatcherOf(pooled)).dispatcher).toBe(first.dispatcher);
  });

  it('keeps one pool per cluster and user, and still sets each request its headers', async () => {
    const pooled = load(new PooledKubeConfig());
    const alice = await dispatcherOf(pooled);
    pooled.setCurrentContext('as-bob');
    const bob = await dispatcherOf(pooled);
    expect(bob.dispatcher).not.toBe(alice.dispatcher);
    expect(bob.authorization).toBe('Bearer bob-token');
    expect((await dispatcherOf(pooled)).dispatcher).toBe(bob.dispatcher);
    pooled.setCurrentContext('as-alice');
    expect((await dispatcherOf(pooled)).dispatcher).toBe(alice.dispatcher);
  });
});

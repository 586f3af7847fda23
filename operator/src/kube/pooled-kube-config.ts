// client-node 2.0 gives every request a new undici Agent (KubeConfig.applySecurityAuthentication builds
// one per call), so no connection is ever reused: each API call pays a TCP connect and a TLS handshake on
// both ends, about 3x the CPU of the call itself on the client and on the API server. This KubeConfig
// keeps the first Agent made for a cluster and user and hands it to every later request, as client-go
// shares one transport; headers (tokens, basic auth) are still set per request by client-node.
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  // Keyed by the cluster and user objects themselves: loading a config makes new ones (and so new pools),
  // and no request pays for serializing them.
  private readonly pools = new WeakMap<object, WeakMap<object, Dispatcher>>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (!fresh || !cluster || !user) return;
    const byUser = this.pools.get(cluster) ?? new WeakMap<object, Dispatcher>();
    this.pools.set(cluster, byUser);
    const pooled = byUser.get(user);
    if (pooled) context.setDispatcher(pooled);
    else byUser.set(user, fresh);
  }
}

// client-node 2.0 gives every request a new undici Agent (KubeConfig.applySecurityAuthentication builds
// one per call), so no connection is ever reused: each API call pays a TCP connect and a TLS handshake on
// both ends, about 3x the CPU of the call itself on the client and on the API server. This KubeConfig
// keeps the first Agent made for a cluster and user and hands it to every later request, as client-go
// shares one transport; headers (tokens, basic auth) are still set per request by client-node.
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  private readonly pools = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return;
    // The same identity client-node keys its own https.Agent cache by, with the TLS material it names.
    const key = JSON.stringify([this.getCurrentCluster(), this.getCurrentUser()]);
    const pooled = this.pools.get(key);
    if (pooled) context.setDispatcher(pooled);
    else this.pools.set(key, fresh);
  }
}

// An installed release's operator, ready to run as a process outside the cluster with exactly the
// installed configuration and rights: the Deployment's env (downward API resolved) and a kubeconfig
// for the chart's operator ServiceAccount. Use with test/e2e/support/operator-process.ts:
//   const op = await installedOperator({ release, namespace, podName: 'op-0' });
//   await startOperator(op.kubeconfig, 'op-0', op.localEnv);
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { loadKubeConfig } from '../cluster/cluster.js';
import { getJson, mustKubectl } from '../e2e/support/resources.js';
import { containerEnv } from './container-env.js';

export interface InstalledOperatorOptions {
  release: string;
  /** The release namespace. */
  namespace: string;
  /** What the pod's metadata.name would be: POD_NAME, the leader-election identity. */
  podName: string;
  /** What metadata.namespace would be; the release namespace unless a test wants otherwise. */
  podNamespace?: string;
}

export interface InstalledOperator {
  deployment: V1Deployment;
  serviceAccount: string;
  /** The operator container's environment, as its pod gets it. */
  env: Record<string, string>;
  /**
   * `env` without the listen address (HTTP_HOST, HTTP_PORT): a process beside others on one host
   * listens where its runner says (startOperator picks a free port).
   */
  localEnv: Record<string, string>;
  /** A kubeconfig file: the test cluster's server and CA, a token of the operator ServiceAccount. */
  kubeconfig: string;
}

const LISTEN_ADDRESS = new Set(['HTTP_HOST', 'HTTP_PORT']);

export async function installedOperator({ release, namespace, podName, podNamespace = namespace }: InstalledOperatorOptions): Promise<InstalledOperator> {
  const selector = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`;
  const { items } = await getJson<{ items: V1Deployment[] }>(['get', 'deployments', '-n', namespace, '-l', selector]);
  if (items.length !== 1) throw new Error(`release ${release} in ${namespace}: expected one operator Deployment, found ${items.length}`);
  const deployment = items[0]!;
  const serviceAccount = deployment.spec?.template.spec?.serviceAccountName;
  if (serviceAccount === undefined) throw new Error(`deployment ${deployment.metadata?.name} names no ServiceAccount`);

  const env = containerEnv(deployment, 'operator', { podName, podNamespace });
  const localEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !LISTEN_ADDRESS.has(k)));

  const token = (await mustKubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=2h'])).trim();
  const cluster = loadKubeConfig().getCurrentCluster();
  if (cluster === null) throw new Error('the admin kubeconfig has no current cluster');
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: cluster.name, server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user }],
    currentContext: user,
  });
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'loraplane-installed-operator-')), 'kubeconfig');
  writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
  return { deployment, serviceAccount, env, localEnv, kubeconfig };
}

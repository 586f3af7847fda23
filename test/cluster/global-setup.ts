// vitest globalSetup for the e2e project: a real control plane for the run. Uses the cluster that
// KUBECONFIG_E2E points at when it answers; otherwise runs up.sh (which reuses a healthy cluster in
// $LORAPLANE_CLUSTER_DIR) and, at teardown, down.sh if this run started it. Set
// LORAPLANE_KEEP_CLUSTER=1 to leave it running for a look afterwards.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { TestProject } from 'vitest/node';
import { clusterDir, clusterEnv } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

async function answers(kubeconfig: string): Promise<boolean> {
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    await kc.makeApiClient(k8s.VersionApi).getCode();
    return true;
  } catch {
    return false;
  }
}

const apiserverPid = (): string | undefined => {
  const f = join(clusterDir(), 'pids', 'kube-apiserver.pid');
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
};

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.KUBECONFIG_E2E;
  let kubeconfig: string;
  let startedHere = false;
  if (external !== undefined && external !== '' && (await answers(external))) {
    kubeconfig = external;
  } else {
    // up.sh returns at once for a healthy cluster; a new apiserver pid means this run started one.
    const before = apiserverPid();
    const t0 = Date.now();
    try {
      await run('bash', [join(here, 'up.sh')], { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`test/cluster/up.sh failed: ${e.stderr ?? e.message}`);
    }
    startedHere = apiserverPid() !== before;
    kubeconfig = join(clusterDir(), 'kubeconfig');
    console.log(`[e2e] cluster ${startedHere ? 'started' : 'reused'} in ${Date.now() - t0} ms (${clusterDir()})`);
    // Workers start after this and inherit the environment: kubectl's bin dir, the agent's root.
    for (const [k, v] of Object.entries(clusterEnv())) if (k.startsWith('LORAPLANE_')) process.env[k] = v;
  }
  if (process.env.LORAPLANE_BIN_DIR === undefined) {
    const { stdout } = await run('bash', [join(here, 'build-binaries.sh')], { maxBuffer: 16 * 1024 * 1024 });
    process.env.LORAPLANE_BIN_DIR = stdout.trim().split('\n').at(-1);
  }
  process.env.LORAPLANE_E2E_KUBECONFIG = kubeconfig;
  // Code under test that loads the default kubeconfig reaches the test cluster, never another one.
  process.env.KUBECONFIG = kubeconfig;
  project.provide('kubeconfig', kubeconfig);

  return async () => {
    if (!startedHere || process.env.LORAPLANE_KEEP_CLUSTER === '1') return;
    await run('bash', [join(here, 'down.sh')]);
  };
}

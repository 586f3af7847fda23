// Helpers the e2e tests share: the cluster started by up.sh (kubeconfig, kubectl) and polling.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

export const clusterDir = (): string => process.env.LORAPLANE_CLUSTER_DIR ?? '/tmp/loraplane-cluster';

/** The `export K=V` lines of $DIR/env that up.sh writes (KUBECONFIG, PATH, LORAPLANE_*). */
export function clusterEnv(dir: string = clusterDir()): Record<string, string> {
  const file = join(dir, 'env');
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** The kubeconfig of the test cluster: as global-setup.ts published it, else up.sh's default. */
export function kubeconfigPath(): string {
  return process.env.LORAPLANE_E2E_KUBECONFIG ?? join(clusterDir(), 'kubeconfig');
}

export function loadKubeConfig(path: string = kubeconfigPath()): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The directory with the cached kubectl (and the other control-plane binaries). */
export function binDir(): string {
  const dir = process.env.LORAPLANE_BIN_DIR ?? clusterEnv().LORAPLANE_BIN_DIR;
  if (dir === undefined) throw new Error(`no LORAPLANE_BIN_DIR and no ${join(clusterDir(), 'env')}: is the cluster up?`);
  return dir;
}

/** Where the node agent keeps a pod's files: container.log, termination-log, volumes/. */
export function podDir(namespace: string, name: string, uid: string): string {
  const root = process.env.LORAPLANE_NODE_AGENT_ROOT ?? join(clusterDir(), 'node-agent');
  return join(root, 'pods', `${namespace}_${name}_${uid}`);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  input?: string;
  /** Another identity, e.g. from make-user.sh. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** Runs the cached kubectl against the test cluster; never throws for a non-zero exit. */
export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(binDir(), 'kubectl'), [`--kubeconfig=${opts.kubeconfig ?? kubeconfigPath()}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }));
    // kubectl may exit before reading its input (a flag error, say); its exit code says so, not an EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the timeout error: "pod x to be Running". */
  description: string;
}

/**
 * Polls `fn` until it returns something other than undefined/false/null, and returns that.
 * On timeout, throws with the description and the last value `fn` returned (or threw).
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeoutMs = 60_000, intervalMs = 250, description }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      last = value;
    } catch (err) {
      last = err instanceof Error ? `error: ${err.message}` : err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}; last observed: ${show(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function show(value: unknown): string {
  try {
    const s = typeof value === 'string' ? value : JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
  } catch {
    return String(value);
  }
}

/**
 * A fresh namespace, ready for pods: the ServiceAccount admission plugin rejects pods until the
 * controller manager has created the namespace's "default" ServiceAccount.
 */
export async function createNamespace(core: k8s.CoreV1Api, prefix: string): Promise<string> {
  const ns = await core.createNamespace({ body: { metadata: { generateName: `${prefix}-` } } });
  const name = ns.metadata?.name;
  if (name === undefined) throw new Error('created namespace has no name');
  await waitFor(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name }), {
    timeoutMs: 30_000,
    description: `ServiceAccount default in namespace ${name}`,
  });
  return name;
}

/**
 * Waits until the API server serves the CRDs. kubectl wait errors out (instead of waiting) on a CRD whose
 * status has no conditions yet, which a loaded API server leaves so for a moment after the create.
 */
export async function waitForCrds(names: string[], timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const r = await kubectl(['wait', '--for=condition=Established', `--timeout=${Math.ceil(timeoutMs / 1000)}s`, ...names.map((n) => `crd/${n}`)]);
      if (r.code === 0) return true;
      if (/\.status\.conditions accessor error/.test(r.stderr)) return undefined;
      throw new Error(`kubectl wait for CRDs ${names.join(', ')} failed (${r.code}): ${r.stderr}`);
    },
    { timeoutMs, intervalMs: 200, description: `CRDs ${names.join(', ')} Established` },
  );
}

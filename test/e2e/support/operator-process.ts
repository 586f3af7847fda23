// Runs the built operator (dist/) as a real process against the test control plane.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '../../cluster/cluster.js';
import { server } from '../../storage/storage.js';

const repo = join(import.meta.dirname, '../../..');
const MAIN = join(repo, 'operator/dist/main.js');

export const OPERATOR_NAMESPACE = 'loraplane-system';
/** The stand-in trainer (test/cluster/nodes.yaml) for tests of the operator's failure paths. */
export const TRAINER_STANDIN_IMAGE = 'ghcr.io/loraplane/trainer-standin:0.1.0';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface OperatorProcess {
  identity: string;
  port: number;
  logFile: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  metrics(): Promise<string>;
  /** Sum of one metric's samples whose labels contain `match` (0 when absent). */
  metric(name: string, match?: string): Promise<number>;
  stop(): Promise<number | null>;
  kill(): Promise<number | null>;
}

/** `main`: another build of the operator's entry point (the benchmark runs a baseline beside the current one). */
export async function startOperator(kubeconfig: string, identity: string, env: Record<string, string> = {}, main = MAIN): Promise<OperatorProcess> {
  const port = await freePort();
  const logDir = join(repo, '.tmp/e2e-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${identity}-${Date.now()}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      POD_NAME: identity,
      POD_NAMESPACE: OPERATOR_NAMESPACE,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      LOG_FORMAT: 'json',
      LEASE_DURATION_SECONDS: '4',
      RENEW_DEADLINE_MS: '3000',
      RETRY_PERIOD_MS: '500',
      TRAINER_IMAGE: TRAINER_STANDIN_IMAGE,
      // The test S3 server is the platform's storage: the one endpoint the operator may reach.
      ...env,
      ALLOWED_S3_ENDPOINTS: env.ALLOWED_S3_ENDPOINTS ?? server().endpoint,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const proc: OperatorProcess = {
    identity,
    port,
    logFile,
    child,
    exited,
    metrics,
    async metric(name, match = '') {
      const lines = (await metrics()).split('\n').filter((l) => l.startsWith(name) && l.includes(match) && !l.startsWith('#'));
      return lines.filter((l) => /^[a-z_]+(\{|\s)/.test(l) && l.split(/[{\s]/)[0] === name).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      return exited;
    },
  };
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    { timeoutMs: 20_000, description: `operator ${identity} /healthz (log: ${logFile})` },
  );
  return proc;
}

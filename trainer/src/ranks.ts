// Data-parallel ranks in one pod, as torchrun runs them: the pod's entry supervises one process per
// GPU (per CPU rank on the CPU backend), each a rank of one group that meets at a rendezvous the
// supervisor picks (torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or, for a
// multi-pod job, at pod 0's DNS name, the pod's ranks numbered from its Indexed Job index. When a rank
// exits with an error, the supervisor stops the others and exits with that rank's code, naming it,
// so the Job restarts the whole group from the newest checkpoint. SIGTERM reaches every rank; they
// agree on the step to stop after (loop.ts) and rank 0 checkpoints it.
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import {
  COMPLETION_INDEX_ENV,
  RENDEZVOUS_ADDR_ENV,
  RENDEZVOUS_PORT,
  RENDEZVOUS_TIMEOUT_ENV,
  TRAINER_EXIT,
  isPeerFailure,
  type TrainerConfig,
  type TrainerResult,
} from '@loraplane/api/trainer-contract';
import { TrainerConfigError } from './errors.js';

/** How long a rank has to stop after its peers' failure before it is killed. */
const STOP_GRACE_MS = 30_000;

export interface RankEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** How long to wait for every rank to join; the runtime's default when undefined. */
  joinTimeoutMs?: number;
}

/** The rank this process is, from torchrun's variables; undefined in a process that is no rank of a group. */
export function rankFromEnv(env: NodeJS.ProcessEnv = process.env): RankEnv | undefined {
  if (env.RANK === undefined) return undefined;
  const int = (name: string) => {
    const value = Number(env[name]);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name}=${env[name]} is not a rank number`);
    return value;
  };
  const seconds = (name: string) => {
    const value = Number(env[name]);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${env[name]} is not a whole number of seconds`);
    return value;
  };
  return {
    rank: int('RANK'),
    worldSize: int('WORLD_SIZE'),
    localRank: int('LOCAL_RANK'),
    masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: int('MASTER_PORT'),
    ...(env[RENDEZVOUS_TIMEOUT_ENV] ? { joinTimeoutMs: seconds(RENDEZVOUS_TIMEOUT_ENV) * 1000 } : {}),
  };
}

/**
 * This pod's place in the group: `gpus` local ranks starting at global rank nodeIndex x gpus. One pod
 * meets on the loopback interface; pods of a multi-pod group (an Indexed Job) meet at pod 0, by the DNS
 * name the operator passes, on the fixed rendezvous port.
 */
export interface PodGroup {
  nodeIndex: number;
  localRanks: number;
  worldSize: number;
  /** Undefined in a one-pod group: the supervisor picks a free loopback port. */
  master?: { addr: string; port: number };
}

export function podGroupOf(config: TrainerConfig, env: NodeJS.ProcessEnv = process.env): PodGroup {
  const { gpus, nodes } = config.spec.resources;
  if (nodes === 1) return { nodeIndex: 0, localRanks: gpus, worldSize: gpus };
  const raw = env[COMPLETION_INDEX_ENV] ?? '';
  const index = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(index < nodes))
    throw new TrainerConfigError(
      `${COMPLETION_INDEX_ENV}=${env[COMPLETION_INDEX_ENV]} is not a pod index below spec.resources.nodes=${nodes} (the Indexed Job sets it)`,
    );
  const addr = env[RENDEZVOUS_ADDR_ENV];
  if (!addr) throw new TrainerConfigError(`${RENDEZVOUS_ADDR_ENV} is not set: the operator passes rank 0's address to every pod of a multi-pod job`);
  return { nodeIndex: index, localRanks: gpus, worldSize: nodes * gpus, master: { addr, port: RENDEZVOUS_PORT } };
}

/** A free TCP port on the loopback interface, for rank 0's rendezvous store. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What a rank reports to its supervisor: rank 0 its result; any rank the error it failed with. */
export type RankMessage = { result: TrainerResult; interrupted: boolean } | { error: string };

export interface GroupOutcome {
  exitCode: number;
  result?: TrainerResult;
  interrupted?: boolean;
  /** The first rank that failed, and how. */
  failed?: { rank: number; code: number | null; signal: NodeJS.Signals | null; error?: string };
}

/**
 * Runs this pod's ranks of the group (each the `rank-main` module with the rank's env) and waits for
 * them. When one fails the others get SIGTERM, then SIGKILL after a grace; the outcome names the rank
 * whose failure was not just a peer's collective giving up. Only the pod holding rank 0 gets a result.
 */
export async function superviseRanks(group: PodGroup, log: Logger, stop: AbortSignal): Promise<GroupOutcome> {
  const { addr: masterAddr, port: masterPort } = group.master ?? { addr: '127.0.0.1', port: await freePort() };
  const firstRank = group.nodeIndex * group.localRanks;
  // OpenMP threads split between the ranks, so CPU ranks do not oversubscribe the pod's cores.
  const threads = String(Math.max(1, Math.floor(availableParallelism() / group.localRanks)));
  const entry = fileURLToPath(new URL('./rank-main.js', import.meta.url));
  const outcome: GroupOutcome = { exitCode: TRAINER_EXIT.succeeded };
  const failures: NonNullable<GroupOutcome['failed']>[] = [];
  const children: ChildProcess[] = [];
  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  let killTimer: NodeJS.Timeout | undefined;
  const fail = () => {
    stopAll('SIGTERM');
    killTimer ??= setTimeout(() => stopAll('SIGKILL'), STOP_GRACE_MS);
  };
  stop.addEventListener('abort', () => stopAll('SIGTERM'), { once: true });

  const exits = Array.from({ length: group.localRanks }, (_, localRank) => {
    const rank = firstRank + localRank;
    const child = fork(entry, [], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(group.worldSize),
        LOCAL_RANK: String(localRank),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        CUDA_VISIBLE_DEVICES: String(localRank),
        OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? threads,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    let error: string | undefined;
    child.on('message', (m: RankMessage) => {
      if ('error' in m) error = m.error;
      else ({ result: outcome.result, interrupted: outcome.interrupted } = m);
    });
    return new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        // Stopped on request: by SIGTERM to this pod or to a peer pod (the ranks agree to stop, loop.ts),
        // or by the supervisor after another rank failed.
        const stopped = code === TRAINER_EXIT.stopped;
        if (stopped) outcome.interrupted = true;
        if (code !== 0 && !stopped) {
          failures.push({ rank, code, signal, ...(error !== undefined ? { error } : {}) });
          log.error({ rank, code, signal, error }, 'a rank failed: stopping the group');
          fail();
        }
        resolve();
      });
    });
  });
  await Promise.all(exits);
  clearTimeout(killTimer);
  // The peers of a dead rank fail in their next collective: the cause is the rank that failed otherwise.
  const cause = failures.find((f) => !isPeerFailure(f.error)) ?? failures[0];
  if (cause) {
    outcome.failed = cause;
    // A rank killed by a signal (OOM, SIGKILL) may succeed in a new pod: retryable.
    outcome.exitCode = cause.code ?? TRAINER_EXIT.retryable;
  }
  if (!outcome.failed && outcome.result === undefined && firstRank === 0) {
    outcome.failed = { rank: 0, code: null, signal: null, error: 'rank 0 ended without a result' };
    outcome.exitCode = TRAINER_EXIT.retryable;
  }
  return outcome;
}

/** The termination message's error for a failed group: which rank, and why. */
export function groupFailure(failed: NonNullable<GroupOutcome['failed']>): string {
  const how = failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.code}`;
  return `rank ${failed.rank} ${how}${failed.error ? `: ${failed.error}` : ''}; the group stopped and restarts from the newest checkpoint`;
}

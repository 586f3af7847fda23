// One pod's life on a fake node, as the kubelet's pod worker runs it: wait for what the container
// needs (image, Secrets, volumes), run it, report Running, then Terminated with the exit code and
// termination message; restart in place per restartPolicy; on deletion stop it within the grace
// period and delete the pod for good.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { ClusterDns } from './cluster-dns.js';
import type { AgentSettings, NodeDef } from './config.js';
import type { ConfigSource } from './config-source.js';
import { type PreparedContainer, prepareContainer, supportedContainer } from './container-spec.js';
import { WaitingError } from './errors.js';
import { backOffMessage, type ImageStore, pullErrorMessage } from './images.js';
import type { IpPool } from './ip-pool.js';
import { errorMessage, httpStatus, type Kube, strategicMerge } from './kube.js';
import type { Logger } from './log.js';
import type { MemoryWatcher } from './memory.js';
import { NODE_IP } from './node-status.js';
import { ConditionClock, type ContainerState, newContainerID, type Phase, podStatusPatch, type Terminated } from './pod-status.js';
import { ContainerProcess, StartError } from './process.js';
import { terminationMessage } from './termination-message.js';

export interface WorkerDeps {
  kube: Kube;
  source: ConfigSource;
  images: ImageStore;
  ips: IpPool;
  dns: ClusterDns;
  memory: MemoryWatcher;
  settings: AgentSettings;
  log: Logger;
}

const RETRY_MS = 2000;
const MAX_CRASH_BACKOFF_MS = 10_000;

type State = 'new' | 'waiting' | 'running' | 'backoff' | 'done' | 'stopping' | 'gone';

interface Running {
  proc: ContainerProcess;
  containerID: string;
  logOffset: number;
  oomKilled: boolean;
}

export class PodWorker {
  private state: State = 'new';
  private readonly clock = new ConditionClock();
  private readonly startTime = new Date();
  private readonly root: string;
  private readonly log: Logger;
  private podIP: string | undefined;
  private prepared: PreparedContainer | undefined;
  private running: Running | undefined;
  private restartCount = 0;
  /** The previous run's end, shown as lastState after a restart. */
  private lastTerminated: Terminated | undefined;
  /** How the run that stop() terminated ended. */
  private stoppedRun: Terminated | undefined;
  private timer: NodeJS.Timeout | undefined;
  private statusWrites: Promise<void> = Promise.resolve();

  constructor(
    private pod: k8s.V1Pod,
    private readonly node: NodeDef,
    private readonly deps: WorkerDeps,
  ) {
    const m = pod.metadata ?? {};
    this.root = join(deps.settings.root, 'pods', `${m.namespace}_${m.name}_${m.uid}`);
    this.log = deps.log.child({ pod: `${m.namespace}/${m.name}`, uid: m.uid, node: node.name });
  }

  /** Every add/update of the pod. Only deletion matters once started: the process drives the rest. */
  update(pod: k8s.V1Pod): void {
    this.pod = pod;
    if (this.state === 'gone' || this.state === 'stopping') return;
    if (pod.metadata?.deletionTimestamp !== undefined) {
      void this.stop();
    } else if (this.state === 'new') {
      this.state = 'waiting';
      if (!this.adoptPreviousStatus()) void this.tryStart();
    }
  }

  /** The pod is gone from the API (force-deleted, or our final delete landed): kill, forget. */
  remove(): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    clearTimeout(this.timer);
    this.running?.proc.signal('SIGKILL');
    this.releaseIP();
    this.log.info('pod removed');
  }

  /** SIGKILL without reporting: the agent is shutting down with the cluster. */
  kill(): void {
    clearTimeout(this.timer);
    this.running?.proc.signal('SIGKILL');
  }

  /** The container the agent runs (supportedContainer() has checked it is the only one). */
  private get container(): k8s.V1Container {
    return this.pod.spec?.containers[0] ?? { name: '' };
  }

  /**
   * After an agent restart the pod may show a container this process never started: it counts as
   * having died (exit 137), and restartPolicy decides what follows. The pod keeps its IP.
   * Returns true when that ended the pod.
   */
  private adoptPreviousStatus(): boolean {
    const status = this.pod.status;
    const prev = status?.containerStatuses?.[0];
    if (status?.podIP !== undefined && status.podIP !== '') {
      this.podIP = status.podIP;
      this.deps.ips.claim(status.podIP);
    }
    if (prev?.containerID === undefined || prev.state?.running === undefined) return false;
    this.restartCount = prev.restartCount;
    const now = new Date();
    const lost: Terminated = {
      exitCode: 137,
      reason: 'Error',
      message: 'container lost: the loraplane test node agent restarted',
      startedAt: prev.state.running.startedAt ?? now,
      finishedAt: now,
      containerID: prev.containerID,
    };
    this.log.warn('container from a previous agent is lost');
    if (!this.restarts(lost.exitCode)) {
      this.finish(lost);
      return true;
    }
    this.restartCount += 1;
    this.lastTerminated = lost;
    return false;
  }

  private restarts(exitCode: number): boolean {
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
  }

  private async tryStart(): Promise<void> {
    if (this.state !== 'waiting') return;
    try {
      const container = supportedContainer(this.pod);
      const image = this.deps.images.find(container.image ?? '');
      if (image === undefined) return this.imagePullFailed(container.image ?? '');
      this.podIP ??= this.deps.ips.allocate();
      this.prepared = await prepareContainer(this.pod, container, image, {
        podRoot: this.root,
        claimsRoot: join(this.deps.settings.root, 'claims'),
        commandPath: this.deps.settings.commandPath,
        source: this.deps.source,
        info: { podIP: this.podIP, hostIP: NODE_IP, allocatable: this.node.allocatable ?? this.node.capacity },
      });
      if (this.state !== 'waiting') return; // deleted while we read Secrets
      this.launch();
    } catch (err) {
      if (this.state !== 'waiting') return;
      const waiting = err instanceof WaitingError ? err : new WaitingError('CreateContainerConfigError', errorMessage(err));
      this.log.info({ reason: waiting.reason, message: waiting.message }, 'container cannot start yet');
      this.report('Pending', { waiting: { reason: waiting.reason, message: waiting.message } });
      if (waiting.retry) this.timer = setTimeout(() => void this.tryStart(), RETRY_MS);
    }
  }

  /** ErrImagePull, then ImagePullBackOff, as the kubelet shows a failed pull; the pod stays Pending. */
  private imagePullFailed(image: string): void {
    this.log.info({ image }, 'image not present on the node');
    this.report('Pending', { waiting: { reason: 'ErrImagePull', message: pullErrorMessage(image) } });
    this.timer = setTimeout(() => {
      if (this.state === 'waiting') {
        this.report('Pending', { waiting: { reason: 'ImagePullBackOff', message: backOffMessage(image) } });
      }
    }, 1000);
  }

  private launch(): void {
    const prepared = this.prepared;
    if (prepared === undefined) throw new Error('launch before prepare');
    const containerID = newContainerID();
    const logOffset = fileSize(prepared.logFile);
    // Each container run gets an empty termination message file, as the kubelet creates one per container.
    writeFileSync(prepared.terminationMessageFile, '');
    let proc: ContainerProcess;
    try {
      this.deps.dns.add(this.pod.metadata?.uid ?? '', this.pod, this.podIP ?? '');
      proc = ContainerProcess.start({ ...prepared, wrap: this.deps.dns.wrap });
    } catch (err) {
      // Any failure to start (not just a missing command) is the runtime's StartError, exit 128.
      const now = new Date();
      const message = err instanceof StartError ? err.message : `failed to start container: ${errorMessage(err)}`;
      this.exited({ exitCode: 128, reason: 'StartError', message, startedAt: now, finishedAt: now, containerID });
      return;
    }
    const running: Running = { proc, containerID, logOffset, oomKilled: false };
    this.running = running;
    this.state = 'running';
    this.log.info({ processId: proc.pid, argv: prepared.argv, cwd: prepared.cwd }, 'container started');
    if (prepared.memoryLimitBytes !== undefined) {
      this.deps.memory.watch(proc.pid, prepared.memoryLimitBytes, (rss) => {
        this.log.info({ rss, limit: prepared.memoryLimitBytes }, 'memory limit exceeded: OOM kill');
        running.oomKilled = true;
        proc.signal('SIGKILL');
      });
    }
    this.report('Running', { running: { startedAt: proc.startedAt } });
    void proc.exited.then((exit) => {
      this.deps.memory.unwatch(proc.pid);
      this.running = undefined;
      const message = terminationMessage({
        messageFile: prepared.terminationMessageFile,
        policy: this.container.terminationMessagePolicy,
        exitCode: exit.exitCode,
        logFile: prepared.logFile,
        logOffset,
      });
      this.exited({
        exitCode: running.oomKilled ? 137 : exit.exitCode,
        reason: running.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error',
        message,
        startedAt: proc.startedAt,
        finishedAt: exit.finishedAt,
        containerID,
      });
    });
  }

  private exited(t: Terminated): void {
    this.log.info({ exitCode: t.exitCode, reason: t.reason }, 'container exited');
    if (this.state === 'gone') return;
    if (this.state === 'stopping') {
      this.stoppedRun = t; // stop() reports it
      return;
    }
    if (!this.restarts(t.exitCode)) {
      this.finish(t);
      return;
    }
    // Restart in place with the kubelet's doubling back-off (from 1 s here, not 10 s, for tests).
    this.restartCount += 1;
    this.lastTerminated = t;
    this.state = 'backoff';
    const delay = Math.min(1000 * 2 ** (this.restartCount - 1), MAX_CRASH_BACKOFF_MS);
    const m = this.pod.metadata ?? {};
    this.report('Running', {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay / 1000}s restarting failed container=${this.container.name} pod=${m.name}_${m.namespace}(${m.uid})`,
      },
    });
    this.timer = setTimeout(() => {
      if (this.state === 'backoff') this.launch();
    }, delay);
  }

  private finish(t: Terminated): void {
    this.state = 'done';
    this.report(t.exitCode === 0 ? 'Succeeded' : 'Failed', { terminated: t });
    this.releaseIP();
  }

  /** Graceful deletion: SIGTERM, SIGKILL after the grace period, terminal status, final delete. */
  private async stop(): Promise<void> {
    const before = this.state;
    this.state = 'stopping';
    clearTimeout(this.timer);
    const running = this.running;
    if (running !== undefined) {
      const grace = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
      this.log.info({ graceSeconds: grace }, 'stopping container for deletion');
      running.proc.signal('SIGTERM');
      const kill = setTimeout(() => running.proc.signal('SIGKILL'), grace * 1000);
      // launch() subscribed to `exited` first, so stoppedRun holds this run's end by now.
      await running.proc.exited;
      clearTimeout(kill);
    }
    // The kubelet puts a pod it stops into a terminal phase before the final delete (the Job
    // controller counts it); a pod that never ran a container is just deleted.
    const t = this.stoppedRun ?? this.lastTerminated;
    if (t !== undefined && before !== 'done') {
      this.report(t.exitCode === 0 ? 'Succeeded' : 'Failed', { terminated: t }, true);
    }
    this.releaseIP();
    await this.statusWrites;
    await this.finalDelete();
  }

  private async finalDelete(): Promise<void> {
    const m = this.pod.metadata ?? {};
    try {
      await this.deps.kube.core.deleteNamespacedPod({
        name: m.name ?? '',
        namespace: m.namespace ?? '',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: m.uid } },
      });
      this.log.info('pod deleted');
    } catch (err) {
      const code = httpStatus(err);
      if (code !== 404 && code !== 409) this.log.warn({ err: errorMessage(err) }, 'final delete failed');
    }
  }

  private releaseIP(): void {
    this.deps.dns.remove(this.pod.metadata?.uid ?? '');
    if (this.podIP !== undefined) this.deps.ips.release(this.podIP);
  }

  /**
   * Queues a status patch; patches go out in order, each retried while the apiserver is away.
   * `force` reports even while stopping (the terminal status before the final delete).
   */
  private report(phase: Phase, state: ContainerState, force = false): void {
    const container = this.container;
    const body = podStatusPatch(
      {
        phase,
        hostIP: NODE_IP,
        podIP: this.podIP,
        startTime: this.startTime,
        container: {
          name: container.name,
          image: container.image ?? '',
          containerID: 'running' in state ? this.running?.containerID : 'terminated' in state ? state.terminated.containerID : undefined,
          restartCount: this.restartCount,
          state,
          lastState: this.lastTerminated === undefined ? undefined : { terminated: this.lastTerminated },
        },
      },
      this.clock,
    );
    const m = this.pod.metadata ?? {};
    this.statusWrites = this.statusWrites.then(async () => {
      for (let attempt = 0, delay = 200; ; attempt++, delay = Math.min(delay * 2, 5000)) {
        if (this.state === 'gone' || (this.state === 'stopping' && !force)) return;
        try {
          await this.deps.kube.core.patchNamespacedPodStatus({ name: m.name ?? '', namespace: m.namespace ?? '', body }, strategicMerge);
          return;
        } catch (err) {
          const code = httpStatus(err);
          if (code === 404 || (code !== undefined && code >= 400 && code < 500 && code !== 429) || attempt >= 20) {
            this.log.warn({ err: errorMessage(err), phase }, 'status update dropped');
            return;
          }
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    });
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

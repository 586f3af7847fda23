// The pod status the kubelet reports (status/generate.go, kwok's pod stages), as a strategic-merge
// patch body: conditions merge by type (the scheduler's PodScheduled stays), containerStatuses are
// replaced whole.
import { createHash, randomBytes } from 'node:crypto';
import { rfc3339 } from './kube.js';

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface Terminated {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
  containerID: string;
}

export type ContainerState = { waiting: { reason: string; message?: string } } | { running: { startedAt: Date } } | { terminated: Terminated };

export interface ContainerSnapshot {
  name: string;
  image: string;
  containerID?: string;
  restartCount: number;
  state: ContainerState;
  lastState?: { terminated: Terminated };
}

export interface PodSnapshot {
  phase: Phase;
  hostIP: string;
  podIP?: string;
  startTime: Date;
  container: ContainerSnapshot;
}

export const newContainerID = (): string => `containerd://${randomBytes(32).toString('hex')}`;

/** A digest-pinned reference for the image, as the runtime reports after a pull. */
export function imageID(image: string): string {
  if (image.includes('@')) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const repo = colon > slash ? image.slice(0, colon) : image;
  return `${repo}@sha256:${createHash('sha256').update(image).digest('hex')}`;
}

/** Keeps each condition's lastTransitionTime until its status changes, as the kubelet does. */
export class ConditionClock {
  private readonly seen = new Map<string, { status: string; at: string }>();

  stamp(type: string, status: 'True' | 'False', now: Date): string {
    const prev = this.seen.get(type);
    if (prev !== undefined && prev.status === status) return prev.at;
    const at = rfc3339(now);
    this.seen.set(type, { status, at });
    return at;
  }
}

const stateJSON = (s: ContainerState): object => {
  if ('running' in s) return { running: { startedAt: rfc3339(s.running.startedAt) } };
  if ('terminated' in s) return { terminated: terminatedJSON(s.terminated) };
  return s;
};

const terminatedJSON = (t: Terminated): object => ({
  ...t,
  startedAt: rfc3339(t.startedAt),
  finishedAt: rfc3339(t.finishedAt),
  message: t.message === '' ? undefined : t.message,
});

export function podStatusPatch(pod: PodSnapshot, clock: ConditionClock, now: Date = new Date()): { status: object } {
  const c = pod.container;
  const running = 'running' in c.state;
  const terminal = pod.phase === 'Succeeded' || pod.phase === 'Failed';
  const cond = (type: string, ok: boolean, reason?: string, message?: string) => ({
    type,
    status: ok ? 'True' : 'False',
    reason: ok ? undefined : reason,
    message: ok ? undefined : message,
    lastProbeTime: null,
    lastTransitionTime: clock.stamp(type, ok ? 'True' : 'False', now),
  });
  const notReadyReason = terminal ? (pod.phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed') : 'ContainersNotReady';
  const notReadyMessage = terminal ? undefined : `containers with unready status: [${c.name}]`;
  return {
    status: {
      phase: pod.phase,
      hostIP: pod.hostIP,
      hostIPs: [{ ip: pod.hostIP }],
      podIP: pod.podIP,
      podIPs: pod.podIP === undefined ? undefined : [{ ip: pod.podIP }],
      startTime: rfc3339(pod.startTime),
      conditions: [
        cond('PodReadyToStartContainers', pod.podIP !== undefined && !terminal),
        cond('Initialized', true),
        cond('ContainersReady', running, notReadyReason, notReadyMessage),
        cond('Ready', running, notReadyReason, notReadyMessage),
      ],
      containerStatuses: [
        {
          name: c.name,
          image: c.image,
          imageID: 'waiting' in c.state && c.containerID === undefined ? '' : imageID(c.image),
          containerID: c.containerID,
          ready: running,
          started: running,
          restartCount: c.restartCount,
          state: stateJSON(c.state),
          lastState: c.lastState === undefined ? {} : { terminated: terminatedJSON(c.lastState.terminated) },
        },
      ],
    },
  };
}

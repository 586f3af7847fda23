// Bind-mount emulation. A real container sees its volumes at their mountPath; a process started by
// this agent shares the host filesystem, so each mountPath (and the terminationMessagePath) is given
// a host directory or file under the pod's root, and every env value, argument and workingDir that
// starts with a mounted container path is rewritten to the host path before the process starts.
// Only prefixes are rewritten: a container path inside a JSON value or after `--flag=` is not, which
// is why the agent also passes NODE_AGENT_PATH_MAP (JSON containerPath → hostPath) to the process.
import { posix } from 'node:path';

export interface Mount {
  containerPath: string;
  hostPath: string;
}

const normalize = (p: string): string => {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
};

export class PathMap {
  /** Longest container path first, so /data/models wins over /data. */
  private readonly mounts: Mount[];

  constructor(mounts: readonly Mount[]) {
    this.mounts = mounts
      .map((m) => ({ containerPath: normalize(m.containerPath), hostPath: m.hostPath }))
      // A mount at / would turn every absolute path into a pod path; the agent does not do images.
      .filter((m) => m.containerPath !== '/')
      .sort((a, b) => b.containerPath.length - a.containerPath.length);
  }

  /** The host path for a container path at or under a mount; undefined when nothing is mounted there. */
  toHost(path: string): string | undefined {
    for (const m of this.mounts) {
      if (path === m.containerPath) return m.hostPath;
      if (path.startsWith(`${m.containerPath}/`)) return m.hostPath + path.slice(m.containerPath.length);
    }
    return undefined;
  }

  /** `value` with a leading mounted container path replaced by its host path. */
  rewrite(value: string): string {
    return this.toHost(value) ?? value;
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.mounts.map((m) => [m.containerPath, m.hostPath]));
  }
}

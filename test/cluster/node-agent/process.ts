// A container as a local process: its own process group (so the whole tree can be signalled, like a
// container's cgroup), stdout and stderr appended to the container log, exit reported as the
// container runtime does (128 + signal number for a process killed by a signal).
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

export interface ExitInfo {
  exitCode: number;
  signal: NodeJS.Signals | null;
  finishedAt: Date;
}

export interface StartSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  /** Runs the resolved command through a wrapper (cluster-dns.ts: its own namespaces), keeping its process id. */
  wrap?: (argv: string[]) => string[];
}

/** The runtime's "executable not found" for a command that does not resolve. */
export class StartError extends Error {}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** `cmd` as execvp would find it along `path` (a command with a slash is taken as is). */
export function resolveCommand(cmd: string, path: readonly string[]): string | undefined {
  if (cmd.includes('/')) return executable(cmd) ? cmd : undefined;
  return path.map((dir) => join(dir, cmd)).find(executable);
}

export class ContainerProcess {
  readonly startedAt = new Date();
  readonly exited: Promise<ExitInfo>;
  readonly pid: number;

  private constructor(pid: number, exited: Promise<ExitInfo>) {
    this.pid = pid;
    this.exited = exited;
  }

  static start(spec: StartSpec): ContainerProcess {
    const [file, ...args] = spec.argv;
    const resolved = file === undefined ? undefined : resolveCommand(file, (spec.env.PATH ?? '').split(':'));
    if (file === undefined || resolved === undefined) {
      throw new StartError(
        `failed to create containerd task: failed to create shim task: OCI runtime create failed: ` +
          `exec: "${file ?? ''}": executable file not found in $PATH: unknown`,
      );
    }
    const log = openSync(spec.logFile, 'a');
    try {
      const [command, ...rest] = spec.wrap ? spec.wrap([resolved, ...args]) : [resolved, ...args];
      const child = spawn(command!, rest, {
        argv0: spec.wrap ? command : file,
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: ['ignore', log, log],
      });
      if (child.pid === undefined) throw new StartError(`failed to start ${resolved}`);
      const pid = child.pid;
      const exited = new Promise<ExitInfo>((resolve) => {
        // exec failing after the lookup (permissions, a bad interpreter line) reads as exit 128.
        child.on('error', () => resolve({ exitCode: 128, signal: null, finishedAt: new Date() }));
        child.on('exit', (code, signal) => {
          // The container's other processes die with its init process.
          signalGroup(pid, 'SIGKILL');
          const exitCode = code ?? 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0));
          resolve({ exitCode, signal, finishedAt: new Date() });
        });
      });
      return new ContainerProcess(pid, exited);
    } finally {
      closeSync(log);
    }
  }

  signal(sig: NodeJS.Signals): void {
    signalGroup(this.pid, sig);
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is gone already.
  }
}

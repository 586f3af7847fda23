// Runs `loraplane run` (the built CLI) as a child process for the trainer's process-level tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '../..');
export const TINY_MANIFEST = join(import.meta.dirname, 'finetune-tiny.yaml');
/** Long enough that Prometheus scrapes it several times while it trains, whatever the machine's load. */
export const LONG_MANIFEST = join(import.meta.dirname, 'finetune-long.yaml');

export interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function loraplaneRun(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [join(REPO, 'bin/loraplane.mjs'), 'run', ...args, '--pvc', `examples=${join(REPO, 'examples')}`], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

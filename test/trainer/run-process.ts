// Runs the built trainer as a child process for the trainer's process-level tests: `loraplane run`
// (the local CLI) or `loraplane-trainer` (the pod entry point, its config in the env as the
// operator's pod template puts it).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { TRAINER_CONFIG_ENV, type TrainerConfig } from '@loraplane/api/trainer-contract';

export const REPO = join(import.meta.dirname, '../..');
export const TINY_MANIFEST = join(import.meta.dirname, 'finetune-tiny.yaml');
/** Long enough that Prometheus scrapes it several times while it trains, whatever the machine's load. */
export const LONG_MANIFEST = join(import.meta.dirname, 'finetune-long.yaml');

export interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, args, { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

export function loraplaneRun(args: string[], env: Record<string, string> = {}): Run {
  return start([join(REPO, 'trainer/bin/loraplane.mjs'), 'run', ...args, '--pvc', `examples=${join(REPO, 'examples')}`], env);
}

/** The pod entry point with `config` where the operator puts it; `env` adds credentials, paths... */
export function loraplaneTrainer(config: TrainerConfig, env: Record<string, string> = {}): Run {
  return start([join(REPO, 'trainer/bin/loraplane-trainer.mjs')], { [TRAINER_CONFIG_ENV]: JSON.stringify(config), ...env });
}

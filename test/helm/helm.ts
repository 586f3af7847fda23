// The pinned helm binary (build-helm.sh, built once into ~/.cache/loraplane) and a runner for it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CommandResult } from '../cluster/cluster.js';

export const CHART_DIR = join(import.meta.dirname, '../../charts/loraplane');

let binary: Promise<string> | undefined;

/** The helm binary's path; the first call builds it when the cache has none (minutes, once). */
export function helmBinary(): Promise<string> {
  binary ??= promisify(execFile)('bash', [join(import.meta.dirname, 'build-helm.sh')], { maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout }) => stdout.trim().split('\n').at(-1)!,
  );
  return binary;
}

export interface HelmOptions {
  /** Written to helm's stdin (for `-f -`). */
  input?: string;
  kubeconfig?: string;
}

/** Runs helm; never throws for a non-zero exit. */
export async function helm(args: string[], { input, kubeconfig }: HelmOptions = {}): Promise<CommandResult> {
  const bin = await helmBinary();
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      { env: { ...process.env, ...(kubeconfig === undefined ? {} : { KUBECONFIG: kubeconfig }) }, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
    // helm may exit before reading its input; its exit code says so, not an EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

export async function mustHelm(args: string[], opts?: HelmOptions): Promise<string> {
  const r = await helm(args, opts);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

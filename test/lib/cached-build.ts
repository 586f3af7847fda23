// A tool built from a pinned Go module into ~/.cache/loraplane by its build script, which prints the
// bin dir (a no-op once the cache has it). globalSetups build before any test starts, so no test's
// timeout covers a build, and hand the dir to the workers in an env var; a helper run outside them
// builds on first use.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const lastLine = (stdout: string): string => stdout.trim().split('\n').at(-1)!;

/** The tool's bin dir: from `env`, else built now (synchronously) and remembered there. */
export function cachedBinDir(script: string, env: string): string {
  const known = process.env[env];
  if (known) return known;
  const stdout = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 });
  const dir = lastLine(stdout);
  process.env[env] = dir;
  return dir;
}

/** For a globalSetup: builds unless `env` already names the dir, sets `env`, and says how long a real build took. */
export async function buildBeforeTests(script: string, env: string, label: string): Promise<void> {
  if (process.env[env]) return;
  const t0 = Date.now();
  try {
    const { stdout } = await promisify(execFile)('bash', [script], { maxBuffer: 16 * 1024 * 1024 });
    process.env[env] = lastLine(stdout);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${script} failed: ${e.stderr ?? e.message}`);
  }
  const ms = Date.now() - t0;
  if (ms > 5_000) console.log(`[${label}] built in ${ms} ms (${process.env[env]})`);
}

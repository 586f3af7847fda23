// vitest globalSetup for the e2e project: builds the pinned Kueue (build-kueue.sh; a no-op once
// ~/.cache/loraplane has it) before any test starts, so no test's timeout has to cover a build, and
// hands the bin dir to the workers in LORAPLANE_KUEUE_BIN_DIR. Kueue itself is started by the test files
// that need it (kueue.ts: startKueue), each against its own fixtures. At teardown, a Kueue that a killed
// test worker left behind is stopped and its webhook configurations removed, so nothing in the cluster
// is left calling a webhook that no longer answers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BUILD_SCRIPT, KUEUE_BIN_DIR_ENV, stopLeftoverKueue } from './kueue.js';

export default async function setup(): Promise<() => Promise<void>> {
  if (!process.env[KUEUE_BIN_DIR_ENV]) {
    const t0 = Date.now();
    try {
      const { stdout } = await promisify(execFile)('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024 });
      process.env[KUEUE_BIN_DIR_ENV] = stdout.trim().split('\n').at(-1);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`test/kueue/build-kueue.sh failed: ${e.stderr ?? e.message}`);
    }
    const ms = Date.now() - t0;
    if (ms > 5_000) console.log(`[kueue] built in ${ms} ms (${process.env[KUEUE_BIN_DIR_ENV]})`);
  }
  return async () => {
    // The cluster's teardown runs after this one (globalSetup order), so the API server still answers.
    await stopLeftoverKueue().catch((err: Error) => console.warn(`[kueue] teardown: ${err.message}`));
  };
}

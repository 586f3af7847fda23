// vitest globalSetup for the e2e project: builds the pinned Kueue (build-kueue.sh; a no-op once
// ~/.cache/loraplane has it) before any test starts, so no test's timeout has to cover a build, and
// hands the bin dir to the workers in LORAPLANE_KUEUE_BIN_DIR. Kueue itself is started by the test files
// that need it (kueue.ts: startKueue), each against its own fixtures. At teardown, a Kueue that a killed
// test worker left behind is stopped and its webhook configurations removed, so nothing in the cluster
// is left calling a webhook that no longer answers.
import { buildBeforeTests } from '../lib/cached-build.js';
import { BUILD_SCRIPT, KUEUE_BIN_DIR_ENV, stopLeftoverKueue } from './kueue.js';

export default async function setup(): Promise<() => Promise<void>> {
  await buildBeforeTests(BUILD_SCRIPT, KUEUE_BIN_DIR_ENV, 'kueue');
  return async () => {
    // The cluster's teardown runs after this one (globalSetup order), so the API server still answers.
    await stopLeftoverKueue().catch((err: Error) => console.warn(`[kueue] teardown: ${err.message}`));
  };
}

// vitest globalSetup for the projects whose tests run a real Prometheus or Pushgateway (unit: the trainer's
// metrics; e2e: the whole path): builds both from their pinned Go modules (build-prometheus.sh; a no-op
// once ~/.cache/loraplane has them) before any test starts, so no test's timeout has to cover a build.
// Workers start after this and inherit LORAPLANE_PROMETHEUS_BIN_DIR.
import { buildBeforeTests } from '../lib/cached-build.js';
import { BUILD_SCRIPT, PROMETHEUS_BIN_DIR_ENV } from './binaries.js';

export default async function setup(): Promise<void> {
  await buildBeforeTests(BUILD_SCRIPT, PROMETHEUS_BIN_DIR_ENV, 'metrics');
}

// The pinned prometheus and pushgateway (build-prometheus.sh, built from their Go modules once into
// ~/.cache/loraplane). The unit and e2e projects' globalSetup (global-setup.ts) builds them before any
// test starts and hands the bin dir to the workers in LORAPLANE_PROMETHEUS_BIN_DIR; run outside those
// projects, the first call here builds them (minutes on a fresh machine, then instant).
import { join } from 'node:path';
import { cachedBinDir } from '../lib/cached-build.js';

export const PROMETHEUS_BIN_DIR_ENV = 'LORAPLANE_PROMETHEUS_BIN_DIR';
export const BUILD_SCRIPT = join(import.meta.dirname, 'build-prometheus.sh');

/** The path of the pinned `prometheus` or `pushgateway` binary. */
export const metricsBinary = (name: 'prometheus' | 'pushgateway'): string => join(cachedBinDir(BUILD_SCRIPT, PROMETHEUS_BIN_DIR_ENV), name);

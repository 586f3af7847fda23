// vitest globalSetup for the storage project: a real S3-compatible server (versitygw, see up.sh) for
// the run. up.sh reuses a healthy gateway in $LORAPLANE_STORAGE_DIR and otherwise starts one (building
// it first if the cache has none); at teardown down.sh stops it if this run started it. Set
// LORAPLANE_KEEP_STORAGE=1 to leave it running for a look afterwards.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { storageDir, storageEnv } from './storage.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

const gatewayPid = (): string | undefined => {
  const f = join(storageDir(), 'versitygw.pid');
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
};

export default async function setup(): Promise<() => Promise<void>> {
  const before = gatewayPid();
  const t0 = Date.now();
  try {
    await run('bash', [join(here, 'up.sh')], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`test/storage/up.sh failed: ${e.stderr ?? e.message}`);
  }
  const startedHere = gatewayPid() !== before;
  console.log(`[storage] versitygw ${startedHere ? 'started' : 'reused'} in ${Date.now() - t0} ms (${storageDir()})`);
  // Workers start after this and inherit the environment: endpoint, keys, data dir, access log.
  for (const [k, v] of Object.entries(storageEnv())) if (k.startsWith('LORAPLANE_')) process.env[k] = v;

  return async () => {
    if (!startedHere || process.env.LORAPLANE_KEEP_STORAGE === '1') return;
    await run('bash', [join(here, 'down.sh')]);
  };
}

// The operator process: serves probes and metrics at once, campaigns for the leader Lease, and
// runs the controllers only while leading. SIGTERM drains in-flight reconciles and hands the
// Lease over so the standby replica takes over without waiting for it to expire.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { loadConfig } from './config.js';
import { PooledKubeConfig } from './kube/pooled-kube-config.js';
import { createOperator } from './operator.js';
import { startHttpServer } from './ops/http-server.js';
import { LeaderElector } from './ops/leader-election.js';
import { createLogger } from './ops/logger.js';

const log = createLogger('loraplane-operator');
const cfg = loadConfig();
const kc = new PooledKubeConfig();
kc.loadFromDefault();

const operator = createOperator(kc, cfg, log);
let running = false;

const elector = cfg.LEADER_ELECT
  ? new LeaderElector(
      kc.makeApiClient(CustomObjectsApi),
      {
        namespace: cfg.POD_NAMESPACE,
        name: cfg.LEASE_NAME,
        identity: cfg.POD_NAME,
        leaseDurationSeconds: cfg.LEASE_DURATION_SECONDS,
        renewDeadlineMs: cfg.RENEW_DEADLINE_MS,
        retryPeriodMs: cfg.RETRY_PERIOD_MS,
      },
      {
        onStartedLeading: () => void startControllers(),
        onStoppedLeading: () => {
          // Another replica may already be reconciling: stop at once rather than race it.
          log.fatal('lost leadership; exiting');
          process.exit(1);
        },
      },
      log,
    )
  : undefined;

async function startControllers(): Promise<void> {
  running = true;
  operator.metrics.leader.set(1);
  await operator.start();
}

const server = await startHttpServer(cfg.HTTP_PORT, cfg.HTTP_HOST, operator.metrics.registry, {
  // A standby replica is ready: it can take over at any moment.
  ready: () => !running || operator.synced,
});
log.info({ port: cfg.HTTP_PORT, identity: cfg.POD_NAME, leaderElection: cfg.LEADER_ELECT }, 'operator started');

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    log.error('shutdown timed out; exiting');
    process.exit(1);
  }, cfg.SHUTDOWN_TIMEOUT_MS);
  force.unref();
  if (running) await operator.stop();
  await elector?.release();
  operator.metrics.leader.set(0);
  server.close();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

if (elector) void elector.run();
else void startControllers();

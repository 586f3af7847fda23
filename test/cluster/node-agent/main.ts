// The test node agent: plays the kubelet for the fake nodes in nodes.yaml. Registers them and keeps
// them Ready (nodes.ts) and runs the pods bound to them as local processes (pods.ts, pod-worker.ts).
// Started by test/cluster/up.sh as `node --import tsx test/cluster/node-agent/main.ts` with
// KUBECONFIG, NODE_AGENT_ROOT, NODE_AGENT_NODES and optionally NODE_AGENT_PATH set.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadNodesFile, settingsFromEnv } from './config.js';
import { ClusterDns } from './cluster-dns.js';
import { apiConfigSource } from './config-source.js';
import { ImageStore } from './images.js';
import { IpPool } from './ip-pool.js';
import { connect, errorMessage } from './kube.js';
import { log } from './log.js';
import { MemoryWatcher } from './memory.js';
import { NodeKeeper } from './nodes.js';
import { PodWatch } from './pod-watch.js';
import { PodManager } from './pods.js';

async function main(): Promise<void> {
  const settings = settingsFromEnv();
  const file = loadNodesFile(settings.nodesFile);
  mkdirSync(join(settings.root, 'pods'), { recursive: true });
  const kube = connect();
  const memory = new MemoryWatcher();
  const nodes = new NodeKeeper(kube, file.nodes, settings.heartbeatMs, log);
  const pods = new PodManager(new Map(file.nodes.map((n) => [n.name, n])), {
    kube,
    source: apiConfigSource(kube),
    images: new ImageStore(file.images),
    ips: new IpPool(),
    dns: new ClusterDns(join(settings.root, 'hosts')),
    memory,
    settings,
    log,
  });
  const watch = new PodWatch(kube, pods, log);

  // The cluster is going away with us: kill the pod processes without reporting, as a node that
  // powers off would; the apiserver is stopped right after by down.sh.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    nodes.stop();
    memory.stop();
    pods.killAll();
    void watch.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A bug in one pod's handling must not take the nodes down with it: log and carry on.
  process.on('unhandledRejection', (err) => log.error({ err: errorMessage(err) }, 'unhandled rejection'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  log.info({ nodes: file.nodes.map((n) => n.name), root: settings.root, path: settings.commandPath }, 'starting');
  await nodes.start(join(settings.root, 'nodes'));
  watch.start();
}

main().catch((err: unknown) => {
  log.fatal({ err: errorMessage(err) }, 'node agent failed');
  process.exit(1);
});

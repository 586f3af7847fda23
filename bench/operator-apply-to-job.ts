// Benchmark: time from creating N FineTuneJobs to their trainer Jobs existing, for N = 1, 100, 1000,
// and the operator's memory at 1000. The peer, measured in the same run on the same control plane:
// a client creating the same N Jobs directly, so the ratio is the operator's overhead over the
// API server's own cost. Run: npm run bench:operator (starts the test control plane if needed).
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, Watch, type V1Job } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderTrainerJob } from '@loraplane/operator/finetunejob/render-job';
import { fineTuneJob } from '@loraplane/api/finetunejob';
import { startOperator, OPERATOR_NAMESPACE } from '../test/e2e/support/operator-process.js';

const repo = join(import.meta.dirname, '..');
const SIZES = (process.env.BENCH_SIZES ?? '1,100,1000').split(',').map(Number);
const CONCURRENCY = 16;

execFileSync('bash', [join(repo, 'test/cluster/up.sh')], { stdio: 'inherit' });
const clusterDir = process.env.LORAPLANE_CLUSTER_DIR ?? '/tmp/loraplane-cluster';
const kubeconfig = join(clusterDir, 'kubeconfig');
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const kubectl = join(
  execFileSync('bash', [join(repo, 'test/cluster/build-binaries.sh')])
    .toString()
    .trim(),
  'kubectl',
);
execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds')], { stdio: 'ignore' });
execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for=condition=Established', 'crd/finetunejobs.loraplane.io'], { stdio: 'ignore' });
await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }).catch(() => undefined);

const example = parseAllDocuments(readFileSync(join(repo, 'examples/finetune.yaml'), 'utf8'))
  .map((d) => d.toJS())
  .find((d) => d.kind === 'FineTuneJob');

async function pool<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Arrival time of each Job in ns by its FineTuneJob label, once n have arrived. */
function watchJobs(ns: string, n: number): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  return new Promise((resolve) => {
    void new Watch(kc).watch(
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      {},
      (type: string, job: V1Job) => {
        if (type !== 'ADDED') return;
        times.set(job.metadata!.labels!['loraplane.io/finetunejob']!, performance.now());
        if (times.size === n) resolve(times);
      },
      () => {},
    );
  });
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function operatorRun(n: number, ns: string) {
  const names = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const arrived = watchJobs(ns, n);
  const createdAt = new Map<string, number>();
  const t0 = performance.now();
  await pool(names, async (name) => {
    createdAt.set(name, performance.now());
    await custom.createNamespacedCustomObject({
      group: 'loraplane.io',
      version: 'v1alpha1',
      plural: 'finetunejobs',
      namespace: ns,
      body: { ...example, metadata: { name }, spec: { ...example.spec, suspend: true } },
    });
  });
  const times = await arrived;
  const latencies = names.map((name) => times.get(name)! - createdAt.get(name)!);
  return { totalMs: Math.max(...times.values()) - t0, p50Ms: quantile(latencies, 0.5), p95Ms: quantile(latencies, 0.95) };
}

async function directRun(n: number, ns: string) {
  const arrived = watchJobs(ns, n);
  const template = fineTuneJob.parse({ ...example, metadata: { name: 'x', namespace: ns, uid: 'u' } });
  const jobs: V1Job[] = Array.from({ length: n }, (_, i) => {
    const job = renderTrainerJob(
      { ...template, metadata: { ...template.metadata, name: `direct-${i}`, namespace: ns, uid: `uid-${i}` } },
      {
        image: 'ghcr.io/loraplane/trainer:0.1.0',
        serviceAccountName: 'default',
        imagePullPolicy: 'IfNotPresent',
      },
    );
    return { ...job, metadata: { ...job.metadata, ownerReferences: undefined }, spec: { ...job.spec!, suspend: true } };
  });
  const t0 = performance.now();
  await pool(jobs, (body) => batch.createNamespacedJob({ namespace: ns, body }));
  const times = await arrived;
  return { totalMs: Math.max(...times.values()) - t0 };
}

// The operator serves only the benchmark's namespaces, so leftovers elsewhere on the cluster cannot skew it.
const stamp = Date.now();
const namespaces = SIZES.map((n, i) => ({ n, op: `bench-op-${n}-${i}-${stamp}`, direct: `bench-direct-${n}-${i}-${stamp}` }));
for (const { op, direct } of namespaces) for (const name of [op, direct]) await core.createNamespace({ body: { metadata: { name } } });
const operator = await startOperator(kubeconfig, `bench-${stamp}`, {
  LEADER_ELECT: 'false',
  LOG_LEVEL: 'warn',
  WATCH_NAMESPACES: namespaces.map((x) => x.op).join(','),
});
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${operator.child.pid}/status`, 'utf8'))![1]) / 1024;
const rows: string[] = [];
let memoryAtMax = 0;
for (const { n, op: nsOp, direct: nsDirect } of namespaces) {
  const direct = await directRun(n, nsDirect);
  const op = await operatorRun(n, nsOp);
  if (n === Math.max(...SIZES)) memoryAtMax = rssMiB();
  rows.push(
    `| ${n} | ${op.totalMs.toFixed(0)} | ${op.p50Ms.toFixed(0)} / ${op.p95Ms.toFixed(0)} | ${direct.totalMs.toFixed(0)} | ${(op.totalMs / direct.totalMs).toFixed(2)} |`,
  );
}
await operator.stop();
for (const { op, direct } of namespaces) for (const name of [op, direct]) await core.deleteNamespace({ name }).catch(() => undefined);

console.log('\n| FineTuneJobs | create → all Jobs exist (ms) | p50 / p95 create → Job (ms) | direct Job creation, same N (ms) | ratio operator/direct |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\noperator RSS after ${Math.max(...SIZES)} FineTuneJobs: ${memoryAtMax.toFixed(0)} MiB (node ${process.version}, ${CONCURRENCY} concurrent creates)`,
);
process.exit(0);

// Benchmark: the operator's control path against the API server's own cost, for N = 1, 100, 1000.
//   create → Job:      creating N FineTuneJobs (suspended) until each one's trainer Job exists. Peer: a client
//                      creating the same N Jobs (the operator's own rendering) directly.
//   create → admitted: creating N FineTuneJobs with spec.queueName until Kueue has admitted each one's
//                      Workload. Peer: the same N Jobs created directly with the kueue.x-k8s.io/queue-name
//                      label, suspended, admitted by the same Kueue.
// Per FineTuneJob latencies (p50/p95/p99), the operator's API writes per FineTuneJob (its Job, status
// patches and Events, counted from watches once the run settles) and its RSS after the largest N.
// The peers and every operator build run in the same process against the same control plane, size by
// size, so they see the same machine state: BENCH_BASELINE=<dir with operator/dist/main.js> adds an
// older build as a second operator (how before/after numbers are taken). Kueue (test/kueue) runs only
// for the admitted half: its Job webhooks would otherwise sit in the path of every Job created.
// Run: npm run bench:operator (starts the test control plane if needed; BENCH_SIZES=1,100 for less).
import { BatchV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions, type CoreV1Event, type V1Job } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { renderTrainerJob } from '@loraplane/operator/finetunejob/render-job';
import { PooledKubeConfig } from '@loraplane/operator/kube/pooled-kube-config';
import { fineTuneJob } from '@loraplane/api/finetunejob';
import { startOperator, OPERATOR_NAMESPACE, TRAINER_STANDIN_IMAGE, type OperatorProcess } from '../test/e2e/support/operator-process.js';

const repo = join(import.meta.dirname, '..');
const SIZES = (process.env.BENCH_SIZES ?? '1,100,1000').split(',').map(Number);
const KUEUE = process.env.BENCH_KUEUE !== '0';
const CONCURRENCY = 16;
const QUEUE = 'bench';
const KUEUE_GROUP = 'kueue.x-k8s.io/v1beta2';

process.env.LORAPLANE_CLUSTER_DIR ??= '/tmp/loraplane-cluster';
execFileSync('bash', [join(repo, 'test/cluster/up.sh')], { stdio: 'inherit' });
const clusterDir = process.env.LORAPLANE_CLUSTER_DIR;
const kubeconfig = join(clusterDir, 'kubeconfig');
// The peer reuses its connections as the operator does (and as client-go and kubectl do).
const kc = new PooledKubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const binDir = execFileSync('bash', [join(repo, 'test/cluster/build-binaries.sh')])
  .toString()
  .trim();
process.env.LORAPLANE_BIN_DIR ??= binDir;
const kubectl = (args: string[], input?: string) =>
  execFileSync(join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], {
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit'],
  });
kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repo, 'crds')]);
kubectl(['wait', '--for=condition=Established', 'crd/finetunejobs.loraplane.io']);
await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }).catch(() => undefined);

type Ftj = { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec: Record<string, unknown> & { resources: Record<string, unknown> } };
const example = parseAllDocuments(readFileSync(join(repo, 'examples/finetune.yaml'), 'utf8'))
  .map((d) => d.toJS())
  .find((d) => d.kind === 'FineTuneJob') as Ftj;
/** The FineTuneJob each run creates: suspended for create → Job; in the bench LocalQueue for create → admitted. */
const ftjSpec = (queued: boolean) => {
  // No GPU product: Kueue's flavor decides where a queued trainer goes.
  const { gpuProduct: _dropped, ...resources } = example.spec.resources;
  return queued ? { ...example.spec, resources, queueName: QUEUE, suspend: false } : { ...example.spec, suspend: true };
};

async function pool<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Collects one collection's watch events until stop(); a watch the server or client-node's inactivity timeout ends resumes from the last resourceVersion. */
function watch<T extends { metadata?: { resourceVersion?: string } }>(path: string, on: (type: string, obj: T) => void) {
  let req: AbortController | undefined;
  let stopped = false;
  let resourceVersion: string | undefined;
  const start = (): Promise<void> =>
    new Watch(kc)
      .watch(
        path,
        { resourceVersion, allowWatchBookmarks: true },
        (type: string, obj: T) => {
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          if (type !== 'BOOKMARK' && type !== 'ERROR') on(type, obj);
        },
        () => void (stopped || setTimeout(() => void start(), 100)),
      )
      .then((r) => {
        req = r;
      });
  const started = start();
  return {
    started,
    stop: () => {
      stopped = true;
      req?.abort();
    },
  };
}

/** Resolves with each key's arrival time (performance.now()) once n keys have arrived. */
function arrivals(n: number) {
  const times = new Map<string, number>();
  let resolve!: (m: Map<string, number>) => void;
  const all = new Promise<Map<string, number>>((r) => (resolve = r));
  return {
    all,
    add(key: string) {
      if (times.has(key)) return;
      times.set(key, performance.now());
      if (times.size === n) resolve(times);
    },
  };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
interface Run {
  totalMs: number;
  p50: number;
  p95: number;
  p99: number;
  writesPerJob?: number;
  /** CPU milliseconds per FineTuneJob (or direct Job) by process, from the first create until the run settled. */
  cpuMsPerJob: Record<string, number>;
}
function summarize(latencies: number[], totalMs: number, cpu: Record<string, number>, writesPerJob?: number): Run {
  return {
    totalMs,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    cpuMsPerJob: Object.fromEntries(Object.entries(cpu).map(([who, ms]) => [who, ms / latencies.length])),
    ...(writesPerJob === undefined ? {} : { writesPerJob }),
  };
}

// Where a run's time goes on two shared cores: the CPU each process used, read from /proc (utime + stime).
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const cpuPids = new Map<string, number>();
for (const file of readdirSync(join(clusterDir, 'pids')))
  if (!file.startsWith('node-agent')) cpuPids.set(file.replace(/\.pid$/, ''), Number(readFileSync(join(clusterDir, 'pids', file), 'utf8')));
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
/** Starts a CPU account; calling the result gives each process's CPU milliseconds since. */
function cpuAccount(): () => Record<string, number> {
  const at = (): Record<string, number> => {
    const self = process.cpuUsage();
    return { ...Object.fromEntries([...cpuPids].map(([who, pid]) => [who, cpuMs(pid)])), client: (self.user + self.system) / 1000 };
  };
  const start = at();
  return () => Object.fromEntries(Object.entries(at()).map(([who, ms]) => [who, ms - (start[who] ?? 0)]));
}

type Wl = {
  metadata?: { resourceVersion?: string; ownerReferences?: { kind: string; name: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
};
const admitted = (wl: { status?: { conditions?: { type: string; status: string }[] } }) =>
  wl.status?.conditions?.some((c) => c.type === 'Admitted' && c.status === 'True');
const ownerJob = (wl: { metadata?: { ownerReferences?: { kind: string; name: string }[] } }) =>
  wl.metadata?.ownerReferences?.find((o) => o.kind === 'Job')?.name;

/** Until the namespace's FineTuneJobs and Events have been quiet for 3 s (at most 120 s): the operator's writes, counted. */
async function settledWrites(ns: string, n: number, statusWrites: () => number): Promise<number> {
  let last = -1;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { items } = await core.listNamespacedEvent({ namespace: ns });
    const events = items.filter((e: CoreV1Event) => e.source?.component === 'loraplane-operator' || e.reportingComponent === 'loraplane-operator');
    const total = n + statusWrites() + events.reduce((s, e) => s + (e.count ?? 1), 0);
    if (total === last || Date.now() > deadline) return total / n;
    last = total;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

async function operatorRun(n: number, ns: string, queued: boolean): Promise<Run> {
  const names = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const ftjOfJob = new Map<string, string>();
  const jobs = arrivals(n);
  const admissions = arrivals(n);
  const pendingAdmission = new Set<string>();
  let statusWrites = 0;
  const watches = [
    watch<V1Job>(`/apis/batch/v1/namespaces/${ns}/jobs`, (type, job) => {
      if (type !== 'ADDED') return;
      const owner = job.metadata!.labels!['loraplane.io/finetunejob']!;
      ftjOfJob.set(job.metadata!.name!, owner);
      jobs.add(owner);
      // A Workload admitted before its Job's watch event arrived.
      if (pendingAdmission.delete(job.metadata!.name!)) admissions.add(owner);
    }),
    watch<{ metadata?: { resourceVersion?: string } }>(
      `/apis/loraplane.io/v1alpha1/namespaces/${ns}/finetunejobs`,
      (type) => void (type === 'MODIFIED' && statusWrites++),
    ),
    ...(queued
      ? [
          watch<Wl>(`/apis/${KUEUE_GROUP}/namespaces/${ns}/workloads`, (_type, wl) => {
            const job = ownerJob(wl);
            if (!job || !admitted(wl)) return;
            const owner = ftjOfJob.get(job);
            if (owner) admissions.add(owner);
            else pendingAdmission.add(job);
          }),
        ]
      : []),
  ];
  await Promise.all(watches.map((w) => w.started));
  const createdAt = new Map<string, number>();
  const cpu = cpuAccount();
  const t0 = performance.now();
  await pool(names, async (name) => {
    createdAt.set(name, performance.now());
    await custom.createNamespacedCustomObject({
      group: 'loraplane.io',
      version: 'v1alpha1',
      plural: 'finetunejobs',
      namespace: ns,
      body: { ...example, metadata: { name }, spec: ftjSpec(queued) },
    });
  });
  const times = await (queued ? admissions : jobs).all;
  const latencies = names.map((name) => times.get(name)! - createdAt.get(name)!);
  const totalMs = Math.max(...times.values()) - t0;
  const writes = await settledWrites(ns, n, () => statusWrites);
  const used = cpu();
  for (const w of watches) w.stop();
  return summarize(latencies, totalMs, used, writes);
}

/** The trainer Job the operator would render for the bench FineTuneJob, created directly: no owner, suspended. */
function directJob(namespace: string, name: string, queued: boolean): V1Job {
  const template = fineTuneJob.parse({ ...example, spec: ftjSpec(queued), metadata: { name, namespace, uid: `uid-${name}` } });
  const job = renderTrainerJob(
    { ...template, metadata: { ...template.metadata, namespace, uid: `uid-${name}` } },
    { image: TRAINER_STANDIN_IMAGE, serviceAccountName: 'default', imagePullPolicy: 'IfNotPresent' },
  );
  return { ...job, metadata: { ...job.metadata, ownerReferences: undefined }, spec: { ...job.spec!, suspend: true } };
}

async function directRun(n: number, ns: string, queued: boolean): Promise<Run> {
  const jobs = Array.from({ length: n }, (_, i) => directJob(ns, `direct-${i}`, queued));
  const arrived = arrivals(n);
  const w = queued
    ? watch<Wl>(`/apis/${KUEUE_GROUP}/namespaces/${ns}/workloads`, (_type, wl) => {
        const job = ownerJob(wl);
        if (job && admitted(wl)) arrived.add(job);
      })
    : watch<V1Job>(`/apis/batch/v1/namespaces/${ns}/jobs`, (type, job) => void (type === 'ADDED' && arrived.add(job.metadata!.name!)));
  await w.started;
  const createdAt = new Map<string, number>();
  const cpu = cpuAccount();
  const t0 = performance.now();
  await pool(jobs, async (body) => {
    createdAt.set(body.metadata!.name!, performance.now());
    await batch.createNamespacedJob({ namespace: ns, body });
  });
  const times = await arrived.all;
  // As long as the operator runs' settling (3 quiet seconds): the Job controller's and Kueue's follow-up writes count too.
  await new Promise((r) => setTimeout(r, 3000));
  const used = cpu();
  w.stop();
  return summarize(
    jobs.map((j) => times.get(j.metadata!.name!)! - createdAt.get(j.metadata!.name!)!),
    Math.max(...times.values()) - t0,
    used,
  );
}

/** One cluster-wide ClusterQueue with quota for every benchmark job, a LocalQueue per namespace. Its flavor's node label
 * matches no node: an admitted trainer's pod stays Pending (unschedulable) instead of starting a process on these two cores. */
function kueuePlatform(namespaces: string[]) {
  return [
    { apiVersion: KUEUE_GROUP, kind: 'ResourceFlavor', metadata: { name: 'bench-nowhere' }, spec: { nodeLabels: { 'loraplane.io/bench': 'nowhere' } } },
    {
      apiVersion: KUEUE_GROUP,
      kind: 'ClusterQueue',
      metadata: { name: 'bench' },
      spec: {
        namespaceSelector: {},
        queueingStrategy: 'BestEffortFIFO',
        resourceGroups: [
          {
            coveredResources: ['nvidia.com/gpu', 'cpu', 'memory'],
            flavors: [
              {
                name: 'bench-nowhere',
                resources: [
                  { name: 'nvidia.com/gpu', nominalQuota: 100_000 },
                  { name: 'cpu', nominalQuota: 1_000_000 },
                  { name: 'memory', nominalQuota: '100000Ti' },
                ],
              },
            ],
          },
        ],
      },
    },
    ...namespaces.map((namespace) => ({ apiVersion: KUEUE_GROUP, kind: 'LocalQueue', metadata: { name: QUEUE, namespace }, spec: { clusterQueue: 'bench' } })),
  ];
}

// Each operator build serves only its own namespaces, so neither sees the other's objects nor leftovers elsewhere.
const builds = [
  ...(process.env.BENCH_BASELINE ? [{ label: 'baseline', main: join(process.env.BENCH_BASELINE, 'operator/dist/main.js') }] : []),
  { label: process.env.BENCH_BASELINE ? 'current' : 'operator', main: join(repo, 'operator/dist/main.js') },
];
const stamp = Date.now();
const created: string[] = [];
async function namespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  created.push(name);
  return name;
}

const operatorKey = (label: string) => `operator ${label}`;
interface Phase {
  queued: boolean;
  rows: { n: number; direct: Run; ops: Run[] }[];
  rssMiB: number[];
  /** The operators' V8 heap (used of allocated) when their RSS was read. */
  heapMiB: { used: number; total: number }[];
}
async function phase(queued: boolean): Promise<Phase> {
  const tag = queued ? 'q' : 'j';
  const plan = SIZES.map((n, i) => ({
    n,
    direct: `bench-${tag}-direct-${n}-${i}-${stamp}`,
    ops: builds.map((_, b) => `bench-${tag}-op${b}-${n}-${i}-${stamp}`),
  }));
  for (const p of plan) for (const ns of [p.direct, ...p.ops]) await namespace(ns);
  if (queued)
    kubectl(
      ['apply', '-f', '-'],
      kueuePlatform(plan.flatMap((p) => [p.direct, ...p.ops]))
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
  const operators: OperatorProcess[] = [];
  for (const [b, build] of builds.entries()) {
    operators.push(
      await startOperator(
        kubeconfig,
        `bench-${tag}-${build.label}-${stamp}`,
        {
          LEADER_ELECT: 'false',
          LOG_LEVEL: 'warn',
          WATCH_NAMESPACES: plan.map((p) => p.ops[b]).join(','),
          ALLOWED_S3_ENDPOINTS: 'http://127.0.0.1:1',
        },
        build.main,
      ),
    );
    cpuPids.set(operatorKey(build.label), operators.at(-1)!.child.pid!);
  }
  const rows: Phase['rows'] = [];
  // Each operator's memory is read right after its own run, the same moment of its life for every build: read at
  // the end, an operator that ran earlier has had time to collect its garbage and the last one has not.
  const rssMiB: number[] = [];
  const heapMiB: { used: number; total: number }[] = [];
  for (const p of plan) {
    const direct = await directRun(p.n, p.direct, queued);
    const ops: Run[] = [];
    for (const b of builds.keys()) {
      ops.push(await operatorRun(p.n, p.ops[b]!, queued));
      const o = operators[b]!;
      rssMiB[b] = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${o.child.pid}/status`, 'utf8'))![1]) / 1024;
      heapMiB[b] = { used: (await o.metric('nodejs_heap_size_used_bytes')) / 2 ** 20, total: (await o.metric('nodejs_heap_size_total_bytes')) / 2 ** 20 };
    }
    rows.push({ n: p.n, direct, ops });
    console.log(
      `[bench] ${queued ? 'create → admitted' : 'create → Job'} N=${p.n}: direct ${direct.totalMs.toFixed(0)} ms, ${builds.map((b, i) => `${b.label} ${ops[i]!.totalMs.toFixed(0)} ms`).join(', ')}`,
    );
  }
  for (const o of operators) await o.stop();
  for (const build of builds) cpuPids.delete(operatorKey(build.label));
  return { queued, rows, rssMiB, heapMiB };
}

/**
 * API-server CPU per request of each kind the two paths make, one kind at a time in a quiet namespace (no
 * operator, 8 at a time): what a FineTuneJob costs the API server beside the Job it becomes.
 */
async function apiServerCostPerRequest(n = 200): Promise<Record<string, number>> {
  const ns = await namespace(`bench-cost-${stamp}`);
  const apiserver = cpuPids.get('kube-apiserver')!;
  const group = { group: 'loraplane.io', version: 'v1alpha1', plural: 'finetunejobs', namespace: ns };
  const kinds: [string, (i: number) => Promise<unknown>][] = [
    [
      "Job create (with the Job controller's status write and event)",
      (i) => batch.createNamespacedJob({ namespace: ns, body: directJob(ns, `job-${i}`, false) }),
    ],
    [
      'FineTuneJob create',
      (i) => custom.createNamespacedCustomObject({ ...group, body: { ...example, metadata: { name: `ftj-${i}` }, spec: ftjSpec(false) } }),
    ],
    [
      'FineTuneJob status patch',
      (i) =>
        custom.patchNamespacedCustomObjectStatus(
          { ...group, name: `ftj-${i}`, body: { status: { phase: 'Suspended', message: 'bench', observedGeneration: 1 } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
    ],
    [
      'Event create',
      (i) =>
        core.createNamespacedEvent({
          namespace: ns,
          body: {
            metadata: { generateName: `ftj-${i}.` },
            involvedObject: { apiVersion: 'loraplane.io/v1alpha1', kind: 'FineTuneJob', name: `ftj-${i}`, namespace: ns },
            type: 'Normal',
            reason: 'JobCreated',
            message: 'bench',
            source: { component: 'bench' },
          },
        }),
    ],
  ];
  const cost: Record<string, number> = {};
  for (const [kind, request] of kinds) {
    const before = cpuMs(apiserver);
    for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, k) => request(i + k)));
    // The Job controller's follow-up writes (status, Suspended event) for created Jobs land in the Job's share.
    await new Promise((r) => setTimeout(r, 3000));
    cost[kind] = (cpuMs(apiserver) - before) / n;
  }
  return cost;
}

const results = [await phase(false)];
const requestCost = await apiServerCostPerRequest();
let stopKueue: (() => Promise<void>) | undefined;
if (KUEUE) {
  const { startKueue } = await import('../test/kueue/kueue.js');
  const kueue = await startKueue();
  cpuPids.set('kueue', kueue.pid);
  stopKueue = () => kueue.stop();
  results.push(await phase(true));
}

const f = (x: number) => x.toFixed(0);
const model = cpus()[0]?.model ?? 'unknown';
console.log(`\n${model}, ${cpus().length} cores, node ${process.version}, ${CONCURRENCY} concurrent creates; latencies in ms`);
console.log(
  `\nAPI-server CPU per request (ms, 200 of each, 8 at a time): ${Object.entries(requestCost)
    .map(([kind, ms]) => `${kind} ${ms.toFixed(1)}`)
    .join(', ')}`,
);
for (const { queued, rows, rssMiB, heapMiB } of results) {
  const what = queued ? 'create → admitted by Kueue' : 'create → Job exists';
  console.log(`\n### ${what}\n`);
  console.log(`| N | who | all done (ms) | p50 | p95 | p99 | ratio to direct (all done) | ratio p50 | API writes per FineTuneJob |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { n, direct, ops } of rows) {
    console.log(`| ${n} | direct Jobs | ${f(direct.totalMs)} | ${f(direct.p50)} | ${f(direct.p95)} | ${f(direct.p99)} | 1.00 | 1.00 | 1 |`);
    for (const [i, op] of ops.entries()) {
      console.log(
        `| ${n} | ${builds[i]!.label} | ${f(op.totalMs)} | ${f(op.p50)} | ${f(op.p95)} | ${f(op.p99)} | ${(op.totalMs / direct.totalMs).toFixed(2)} | ${(op.p50 / direct.p50).toFixed(2)} | ${op.writesPerJob!.toFixed(2)} |`,
      );
    }
  }
  const processes = [...new Set(rows.flatMap((r) => Object.keys(r.direct.cpuMsPerJob)))].filter((who) => who !== 'client' && !who.startsWith('operator '));
  console.log(`\nCPU ms per FineTuneJob (direct: per Job), first create until settled:\n`);
  console.log(`| N | who | ${processes.join(' | ')} | operator | client | all |`);
  console.log(`|---|---|${processes.map(() => '---|').join('')}---|---|---|`);
  const cpuRow = (n: number, who: string, cpu: Record<string, number>, operator: number) =>
    console.log(
      `| ${n} | ${who} | ${processes.map((p) => (cpu[p] ?? 0).toFixed(1)).join(' | ')} | ${operator.toFixed(1)} | ${cpu.client!.toFixed(1)} | ${(processes.reduce((s, p) => s + (cpu[p] ?? 0), 0) + operator + cpu.client!).toFixed(1)} |`,
    );
  for (const { n, direct, ops } of rows) {
    cpuRow(n, 'direct Jobs', direct.cpuMsPerJob, 0);
    for (const [i, op] of ops.entries()) cpuRow(n, builds[i]!.label, op.cpuMsPerJob, op.cpuMsPerJob[operatorKey(builds[i]!.label)] ?? 0);
  }
  console.log(
    `\noperator RSS after ${SIZES.reduce((a, b) => a + b, 0)} FineTuneJobs (${what}): ${builds.map((b, i) => `${b.label} ${f(rssMiB[i]!)} MiB (V8 heap ${f(heapMiB[i]!.used)} MiB used of ${f(heapMiB[i]!.total)})`).join(', ')}`,
  );
}

// Namespaces go while Kueue still runs: it removes its finalizers from their Workloads.
await Promise.all(created.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
if (stopKueue) {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline && (await core.listNamespace()).items.some((n) => created.includes(n.metadata!.name!)))
    await new Promise((r) => setTimeout(r, 2000));
  kubectl(['delete', '--ignore-not-found', 'clusterqueue/bench', 'resourceflavor/bench-nowhere']);
  await stopKueue();
}
process.exit(0);

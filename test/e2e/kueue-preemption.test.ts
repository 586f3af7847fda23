// Priority preemption that resumes, on the real Kueue (test/kueue) and the real trainer (CPU backend,
// the bundled tiny model and dataset in the real S3 server): a low-priority FineTuneJob holds all of
// its ClusterQueue's GPU quota; a high-priority one (spec.workloadPriorityClassName) arrives in the same
// queue; Kueue preempts the low one, suspending its Job: the trainer gets SIGTERM, stores a checkpoint
// in S3 and exits, and the FineTuneJob shows Kueue's Preempted and by whom. When the high one has
// finished, Kueue admits the low one again; its new pod (an empty scratch volume) restores the newest
// checkpoint from S3, resumes, and writes exactly the adapter an uninterrupted run of the same spec writes.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '@loraplane/trainer/checkpoint-store';
import { clusterDir, kubectl, loadKubeConfig, podDir, waitFor } from '../cluster/cluster.js';
import { names, type Platform } from '../kueue/fixtures.js';
import { applyPlatform, deletePlatform } from '../kueue/platform.js';
import { startKueue, type KueueProcess } from '../kueue/kueue.js';
import { client } from '../storage/storage.js';
import { exampleForTestServer, stageExampleSources } from './support/example-storage.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { recordPhases } from './support/phases.js';
import { freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Condition = { type: string; status: string; reason: string; message: string };
type Ftj = {
  metadata: { name: string };
  status?: {
    phase?: string;
    message?: string;
    conditions?: Condition[];
    admission?: Json;
    attempts?: number;
    preemptions?: number;
    checkpoint?: { step: number; uri: string };
    result?: { digest?: string; uri?: string };
  };
};
type Pod = {
  metadata: { name: string; uid: string; creationTimestamp: string };
  status: { phase: string; containerStatuses?: { state?: { terminated?: { exitCode: number } } }[] };
};

const TRAINER_IMAGE = 'ghcr.io/loraplane/trainer:0.1.0';
const BUCKET = 'adapters';
/** A short run with frequent checkpoints (as test/trainer/finetune-tiny.yaml, a few steps longer): checkpoint-3 exists well before the end, so the preemption lands mid-run. */
const TRAINING = {
  maxSteps: 18,
  batchSize: 4,
  gradientAccumulationSteps: 2,
  learningRate: 0.002,
  maxSeqLength: 256,
  evalSteps: 4,
  saveSteps: 3,
  saveTotalLimit: 2,
};

let kc: KubeConfig;
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
let platform: Platform;
let s3: S3Client;
let team: string;
let solo: string;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of test documents, deliberately invalid ones included, at any depth
type Spec = Record<string, any>;
const example = () => exampleForTestServer();
/** examples/finetune.yaml, with the real trainer and the short run, its adapter under `prefix`. */
function realFtj(name: string, prefix: string, queue?: { queueName: string; workloadPriorityClassName: string }): Json {
  const ftj = structuredClone(example().find((d) => d.kind === 'FineTuneJob')!) as Json & { spec: Spec };
  ftj.spec.training = { ...TRAINING };
  ftj.spec.lora = { r: 8, alpha: 16, dropout: 0.05 };
  ftj.spec.resources.gpus = 1;
  delete ftj.spec.resources.gpuProduct;
  ftj.spec.trainer = { image: TRAINER_IMAGE };
  ftj.spec.output.adapterName = name;
  ftj.spec.output.storage.s3.prefix = prefix;
  if (queue) Object.assign(ftj.spec, queue);
  return { ...ftj, metadata: { name } };
}

/** The stand-in trainer (the operator's default here) on one GPU for `seconds`, at high priority. */
function urgentFtj(name: string): Json {
  const ftj = structuredClone(example().find((d) => d.kind === 'FineTuneJob')!) as Json & { spec: Spec };
  ftj.spec.resources.gpus = 1;
  delete ftj.spec.resources.gpuProduct;
  ftj.spec.trainer = { env: [{ name: 'STANDIN_DURATION_SECONDS', value: '3' }] };
  ftj.spec.output.adapterName = name;
  ftj.spec.output.storage.s3.prefix = `kueue-preemption/${name}`;
  ftj.spec.queueName = names(platform).localQueue;
  ftj.spec.workloadPriorityClassName = names(platform).priority.high;
  return { ...ftj, metadata: { name } };
}

const getFtj = (ns: string, name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
const condition = (ftj: Ftj, type: string) => ftj.status?.conditions?.find((c) => c.type === type);
const podsOf = async (ns: string, name: string) =>
  (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items.sort((a, b) =>
    a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp),
  );

function waitForFtj(ns: string, name: string, what: string, ok: (f: Ftj) => boolean, timeoutMs = 60_000): Promise<Ftj> {
  return waitFor(
    async () => {
      const f = await getFtj(ns, name);
      if (f.status?.phase === 'Failed') throw new Error(`FineTuneJob ${ns}/${name} failed: ${JSON.stringify(f.status)}`);
      return ok(f) ? f : undefined;
    },
    { timeoutMs, intervalMs: 500, description: `FineTuneJob ${ns}/${name}: ${what}` },
  );
}

async function sha256Of(key: string): Promise<string> {
  const body = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray();
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

const checkpointsAt = (prefix: string) =>
  new CheckpointStore({
    client: s3,
    bucket: BUCKET,
    outputPrefix: prefix,
    stateDir: join(clusterDir(), 'kueue-preemption-state'),
    log: pino({ level: 'silent' }),
  }).list();

const containerLog = (ns: string, pod: Pod) => {
  const file = join(podDir(ns, pod.metadata.name, pod.metadata.uid), 'container.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

beforeAll(async () => {
  kc = loadKubeConfig();
  s3 = client();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  const [k] = await Promise.all([startKueue(), stageExampleSources(s3)]);
  kueue = k;
  team = await freshNamespace('team-p');
  solo = await freshNamespace('solo');
  platform = {
    prefix: `preempt-${process.pid % 10000}-${Date.now() % 100000}`,
    // One GPU of quota: the low-priority job holds all of it.
    teams: [{ name: 'team-p', namespace: team, gpus: 1 }],
  };
  await applyPlatform(platform);
  const secret = example().find((d) => d.kind === 'Secret')!;
  for (const ns of [team, solo]) await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(secret));
  operator = await startOperator(process.env.LORAPLANE_E2E_KUBECONFIG!, 'operator-kueue-preemption', { PROGRESS_INTERVAL_SECONDS: '1' });
});

afterAll(async () => {
  await operator?.stop();
  if (platform) await deletePlatform(platform, [team, solo]);
  await kueue?.stop();
});

describe('Kueue priority preemption of a real fine-tune', () => {
  it('the preempted low-priority job checkpoints, is admitted again, resumes, and writes the adapter of an uninterrupted run', async () => {
    const n = names(platform);
    const clusterQueue = n.clusterQueue(platform.teams[0]!);
    const lowPrefix = 'kueue-preemption/sweep';
    const soloPrefix = 'kueue-preemption/solo';

    // The same spec, uninterrupted (no queue), beside the low-priority one.
    await mustKubectl(['apply', '-n', solo, '-f', '-'], toYaml(realFtj('sweep', soloPrefix)));
    const recorder = await recordPhases(kc, team, 'sweep');
    await mustKubectl(
      ['apply', '-n', team, '-f', '-'],
      toYaml(realFtj('sweep', lowPrefix, { queueName: n.localQueue, workloadPriorityClassName: n.priority.low })),
    );
    const running = await waitForFtj(team, 'sweep', 'Running, admitted', (f) => f.status?.phase === 'Running' && condition(f, 'Admitted')?.status === 'True');
    expect(condition(running, 'Admitted')!.message).toBe(`admitted by ClusterQueue ${clusterQueue} (flavor ${n.flavor} for memory, nvidia.com/gpu)`);
    // Kueue took the priority from the Job's label.
    const workloads = await getJson<{ items: { spec: { priorityClassRef?: { name: string }; priority?: number } }[] }>([
      'get',
      'workloads.kueue.x-k8s.io',
      '-n',
      team,
    ]);
    expect(workloads.items).toHaveLength(1);
    expect(workloads.items[0]!.spec).toMatchObject({ priorityClassRef: { name: n.priority.low }, priority: 100 });
    // The first trainer pod (the Job controller deletes it when Kueue suspends the Job; its log stays on the node).
    const [first, ...others] = await podsOf(team, 'sweep');
    expect(others).toEqual([]);

    // Once checkpoint-3 is in S3 and training is past it, the high-priority job arrives in the same queue.
    await waitFor(async () => ((await checkpointsAt(lowPrefix)).some((c) => c.step === 3 && c.complete) ? true : undefined), {
      timeoutMs: 150_000,
      intervalMs: 500,
      description: 'checkpoint-3 of the low-priority job in S3',
    });
    await mustKubectl(['apply', '-n', team, '-f', '-'], toYaml(urgentFtj('urgent')));

    // Kueue preempts the low one: Preempted, by whom, in Kueue's words; the Job suspended, the trainer stopped.
    const preempted = await waitForFtj(
      team,
      'sweep',
      'Queued after a preemption',
      (f) => f.status?.phase === 'Queued' && condition(f, 'Admitted')?.reason === 'Preempted',
    );
    const byUrgent = `preempted by FineTuneJob ${team}/urgent (InClusterQueue): Preempted to accommodate a workload`;
    expect(condition(preempted, 'Admitted')).toMatchObject({ status: 'False', reason: 'Preempted', message: expect.stringContaining(byUrgent) });
    expect(condition(preempted, 'Admitted')!.message).toMatch(/due to prioritization in the ClusterQueue/);
    expect(preempted.status!.message).toMatch(new RegExp(`^${byUrgent.replace(/[()/.]/g, '\\$&')}.*; waiting to be admitted again`));
    expect(condition(preempted, 'Suspended')).toMatchObject({ status: 'True', reason: 'Preempted' });
    expect(preempted.status!.preemptions).toBe(1);
    expect(preempted.status!.admission).toBeUndefined();

    // The high one runs to the end; then Kueue admits the low one again.
    await waitForFtj(team, 'urgent', 'Succeeded', (f) => f.status?.phase === 'Succeeded', 90_000);
    const done = await waitForFtj(team, 'sweep', 'Succeeded after resuming', (f) => f.status?.phase === 'Succeeded' && !!f.status.result?.digest, 200_000);
    recorder.stop();

    // The first trainer got SIGTERM, stored a checkpoint and exited; Kueue's words say so in the status.
    const firstLog = containerLog(team, first!);
    expect(firstLog).toContain('SIGTERM: checkpointing and exiting');
    const stoppedAt = /"step":(\d+),"checkpoint":\{"step":(\d+)[^}]*\},"msg":"stopped after a checkpoint; a restarted trainer resumes from it"/.exec(firstLog);
    expect(stoppedAt, firstLog.slice(-2000)).not.toBeNull();
    const checkpointStep = Number(stoppedAt![2]);
    expect(checkpointStep).toBeGreaterThanOrEqual(3);
    expect(checkpointStep).toBeLessThan(TRAINING.maxSteps);
    // The second pod started on an empty scratch volume: it restored that checkpoint from S3 and resumed.
    const pods = (await podsOf(team, 'sweep')).filter((p) => p.metadata.uid !== first!.metadata.uid);
    expect(pods).toHaveLength(1);
    const secondLog = containerLog(team, pods[0]!);
    expect(secondLog).toMatch(
      new RegExp(
        `"step":${checkpointStep},"uri":"s3://${BUCKET}/${lowPrefix}/checkpoints/checkpoint-${checkpointStep}/"\\},"msg":"restored the newest checkpoint from storage"`,
      ),
    );
    expect(secondLog).toMatch(new RegExp(`"step":${checkpointStep},.*"msg":"resuming from checkpoint"`));

    // Running, Queued (preempted), Running again, Succeeded; re-admitted after one preemption.
    expect(recorder.phases.filter((p, i, all) => p !== all[i - 1])).toEqual(expect.arrayContaining(['Running', 'Queued', 'Succeeded']));
    const firstRun = recorder.phases.indexOf('Running');
    const requeued = recorder.phases.indexOf('Queued', firstRun);
    expect(requeued).toBeGreaterThan(firstRun);
    expect(recorder.phases.indexOf('Running', requeued)).toBeGreaterThan(requeued);
    expect(condition(done, 'Admitted')).toMatchObject({
      status: 'True',
      message: `admitted again after a preemption by ClusterQueue ${clusterQueue} (flavor ${n.flavor} for memory, nvidia.com/gpu)`,
    });
    expect(done.status!.preemptions).toBe(1);
    // A preemption is not a failed attempt.
    expect(done.status!.attempts).toBe(1);
    const events = await getJson<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>([
      'get',
      'events',
      '-n',
      team,
      '--field-selector',
      'involvedObject.kind=FineTuneJob,involvedObject.name=sweep',
    ]);
    expect(events.items.map((e) => e.reason)).toContain('Preempted');

    // The adapter is the uninterrupted run's, byte for byte.
    const straight = await waitForFtj(solo, 'sweep', 'Succeeded', (f) => f.status?.phase === 'Succeeded' && !!f.status.result?.digest, 120_000);
    expect(straight.status!.preemptions).toBeUndefined();
    const stored = await sha256Of(`${lowPrefix}/adapter_model.safetensors`);
    expect(done.status!.result!.digest).toBe(stored);
    expect(stored).toBe(await sha256Of(`${soloPrefix}/adapter_model.safetensors`));
    expect(done.status!.result!.digest).toBe(straight.status!.result!.digest);
  }, 300_000);

  it('Kueue logged no errors', () => {
    expect(kueue!.errors([/Provisioning Requests not supported/])).toEqual([]);
  });
});

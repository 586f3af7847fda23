// Data parallelism across pods on the test control plane, with the real trainer (CPU backend: each
// pod's "GPUs" are CPU ranks over Gloo) and the real S3 server: a FineTuneJob with nodes: 2, gpus: 2
// becomes an Indexed Job of 2 pods under a headless Service on 2 GPU nodes; pod 1's ranks find rank 0
// at pod 0's DNS name (the node agent's cluster DNS, test/cluster/node-agent/cluster-dns.ts); the 4
// ranks train and the LoraAdapter they publish matches one rank with 4 times the batch. A rank of
// pod 1 SIGKILLed mid-run stops the whole group; the Job recreates the failed pods and the new group
// resumes from the newest checkpoint in S3 to the same adapter, the status naming the rank and the restart.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safetensorsRelativeError } from '@loraplane/native/golden.test-support';
import { CheckpointStore } from '@loraplane/trainer/checkpoint-store';
import { clusterDir, kubectl, podDir, waitFor } from '../cluster/cluster.js';
import { client } from '../storage/storage.js';
import { exampleForTestServer, stageExampleSources } from './support/example-storage.js';
import { OPERATOR_NAMESPACE, startOperator, type OperatorProcess } from './support/operator-process.js';
import { freshNamespace, getJson, installCrds, mustKubectl, toYaml, type Json } from './support/resources.js';

type Ftj = {
  status?: {
    phase?: string;
    message?: string;
    attempts?: number;
    parallelism?: { worldSize: number; globalBatchSize: number };
    result?: { adapter?: string; uri?: string };
  };
};
type Pod = {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; creationTimestamp: string };
  spec: { nodeName?: string; hostname?: string; subdomain?: string };
  status: { phase: string; podIP?: string; containerStatuses?: { state?: { terminated?: { exitCode: number; message?: string } } }[] };
};

const TRAINER_IMAGE = 'ghcr.io/loraplane/trainer:0.1.0';
const RENDEZVOUS_TIMEOUT_SECONDS = 60;
const BUCKET = 'adapters';
/** Without dropout (each rank draws its own masks) and in fp32 (bf16 rounding would turn last-bit GEMM differences between batch shapes into visible ones). */
const TRAINING = { maxSteps: 12, batchSize: 2, gradientAccumulationSteps: 1, learningRate: 0.002, maxSeqLength: 256, saveSteps: 3, saveTotalLimit: 2 };

let operator: OperatorProcess | undefined;
let s3: S3Client;
let ns: string;

// biome-ignore lint/suspicious/noExplicitAny: free-form edits of the example document
type Spec = Record<string, any>;
/** examples/finetune.yaml with the real trainer on `nodes` pods of `gpus` ranks, `batchSize` rows per rank, its adapter under `prefix`. */
function realFtj(name: string, shape: { nodes: number; gpus: number; batchSize: number }, extra: (spec: Spec) => void = () => {}): Json {
  const ftj = structuredClone(exampleForTestServer().find((d) => d.kind === 'FineTuneJob')!) as Json & { spec: Spec };
  ftj.spec.training = { ...TRAINING, batchSize: shape.batchSize };
  ftj.spec.lora = { r: 8, alpha: 16, dropout: 0 };
  ftj.spec.quantization = { ...ftj.spec.quantization, computeDtype: 'float32' };
  ftj.spec.resources.gpus = shape.gpus;
  ftj.spec.resources.nodes = shape.nodes;
  delete ftj.spec.resources.gpuProduct;
  delete ftj.spec.resources.memory;
  // One pod per node: the scheduler must spread the group's pods.
  if (shape.nodes > 1)
    ftj.spec.resources.affinity = {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { 'loraplane.io/finetunejob': name } }, topologyKey: 'kubernetes.io/hostname' },
        ],
      },
    };
  ftj.spec.trainer = { image: TRAINER_IMAGE };
  ftj.spec.output.adapterName = name;
  ftj.spec.output.storage.s3.prefix = `data-parallel-nodes/${name}`;
  extra(ftj.spec);
  return { ...ftj, metadata: { name } };
}

const getFtj = (name: string) => getJson<Ftj>(['get', 'ftj', name, '-n', ns]);
const podsOf = async (name: string) =>
  (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `loraplane.io/finetunejob=${name}`])).items.sort((a, b) =>
    a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp),
  );
const indexOf = (pod: Pod) => pod.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];

function waitForPhase(name: string, phase: string, timeoutMs: number): Promise<Ftj> {
  return waitFor(
    async () => {
      const f = await getFtj(name);
      if (f.status?.phase === 'Failed' && phase !== 'Failed') throw new Error(`FineTuneJob ${ns}/${name} failed: ${JSON.stringify(f.status)}`);
      return f.status?.phase === phase ? f : undefined;
    },
    { timeoutMs, intervalMs: 1000, description: `FineTuneJob ${ns}/${name} ${phase}` },
  );
}

async function adapterFile(name: string): Promise<string> {
  const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `data-parallel-nodes/${name}/adapter_model.safetensors` }));
  const file = join(clusterDir(), `data-parallel-nodes-${ns}-${name}.safetensors`);
  writeFileSync(file, await body.Body!.transformToByteArray());
  return file;
}
const difference = async (a: string, b: string) => safetensorsRelativeError(await adapterFile(a), await adapterFile(b));

async function waitForReadyAdapter(name: string): Promise<void> {
  await waitFor(
    async () => {
      const lora = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['get', 'lora', name, '-n', ns]).catch(() => undefined);
      return lora?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000, description: `LoraAdapter ${ns}/${name} Ready` },
  );
}

/** A rank process of the given pod (the node agent runs it on this machine): found by its environment. */
function rankPid(podName: string, rank: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`RANK=${rank}`) && env.includes(`POD_NAME=${podName}`) && env.includes(`POD_NAMESPACE=${ns}`)) return Number(entry);
    } catch {
      // gone, or not ours
    }
  }
  return undefined;
}

beforeAll(async () => {
  s3 = client();
  await installCrds();
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  await stageExampleSources(s3);
  ns = await freshNamespace('dp-nodes');
  await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(exampleForTestServer().find((d) => d.kind === 'Secret')!));
  operator = await startOperator(process.env.LORAPLANE_E2E_KUBECONFIG!, 'operator-dp-nodes', {
    PROGRESS_INTERVAL_SECONDS: '1',
    // Short, for the group that cannot be placed whole; long enough for pods that start a few seconds apart.
    TRAINER_RENDEZVOUS_TIMEOUT_SECONDS: String(RENDEZVOUS_TIMEOUT_SECONDS),
  });
});

afterAll(async () => {
  await operator?.stop();
});

describe('a FineTuneJob on 2 pods x 2 GPUs', () => {
  it('runs 4 ranks in 2 pods on 2 GPU nodes that meet by DNS, and publishes the adapter of 1 rank with 4 times the batch', async () => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(realFtj('one-rank', { nodes: 1, gpus: 1, batchSize: 8 })));
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(realFtj('two-pods', { nodes: 2, gpus: 2, batchSize: 2 })));

    const running = await waitFor(
      async () => {
        const pods = (await podsOf('two-pods')).filter((p) => p.status.phase === 'Running');
        return pods.length === 2 ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'both pods of two-pods Running' },
    );
    const byIndex = new Map(running.map((p) => [indexOf(p), p]));
    const [pod0, pod1] = [byIndex.get('0')!, byIndex.get('1')!];
    expect(pod0 && pod1, 'pods with completion indexes 0 and 1').toBeTruthy();
    // The scheduler put them on two GPU nodes (the anti-affinity above demands it).
    expect(new Set([pod0.spec.nodeName, pod1.spec.nodeName]).size).toBe(2);
    for (const p of [pod0, pod1]) expect(['gpu-h100-0', 'gpu-a100-0']).toContain(p.spec.nodeName);
    console.log(`two-pods: pod 0 on ${pod0.spec.nodeName} (${pod0.status.podIP}), pod 1 on ${pod1.spec.nodeName} (${pod1.status.podIP})`);
    const service = await getJson<{ spec: { clusterIP: string; publishNotReadyAddresses: boolean }; metadata: { ownerReferences: { kind: string }[] } }>([
      'get',
      'service',
      pod0.spec.subdomain!,
      '-n',
      ns,
    ]);
    expect(service.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(service.metadata.ownerReferences[0]!.kind).toBe('FineTuneJob');

    const done = await waitForPhase('two-pods', 'Succeeded', 900_000);
    expect(done.status?.parallelism).toEqual({ worldSize: 4, globalBatchSize: 8 });
    expect(done.status?.attempts).toBe(1);
    await waitForPhase('one-rank', 'Succeeded', 900_000);
    await waitForReadyAdapter('two-pods');
    const d = await difference('two-pods', 'one-rank');
    console.log(`2 pods x 2 ranks vs 1 rank: adapter difference ${d.toExponential(2)} (relative)`);
    expect(d).toBeLessThan(1e-4);
  }, 1_200_000);

  it('restarts the whole group from the newest checkpoint when a rank of pod 1 is SIGKILLed, to the same adapter', async () => {
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(realFtj('killed', { nodes: 2, gpus: 2, batchSize: 2 })));
    const store = new CheckpointStore({
      client: s3,
      bucket: BUCKET,
      outputPrefix: 'data-parallel-nodes/killed',
      stateDir: join(clusterDir(), 'dp-nodes-state'),
      log: pino({ level: 'silent' }),
    });
    await waitFor(async () => ((await store.list()).some((c) => c.step === 6 && c.complete) ? true : undefined), {
      timeoutMs: 600_000,
      intervalMs: 200,
      description: 'checkpoint-6 of killed in S3',
    });
    const pod1 = (await podsOf('killed')).find((p) => indexOf(p) === '1' && p.status.phase === 'Running')!;
    const pid = rankPid(pod1.metadata.name, 3);
    expect(pid, 'rank 3 runs in pod 1').toBeDefined();
    process.kill(pid!, 'SIGKILL');

    const done = await waitForPhase('killed', 'Succeeded', 900_000);
    expect(done.status?.attempts).toBe(2);
    const pods = await podsOf('killed');
    const failed = pods.filter((p) => p.status.phase === 'Failed');
    const messages = failed.map((p) => p.status.containerStatuses?.[0]?.state?.terminated?.message ?? '');
    expect(messages.join('\n')).toMatch(/rank 3 was killed by SIGKILL; the group stopped and restarts from the newest checkpoint/);
    const events = await mustKubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=killed', '-o', 'jsonpath={.items[*].message}']);
    console.log(`killed: ${failed.length} failed pod(s), events: ${events}`);
    expect(events).toMatch(/rank 3 was killed by SIGKILL/);
    // The new group resumed: the first rank of each new pod restored the newest checkpoint from S3.
    for (const p of pods.filter((x) => x.status.phase === 'Succeeded')) {
      expect(readFileSync(join(podDir(ns, p.metadata.name, p.metadata.uid), 'container.log'), 'utf8')).toMatch(/restored the newest checkpoint from storage/);
    }
    await waitForReadyAdapter('killed');
    const d = await difference('killed', 'one-rank');
    console.log(`killed and restarted, 2 pods x 2 ranks vs 1 rank: adapter difference ${d.toExponential(2)} (relative)`);
    expect(d).toBeLessThan(1e-4);
  }, 1_200_000);

  it('fails a group the cluster cannot place whole after the rendezvous timeout, instead of leaving its pods running', async () => {
    // 3 pods of 1 GPU, one per node: the third has no GPU node left and stays Pending.
    await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(realFtj('too-wide', { nodes: 3, gpus: 1, batchSize: 2 }, (spec) => (spec.backoffLimit = 0))));
    const pending = await waitFor(
      async () => {
        const f = await getFtj('too-wide');
        return f.status?.phase === 'Pending' && /nodes are available/.test(f.status.message ?? '') ? f : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'too-wide Pending with the scheduler’s words' },
    );
    console.log(`too-wide: ${pending.status?.message}`);
    const started = Date.now();
    const failed = await waitForPhase('too-wide', 'Failed', 300_000);
    console.log(`too-wide failed ${Math.round((Date.now() - started) / 1000)} s later: ${failed.status?.message}`);
    // The ranks that started name the one that never came (or, when pod 0 is the one left out, that rank 0's store was never there).
    expect(failed.status?.message).toMatch(
      /^trainer failed \d time\(s\), backoffLimit=0; last attempt: trainer exited with code \d+: rank \d exited with code \d+: collective gloo \(rank \d of 3\): (rank \d did not join the group at .* within 60000 ms|cannot join the group)/,
    );
    // Nothing of the group is left running.
    await waitFor(async () => ((await podsOf('too-wide')).every((p) => p.status.phase === 'Failed' || p.status.phase === 'Succeeded') ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'no pod of too-wide left running or pending',
    });
  }, 600_000);
});

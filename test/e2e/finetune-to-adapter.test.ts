// The whole path on real parts: the Helm chart installed into the control plane and the operator run
// with the installed configuration and ServiceAccount; examples/finetune.yaml applied; the scheduler
// binds the trainer pod to a GPU node; the node agent runs the real trainer (CPU backend, the bundled
// tiny model standing in for the 3B base model) against the real S3 server; the FineTuneJob shows
// progress, then Succeeded; the LoraAdapter it publishes becomes Ready with the digest of the stored
// weights; Prometheus holds the trainer's loss series and the operator's metrics. The only edits to the
// example: the S3 endpoint and keys of the test server. Prometheus finds the trainer pod itself, as a
// platform team's would: kubernetes_sd_configs against the test API server, with a ServiceAccount that may
// only get, list and watch the served namespace's pods. Last, every query of the chart's Grafana dashboard
// runs against that Prometheus.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigPath, loadKubeConfig, waitFor } from '../cluster/cluster.js';
import { CHART_DIR, mustHelm } from '../helm/helm.js';
import { installedOperator } from '../helm/installed-operator.js';
import { client, server } from '../storage/storage.js';
import { exampleForTestServer, stageExampleSources } from './support/example-storage.js';
import { startOperator, type OperatorProcess } from './support/operator-process.js';
import { everythingWritten, leakForms } from './support/secret-grep.js';
import { startPrometheus, type Prometheus } from './support/prometheus.js';
import { freshNamespace, getJson, mustKubectl, toYaml, type Json } from './support/resources.js';

const RELEASE = 'lp-path';

type Status = Json & { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string }> };
type Ftj = {
  status?: Status & {
    progress?: { step?: number; totalSteps?: number; percent?: number; trainLoss?: number };
    result?: { adapter?: string; digest?: string };
    parallelism?: { worldSize: number; globalBatchSize: number };
  };
};
type Adapter = { metadata: { labels?: Record<string, string> }; spec: Json; status?: Status & { digest?: string; provenance?: Json } };

/**
 * Prometheus's identity in the test cluster: a ServiceAccount in a namespace of its own, bound by a Role in
 * `served` to get, list and watch pods there and nothing else; a token of it, and the cluster's CA, in files.
 */
async function prometheusCredentials(served: string): Promise<{ apiServer: string; caFile: string; tokenFile: string }> {
  const monitoring = await freshNamespace('monitoring');
  await mustKubectl(['create', 'serviceaccount', 'prometheus', '-n', monitoring]);
  await mustKubectl(['create', 'role', 'prometheus-pods', '-n', served, '--verb=get,list,watch', '--resource=pods']);
  await mustKubectl(['create', 'rolebinding', 'prometheus-pods', '-n', served, '--role=prometheus-pods', `--serviceaccount=${monitoring}:prometheus`]);
  const token = (await mustKubectl(['create', 'token', 'prometheus', '-n', monitoring, '--duration=2h'])).trim();
  const cluster = loadKubeConfig().getCurrentCluster();
  if (!cluster?.caData) throw new Error('the admin kubeconfig has no cluster with certificate-authority-data');
  const dir = mkdtempSync(join(tmpdir(), 'lp-prom-sa-'));
  const [caFile, tokenFile] = [join(dir, 'ca.crt'), join(dir, 'token')];
  writeFileSync(caFile, Buffer.from(cluster.caData, 'base64'));
  writeFileSync(tokenFile, token, { mode: 0o600 });
  return { apiServer: cluster.server, caFile, tokenFile };
}

/**
 * The trainer pods' scrape job: the pods the chart's PodMonitor selects (charts/loraplane/templates/podmonitor.yaml:
 * the operator's trainer labels, the container port named `metrics`, the served namespaces), found through the API server.
 */
function trainerScrapeJob(namespaces: string[], { apiServer, caFile, tokenFile }: Awaited<ReturnType<typeof prometheusCredentials>>) {
  return {
    job_name: 'loraplane-trainer',
    kubernetes_sd_configs: [
      {
        role: 'pod',
        api_server: apiServer,
        tls_config: { ca_file: caFile },
        authorization: { credentials_file: tokenFile },
        namespaces: { names: namespaces },
      },
    ],
    relabel_configs: [
      {
        action: 'keep',
        source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name', '__meta_kubernetes_pod_label_app_kubernetes_io_managed_by'],
        regex: 'loraplane-trainer;loraplane-operator',
      },
      // The pod role makes a target of each declared container port, its address the pod IP and that port.
      { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics' },
      // A finished pod serves nothing, and its IP may be another pod's by now (the Prometheus Operator drops them too).
      { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Succeeded|Failed' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_label_loraplane_io_finetunejob'], target_label: 'finetunejob' },
    ],
    // The trainer labels its series with namespace and finetunejob too. The API server's values win (honor_labels
    // is off, so a trainer image cannot claim another namespace); the trainer's copies, renamed exported_*, go.
    metric_relabel_configs: [{ action: 'labeldrop', regex: 'exported_(namespace|finetunejob)' }],
  };
}

async function sha256Of(s3: S3Client, bucket: string, key: string): Promise<string> {
  const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

let operator: OperatorProcess;
let prometheus: Prometheus;
let ns: string;
let releaseNs: string;
let s3: S3Client;

beforeAll(async () => {
  s3 = client();
  await stageExampleSources(s3);
  [releaseNs, ns] = [await freshNamespace('lp-system'), await freshNamespace('path')];
  // The chart's defaults (the real trainer image included), with faster progress and verification for a test.
  await mustHelm(
    [
      'install',
      RELEASE,
      CHART_DIR,
      '--namespace',
      releaseNs,
      '--set',
      `watchNamespaces={${ns}}`,
      '--set',
      'progressIntervalSeconds=1',
      '--set',
      'adapterVerifyPeriodSeconds=5',
      '--set-json',
      `storage.allowedEndpoints=${JSON.stringify([server().endpoint])}`,
    ],
    { kubeconfig: kubeconfigPath() },
  );
  await mustKubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/finetunejobs.loraplane.io', 'crd/loraadapters.loraplane.io']);
  const installed = await installedOperator({ release: RELEASE, namespace: releaseNs, podName: 'operator-path-0' });
  operator = await startOperator(installed.kubeconfig, 'operator-path-0', installed.localEnv);
  prometheus = await startPrometheus([
    trainerScrapeJob([ns], await prometheusCredentials(ns)),
    { job_name: 'loraplane-operator', static_configs: [{ targets: [`127.0.0.1:${operator.port}`] }] },
  ]);
}, 120_000);

afterAll(async () => {
  prometheus?.stop();
  await operator?.stop();
  if (releaseNs !== undefined) await mustHelm(['uninstall', RELEASE, '--namespace', releaseNs, '--wait'], { kubeconfig: kubeconfigPath() });
});

describe('examples/finetune.yaml end to end', () => {
  it('trains on a GPU node, shows progress, succeeds, and publishes a Ready LoraAdapter with the stored digest', async () => {
    for (const doc of exampleForTestServer()) await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(doc));

    type Pod = {
      metadata: { name: string };
      spec: { nodeName?: string; containers: Array<{ ports?: Array<{ name: string; containerPort: number }> }> };
      status: { podIP?: string };
    };
    const pod = await waitFor(
      async () =>
        (await getJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', 'loraplane.io/finetunejob=support-assistant'])).items.find((p) => p.status.podIP),
      { timeoutMs: 30_000, description: 'trainer pod bound to a node, with an IP' },
    );
    expect(pod.spec.nodeName).toBe('gpu-h100-0');
    const metricsPort = pod.spec.containers[0]!.ports!.find((p) => p.name === 'metrics')!.containerPort;
    // Prometheus discovers the pod from the API server: its IP and metrics port, its namespace, name and FineTuneJob.
    type Target = { scrapePool: string; scrapeUrl: string; labels: Record<string, string> };
    const target = await waitFor(
      async () => {
        const res = await fetch(`${prometheus.url}/api/v1/targets?state=active`);
        const body = (await res.json()) as { data: { activeTargets: Target[] } };
        return body.data.activeTargets.find((t) => t.scrapePool === 'loraplane-trainer');
      },
      { timeoutMs: 30_000, description: "the trainer pod among Prometheus's targets, from kubernetes_sd_configs" },
    );
    expect(target.scrapeUrl).toBe(`http://${pod.status.podIP}:${metricsPort}/metrics`);
    expect(target.labels).toMatchObject({ job: 'loraplane-trainer', namespace: ns, pod: pod.metadata.name, finetunejob: 'support-assistant' });

    const running = await waitFor(
      async () => {
        const ftj = await getJson<Ftj>(['get', 'ftj', 'support-assistant', '-n', ns]);
        const p = ftj.status?.progress;
        return ftj.status?.phase === 'Running' && p?.step && p.step > 0 && p.trainLoss ? ftj : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500, description: 'live progress while Running' },
    );
    expect(running.status!.progress!.totalSteps).toBeGreaterThan(running.status!.progress!.step!);
    expect(running.status!.progress!.percent).toBeLessThan(100);

    const done = await waitFor(
      async () => {
        const ftj = await getJson<Ftj>(['get', 'ftj', 'support-assistant', '-n', ns]);
        if (ftj.status?.phase === 'Failed') throw new Error(`FineTuneJob failed: ${JSON.stringify(ftj.status)}`);
        return ftj.status?.phase === 'Succeeded' && ftj.status.result?.adapter ? ftj : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, description: 'FineTuneJob Succeeded with its adapter published' },
    );
    expect(done.status!.result!.adapter).toBe('support-assistant-v1');
    expect(done.status!.progress).toMatchObject({ percent: 100 });
    // One GPU, batchSize 4 x gradientAccumulationSteps 4.
    expect(done.status!.parallelism).toEqual({ worldSize: 1, globalBatchSize: 16 });

    const stored = await sha256Of(s3, 'adapters', 'support-assistant/v1/adapter_model.safetensors');
    expect(done.status!.result!.digest).toBe(stored);
    const adapter = await waitFor(
      async () => {
        const a = await getJson<Adapter>(['get', 'lora', 'support-assistant-v1', '-n', ns]);
        return a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? a : undefined;
      },
      { timeoutMs: 30_000, description: 'LoraAdapter Ready' },
    );
    expect(adapter.status!.digest).toBe(stored);
    expect(adapter.status!.phase).toBe('Ready');
    expect(adapter.metadata.labels).toMatchObject({ 'loraplane.io/finetunejob': 'support-assistant', team: 'support' });
    expect(adapter.status!.provenance).toMatchObject({ fineTuneJob: { name: 'support-assistant' } });

    // The printer columns a user sees.
    const table = await mustKubectl(['get', 'ftj,lora', '-n', ns]);
    const ftjRow = table.split('\n').find((l) => l.includes('finetunejob.loraplane.io/support-assistant'))!;
    expect(ftjRow).toMatch(/Succeeded\s+100\s+\d+\.\d+/);
    const loraRow = table.split('\n').find((l) => l.includes('loraadapter.loraplane.io/support-assistant-v1'))!;
    expect(loraRow).toContain('Ready');
    expect(loraRow).toContain(stored);

    // Prometheus found the trainer pod through the API server and kept its loss; it scraped the operator too.
    const loss = await waitFor(async () => (await prometheus.range('loraplane_trainer_loss{finetunejob="support-assistant"}'))[0], {
      timeoutMs: 10_000,
      description: 'trainer loss series in Prometheus',
    });
    expect(loss.metric).toMatchObject({ job: 'loraplane-trainer', namespace: ns, pod: pod.metadata.name });
    expect(Object.keys(loss.metric).filter((l) => l.startsWith('exported_'))).toEqual([]);
    expect(loss.values.filter(([, v]) => Number(v) > 0).length).toBeGreaterThan(0);
    // The operator's gauge, from a scrape after the job succeeded (scrapes run every second).
    await waitFor(async () => Number((await prometheus.instant('loraplane_finetunejobs{phase="Succeeded"}'))[0]?.value[1]) >= 1, {
      timeoutMs: 10_000,
      description: 'the operator\'s loraplane_finetunejobs{phase="Succeeded"} in Prometheus',
    });
  }, 300_000);

  it("no status, event or log line of the run carries the S3 Secret's values", async () => {
    const everything = await everythingWritten([ns, releaseNs], operator.logFile);
    expect(everything).toContain('"adapter uploaded; manifest written last"'); // the real trainer's log is in there
    for (const leak of leakForms(server().secretAccessKey)) expect(everything).not.toContain(leak);
  });

  it('deleting the FineTuneJob keeps the LoraAdapter and its objects', async () => {
    await mustKubectl(['delete', 'ftj', 'support-assistant', '-n', ns, '--wait=true']);
    const adapter = await getJson<Adapter>(['get', 'lora', 'support-assistant-v1', '-n', ns]);
    expect(adapter.status?.phase).toBe('Ready');
    expect(await sha256Of(s3, 'adapters', 'support-assistant/v1/adapter_model.safetensors')).toBe(adapter.status!.digest);
  });

  it("every query of the chart's Grafana dashboard is valid PromQL, and all but Kueue's return data from this run", async () => {
    type Doc = Json & { metadata: Json; spec: Json & { output: { adapterName: string } } };
    const variant = (name: string, spec: Json): Doc => {
      const doc = structuredClone(exampleForTestServer().find((d) => d.kind === 'FineTuneJob')!) as Doc;
      doc.metadata = { name };
      Object.assign(doc.spec, spec, { output: { ...doc.spec.output, adapterName: `${name}-v1` } });
      return doc;
    };
    // For the "failures by reason" panel: the Job controller ends this one after a second (DeadlineExceeded).
    // For the queue panels: this one waits for a Kueue that is not there, its Job suspended.
    const extra = [variant('deadline', { activeDeadlineSeconds: 1 }), variant('queued', { queueName: 'team-queue' })];
    for (const doc of extra) await mustKubectl(['apply', '-n', ns, '-f', '-'], toYaml(doc));
    const value = async (query: string) => Number((await prometheus.instant(query))[0]?.value[1]);
    await waitFor(async () => (await value(`loraplane_finetunejobs_failed{namespace="${ns}", reason="DeadlineExceeded"}`)) === 1, {
      timeoutMs: 60_000,
      description: 'the operator\'s loraplane_finetunejobs_failed{reason="DeadlineExceeded"} in Prometheus',
    });
    await waitFor(async () => (await value(`loraplane_finetunejobs{namespace="${ns}", queue="team-queue", phase="Queued"}`)) === 1, {
      timeoutMs: 30_000,
      description: 'the operator\'s loraplane_finetunejobs{queue="team-queue", phase="Queued"} in Prometheus',
    });
    expect(await value(`loraplane_finetunejobs_queued_oldest_seconds{namespace="${ns}", queue="team-queue"}`)).toBeGreaterThan(0);

    // The operator's GPU-seconds of the finished job: 1 GPU x its running time, under the job's own namespace.
    const [gpu] = await prometheus.range('loraplane_finetunejob_gpu_seconds_total{finetunejob="support-assistant"}');
    expect(gpu?.metric).toMatchObject({ namespace: ns, job: 'loraplane-operator' });
    expect(Math.max(...gpu!.values.map(([, v]) => Number(v)))).toBeGreaterThan(1);

    type Target = { expr: string; refId: string };
    const dashboard = JSON.parse(readFileSync(join(CHART_DIR, 'dashboards/loraplane.json'), 'utf8')) as { panels: { title: string; targets?: Target[] }[] };
    // Grafana's variables as a user picking this namespace and every queue would have them.
    const substitute = (expr: string) =>
      expr.replaceAll('$namespace', ns).replaceAll('$queue', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m');
    const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${p.title} ${t.refId}`, expr: substitute(t.expr) })));
    expect(targets.length).toBeGreaterThan(10);
    const empty: string[] = [];
    for (const { where, expr } of targets) {
      expect(expr, where).not.toContain('$');
      // Prometheus answers an error for a query that does not parse; prometheus.range throws it.
      const series = await prometheus.range(expr).catch((err: Error) => expect.fail(`${where}: ${err.message}`));
      const hasData = series.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
      // No Kueue in this test: its metrics' panels stay empty.
      if (!hasData && !/\bkueue_/.test(expr)) empty.push(`${where}: ${expr}`);
    }
    expect(empty).toEqual([]);
    for (const doc of extra) await mustKubectl(['delete', 'ftj', doc.metadata.name as string, '-n', ns]);
  }, 120_000);
});

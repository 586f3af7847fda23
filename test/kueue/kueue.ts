// The real Kueue controller manager (built by build-kueue.sh from its pinned Go module) against the test
// control plane, installed as its own release manifests say (config/components in the module, with the
// release's kueue- name prefix and kueue-system namespace): its CRDs with their conversion webhooks, its
// ServiceAccount and roles (Kueue runs with that ServiceAccount's token, so its RBAC is exercised), the
// Secret for its webhook certificate, and its Mutating/ValidatingWebhookConfigurations. Where a cluster
// reaches Kueue through its webhook Service, this one reaches the process on loopback: every clientConfig
// is `url: https://127.0.0.1:<port>/<path>`, and the serving certificate names 127.0.0.1 besides the
// Service, so the real API server calls the real Kueue webhooks. Kueue's internal certificate
// management runs as in its default install and keeps that certificate (see issueCerts). Leader
// election is off (one replica). One Kueue per cluster: startKueue stops one a crashed run left behind.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { clusterDir, kubeconfigPath, kubectl, waitFor, waitForCrds } from '../cluster/cluster.js';
import { cachedBinDir } from '../lib/cached-build.js';

export const KUEUE_BIN_DIR_ENV = 'LORAPLANE_KUEUE_BIN_DIR';
export const BUILD_SCRIPT = join(import.meta.dirname, 'build-kueue.sh');
export const KUEUE_NAMESPACE = 'kueue-system';
/** The Job integrations this Kueue runs; a webhook for any other kind has nothing behind it here. */
export const FRAMEWORKS = ['batch/job'] as const;
/** Kueue's release installs every object with this prefix (config/default: namePrefix). */
const PREFIX = 'kueue-';
export const WEBHOOK_CONFIGURATIONS = [`${PREFIX}mutating-webhook-configuration`, `${PREFIX}validating-webhook-configuration`];
const FIELD_MANAGER = 'loraplane-test-kueue';
/** The webhook Service of Kueue's release (config/components/webhook/service.yaml), as its certificate names it. */
const WEBHOOK_SERVICE_DNS = `${PREFIX}webhook-service.${KUEUE_NAMESPACE}.svc`;

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };
type Webhook = {
  name: string;
  clientConfig: { service?: { path?: string }; url?: string; caBundle?: string };
  rules?: { apiGroups?: string[]; resources?: string[] }[];
};

/** The bin directory of the pinned Kueue: from the globalSetup (global-setup.ts), else built now (minutes, once). */
export const kueueBinDir = (): string => cachedBinDir(BUILD_SCRIPT, KUEUE_BIN_DIR_ENV);

/** The module's config/components (CRDs, RBAC, webhooks), linked beside the binary by build-kueue.sh. */
export const kueueManifests = (): string => join(kueueBinDir(), '..', 'config');

const readDocs = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { ...(input === undefined ? {} : { input }), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.slice(0, 4).join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const apply = (objs: Obj[]) =>
  must(['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], objs.map((o) => stringify(o)).join('---\n'));

/** n distinct free loopback ports: all held open together, as up.sh does. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((ok, fail) => {
          const s = createServer();
          s.once('error', fail);
          s.listen(0, '127.0.0.1', () => ok(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

interface Certs {
  /** PEM, as the Secret holds them. */
  caCrt: string;
  caKey: string;
  tlsCrt: string;
  tlsKey: string;
}

/**
 * The webhook server's certificates, in the shape Kueue's internal cert management (open-policy-agent's
 * cert-controller) keeps and accepts in its Secret: a CA whose name is kueue-ca, and a serving
 * certificate for the webhook Service's DNS name, valid beyond its 90-day rotation look-ahead, so Kueue
 * keeps them. The serving certificate also names 127.0.0.1: the API server calls Kueue on loopback.
 * Keys are PKCS#1, which cert-controller parses.
 */
async function issueCerts(dir: string): Promise<Certs> {
  mkdirSync(dir, { recursive: true });
  const run = (...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
  await run('genrsa', '-traditional', '-out', 'ca.key', '2048');
  await run(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/O=kueue/CN=kueue-ca',
    '-days',
    '3650',
    '-sha256',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-addext',
    'subjectAltName=DNS:kueue-ca',
    '-out',
    'ca.crt',
  );
  await run('genrsa', '-traditional', '-out', 'tls.key', '2048');
  await run('req', '-new', '-key', 'tls.key', '-subj', `/CN=${WEBHOOK_SERVICE_DNS}`, '-out', 'tls.csr');
  writeFileSync(
    join(dir, 'tls.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${WEBHOOK_SERVICE_DNS},IP:127.0.0.1\n`,
  );
  await run(
    'x509',
    '-req',
    '-in',
    'tls.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '365',
    '-sha256',
    '-extfile',
    'tls.ext',
    '-out',
    'tls.crt',
  );
  for (const f of ['tls.csr', 'tls.ext', 'ca.srl']) rmSync(join(dir, f), { force: true });
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { caCrt: read('ca.crt'), caKey: read('ca.key'), tlsCrt: read('tls.crt'), tlsKey: read('tls.key') };
}

/** Kueue's kustomize rename (config/default): namePrefix kueue-, namespace system → kueue-system. */
function asReleased(o: Obj): Obj {
  const out = structuredClone(o) as Obj & { roleRef?: { name: string }; subjects?: { name: string; namespace?: string }[] };
  out.metadata.name = PREFIX + out.metadata.name;
  if (out.metadata.namespace !== undefined) out.metadata.namespace = KUEUE_NAMESPACE;
  if (out.roleRef) out.roleRef.name = PREFIX + out.roleRef.name;
  for (const s of out.subjects ?? []) {
    s.name = PREFIX + s.name;
    if (s.namespace !== undefined) s.namespace = KUEUE_NAMESPACE;
  }
  out.metadata.labels = { ...((out.metadata.labels as Record<string, string>) ?? {}), 'app.kubernetes.io/name': 'kueue' };
  return out;
}

/** The CRDs, with the conversion webhooks Kueue's kustomization patches in (crd/patches/webhook_in_*), pointed at loopback. */
async function installCrds(webhookPort: number, caBundle: string): Promise<void> {
  const crdDir = join(kueueManifests(), 'crd');
  const kustomization = parse(readFileSync(join(crdDir, 'kustomization.yaml'), 'utf8')) as { patches?: { path: string }[] };
  const converted = new Set(
    (kustomization.patches ?? []).filter((p) => p.path.includes('webhook_in_')).flatMap((p) => readDocs(join(crdDir, p.path)).map((d) => d.metadata.name)),
  );
  const crds = readdirSync(join(crdDir, 'bases'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => readDocs(join(crdDir, 'bases', f)));
  for (const crd of crds) {
    if (!converted.has(crd.metadata.name)) continue;
    (crd.spec as Record<string, unknown>).conversion = {
      strategy: 'Webhook',
      webhook: { clientConfig: { url: `https://127.0.0.1:${webhookPort}/convert`, caBundle }, conversionReviewVersions: ['v1'] },
    };
  }
  await apply(crds);
  await waitForCrds(crds.map((c) => c.metadata.name));
}

/** Kueue's ServiceAccount and what its release binds to it; returns a kubeconfig with that identity's token. */
async function installRbac(dir: string): Promise<string> {
  const rbacDir = join(kueueManifests(), 'rbac');
  // The manager's ClusterRole, its Role on Secrets (the webhook certificate), and the metrics endpoint's authn/authz.
  const files = [
    'service_account.yaml',
    'role.yaml',
    'role_binding.yaml',
    'manager_secrets_role.yaml',
    'manager_secrets_role_binding.yaml',
    'metrics_auth_role.yaml',
    'metrics_auth_role_binding.yaml',
  ];
  await apply(files.flatMap((f) => readDocs(join(rbacDir, f))).map(asReleased));
  // A token as the kubelet would mount it for the Deployment's pod.
  const token = (await must(['create', 'token', `${PREFIX}controller-manager`, '-n', KUEUE_NAMESPACE, '--duration=24h'])).trim();
  const admin = parse(readFileSync(kubeconfigPath(), 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
  const file = join(dir, 'kubeconfig');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'loraplane', cluster: admin.clusters[0]!.cluster }],
    users: [{ name: 'kueue', user: { token } }],
    contexts: [{ name: 'kueue@loraplane', context: { cluster: 'loraplane', user: 'kueue' } }],
    'current-context': 'kueue@loraplane',
  };
  writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
  return file;
}

/**
 * The release's webhook configurations, each webhook's Service reference turned into a loopback URL.
 * Kept: Kueue's own kinds and the enabled integrations (FRAMEWORKS); a webhook for a kind Kueue does not
 * run here (pods, Deployments, Ray, Kubeflow...) would only put this Kueue in the path of every such object.
 */
function webhookConfigurations(webhookPort: number, caBundle: string): Obj[] {
  const frameworkResources = new Set(FRAMEWORKS.map((f) => `${f.split('/')[0]}/${f.split('/')[1]}s`));
  const wanted = (w: Webhook) =>
    (w.rules ?? []).every((r) =>
      (r.apiGroups ?? []).every((g) => g === 'kueue.x-k8s.io' || (r.resources ?? []).every((res) => frameworkResources.has(`${g}/${res}`))),
    );
  return readDocs(join(kueueManifests(), 'webhook', 'manifests.yaml')).map((doc) => {
    const out = asReleased(doc) as Obj & { webhooks: Webhook[] };
    out.webhooks = out.webhooks.filter(wanted).map((w) => ({
      ...w,
      clientConfig: { url: `https://127.0.0.1:${webhookPort}${w.clientConfig.service?.path ?? '/'}`, caBundle },
    }));
    return out;
  });
}

export interface KueueProcess {
  pid: number;
  logFile: string;
  webhookPort: number;
  metricsPort: number;
  healthPort: number;
  /** Kueue's error-level log lines (JSON), except the ones named in `expected`. */
  errors(expected?: RegExp[]): string[];
  /** Stops the process, then removes its webhook configurations (nothing may call a stopped Kueue). */
  stop(): Promise<void>;
}

const PID_FILE = () => join(clusterDir(), 'kueue', 'kueue.pid');

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
};

/** Stops a Kueue a previous run left (its pid file names it, and its command line is kueue's). */
export async function stopLeftoverKueue(): Promise<void> {
  if (!existsSync(PID_FILE())) return;
  const pid = Number(readFileSync(PID_FILE(), 'utf8').trim());
  const cmd = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
  if (pid > 0 && alive(pid) && cmd.includes('kueue')) {
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), { timeoutMs: 15_000, description: `leftover Kueue ${pid} to exit` }).catch(() => process.kill(pid, 'SIGKILL'));
  }
  await removeWebhookConfigurations();
  rmSync(PID_FILE(), { force: true });
}

export async function removeWebhookConfigurations(): Promise<void> {
  await kubectl([
    'delete',
    '--ignore-not-found',
    ...WEBHOOK_CONFIGURATIONS.map((n, i) => `${i === 0 ? 'mutatingwebhookconfiguration' : 'validatingwebhookconfiguration'}/${n}`),
  ]);
}

export interface KueueOptions {
  /** Extra Configuration fields (merged over the defaults below), e.g. fairSharing, waitForPodsReady. */
  config?: Record<string, unknown>;
  /** Kueue's log verbosity (zap level: 0 info ... 5 most verbose). */
  logLevel?: number;
}

export async function startKueue(opts: KueueOptions = {}): Promise<KueueProcess> {
  const bin = join(kueueBinDir(), 'kueue');
  const dir = join(clusterDir(), 'kueue');
  mkdirSync(dir, { recursive: true });
  await stopLeftoverKueue();
  const t0 = Date.now();

  const [webhookPort, metricsPort, healthPort] = (await freePorts(3)) as [number, number, number];
  // What the kubelet would mount from the Secret into the Deployment's pod.
  const certDir = join(dir, 'certs');
  const [certs] = await Promise.all([issueCerts(certDir), apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: KUEUE_NAMESPACE } }])]);
  const caBundle = Buffer.from(certs.caCrt).toString('base64');
  await installCrds(webhookPort, caBundle);
  const kubeconfig = await installRbac(dir);
  const [secret] = readDocs(join(kueueManifests(), 'internalcert', 'secret.yaml')).map(asReleased);
  await apply([{ ...secret!, stringData: { 'ca.crt': certs.caCrt, 'ca.key': certs.caKey, 'tls.crt': certs.tlsCrt, 'tls.key': certs.tlsKey } }]);
  // Installed before Kueue starts, as the release does: until it answers, the API server refuses what
  // the webhooks cover (failurePolicy: Fail) rather than let it past Kueue.
  await apply(webhookConfigurations(webhookPort, caBundle));

  // config/components/manager/controller_manager_config.yaml, for one process on loopback.
  const config = {
    apiVersion: 'config.kueue.x-k8s.io/v1beta2',
    kind: 'Configuration',
    namespace: KUEUE_NAMESPACE,
    health: { healthProbeBindAddress: `127.0.0.1:${healthPort}` },
    metrics: { bindAddress: `127.0.0.1:${metricsPort}` },
    webhook: { host: '127.0.0.1', port: webhookPort, certDir },
    leaderElection: { leaderElect: false },
    // Kueue's own certificate management, as in its default install: it finds the Secret valid, keeps
    // it, and injects its CA into the webhook configurations and the CRDs' conversion webhooks. (With it
    // off, Kueue 0.17 reads the metrics certificate from a fixed /etc/kueue/metrics/certs.)
    internalCertManagement: { enable: true },
    manageJobsWithoutQueueName: false,
    clientConnection: { qps: 50, burst: 100 },
    integrations: { frameworks: [...FRAMEWORKS] },
    // The visibility API is an aggregated API server (an APIService in front of a Service): nothing
    // here routes to it, so it stays off rather than bind a port no one can reach.
    featureGates: { VisibilityOnDemand: false },
    ...opts.config,
  };
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, stringify(config));

  const logFile = join(dir, `kueue-${Date.now()}.log`);
  const out = openSync(logFile, 'a');
  // setpriv --pdeathsig: Kueue dies with the test worker that started it, even one that is killed.
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'TERM', '--', bin, `--config=${configFile}`, `--zap-log-level=${opts.logLevel ?? 2}`], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ['ignore', out, out],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  writeFileSync(PID_FILE(), String(child.pid));
  const logTail = () => readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  const handle: KueueProcess = {
    pid: child.pid!,
    logFile,
    webhookPort,
    metricsPort,
    healthPort,
    errors(expected = []) {
      return readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => /"level":"error"/.test(l) || /^E\d{4} /.test(l))
        .filter((l) => !expected.some((re) => re.test(l)));
    },
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // Nothing may call a stopped Kueue: with failurePolicy Fail, every Job create would be refused.
      await removeWebhookConfigurations();
      rmSync(PID_FILE(), { force: true });
    },
  };

  try {
    // Ready: caches synced, certificates in place, webhook server listening.
    await waitFor(
      async () => {
        if (exitCode !== undefined) return `exited with ${exitCode}`;
        const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
        return res?.ok ? 'ready' : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: `Kueue /readyz (log: ${logFile})` },
    ).then((state) => {
      if (state !== 'ready') throw new Error(`kueue ${state}`);
    });
    // The API server calls Kueue: its Job webhook suspends a Job that names a queue (a server-side
    // dry run; nothing is stored).
    const probe = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'kueue-webhook-probe', namespace: 'default', labels: { 'kueue.x-k8s.io/queue-name': 'probe' } },
      spec: { suspend: false, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
    };
    await waitFor(
      async () => {
        const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(probe) });
        if (r.code !== 0) throw new Error(r.stderr.trim());
        return (JSON.parse(r.stdout) as { spec: { suspend?: boolean } }).spec.suspend === true;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: "Kueue's Job webhook, called by the API server" },
    );
  } catch (err) {
    await handle.stop();
    throw new Error(`${(err as Error).message}\n--- ${logFile} (tail) ---\n${logTail()}`);
  }
  console.log(`[kueue] ready in ${Date.now() - t0} ms (webhooks on 127.0.0.1:${webhookPort}; log ${logFile})`);
  return handle;
}

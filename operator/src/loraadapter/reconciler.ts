// The LoraAdapter reconciler: level-triggered and idempotent. Keeps the reclaim finalizer in step
// with reclaimPolicy (and reclaims on deletion), then, when a check is due, verifies the stored
// artifact and merges the verdict into status: Ready, or a condition whose reason says why not.
// A check is due once a verify period has passed since the last good one, and at once when the
// spec changed or the adapter is not Ready; the next one is scheduled with requeueAfter.
import type { S3Client } from '@aws-sdk/client-s3';
import { ApiException, PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { S3Location } from '@loraplane/api/common';
import { fineTuneJob } from '@loraplane/api/finetunejob';
import { GROUP, VERSION } from '@loraplane/api/group';
import { loraAdapter, type LoraAdapter, type LoraAdapterStatus } from '@loraplane/api/loraadapter';
import { LORAADAPTER } from '@loraplane/api/resources';
import type { CacheReader } from '../controller/cache.js';
import { TerminalError, type ObjectKey, type Result } from '../controller/controller.js';
import type { EventRecorder } from '../kube/events.js';
import { s3Client } from '@loraplane/storage/client';
import { deleteManifestFiles } from '@loraplane/storage/delete';
import { StorageError, s3Uri } from '@loraplane/storage/errors';
import { folderPrefix } from '@loraplane/storage/location';
import { readManifest } from '@loraplane/storage/manifest';
import type { CallOptions } from '@loraplane/storage/objects';
import { loadCredentials, type ReadSecret } from './credentials.js';
import type { EndpointPolicy } from './endpoints.js';
import type { AdapterMetrics } from './metrics.js';
import { finalizerAction, finalizersAfter } from './reclaim.js';
import { resolveSource } from './source.js';
import { changes, headline, msUntilDue, nextStatus } from './status.js';
import { verdictReason, type Failure, type Verdict } from './verdict.js';
import { WEIGHTS_FILE, verifyArtifact } from './verify-artifact.js';

export interface LoraAdapterReconcilerDeps {
  adapters: CacheReader<unknown>;
  fineTuneJobs: CacheReader<unknown>;
  customObjects: CustomObjectsApi;
  readSecret: ReadSecret;
  endpoints: EndpointPolicy;
  events: EventRecorder;
  metrics: AdapterMetrics;
  verifyPeriodMs: number;
  log: Logger;
  now?: () => Date;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const isConflictOrGone = (err: unknown) => err instanceof ApiException && (err.code === 409 || err.code === 404);
const CONFLICT_RETRY_MS = 200;
// A check must not hold a worker for minutes: short timeouts, a few quick tries; the controller's
// back-off spaces out the reconciles that still fail.
const CLIENT_OPTIONS = { connectionTimeoutMs: 5_000, requestTimeoutMs: 30_000, maxSockets: 8 };
const RETRY = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

/** A storage failure that a retry may fix; the reconcile fails with it so the controller backs off. */
class StorageRetry extends Error {
  override readonly name = 'StorageRetry';
}

export function createLoraAdapterReconciler(deps: LoraAdapterReconcilerDeps) {
  const now = deps.now ?? (() => new Date());
  const ref = (a: LoraAdapter) => ({ group: GROUP, version: VERSION, plural: LORAADAPTER.plural, namespace: a.metadata.namespace, name: a.metadata.name });
  const jobOf = (a: LoraAdapter) => {
    const name = a.spec.source.fineTuneJob?.name;
    return name === undefined ? undefined : fineTuneJob.safeParse(deps.fineTuneJobs.get(a.metadata.namespace, name)).data;
  };

  /**
   * Runs fn with a client for the location, or returns the verdict that the operator may not connect
   * there (endpoint not allowed) or has no credentials of the adapter's namespace for it. signal
   * aborts every request and retry wait of fn.
   */
  async function withStorage<T>(
    a: LoraAdapter,
    location: S3Location,
    log: Logger,
    signal: AbortSignal,
    fn: (client: S3Client, opts: CallOptions) => Promise<T>,
  ): Promise<T | Failure> {
    const refused = deps.endpoints.check(location);
    if (refused) return refused;
    const credentials = await loadCredentials(deps.readSecret, a.metadata.namespace, location);
    if ('kind' in credentials) return credentials;
    const client = s3Client(location, credentials, { ...CLIENT_OPTIONS, logger: log, lookup: deps.endpoints.lookup });
    try {
      return await fn(client, { retry: RETRY, logger: log, signal });
    } finally {
      client.destroy();
    }
  }

  async function check(a: LoraAdapter, log: Logger, signal: AbortSignal): Promise<{ verdict: Verdict; fields: LoraAdapterStatus }> {
    const source = resolveSource(a, jobOf(a));
    if ('kind' in source) return { verdict: source, fields: {} };
    const verdict = await withStorage(a, source.location, log, signal, (client, opts) =>
      verifyArtifact(client, source.location, a.spec.baseModel.name, source.expect, opts),
    );
    return { verdict, fields: source.fields };
  }

  async function writeStatus(a: LoraAdapter, status: LoraAdapterStatus): Promise<void> {
    await deps.customObjects.patchNamespacedCustomObjectStatus(
      { ...ref(a), body: { metadata: { resourceVersion: a.metadata.resourceVersion }, status } },
      mergePatch,
    );
  }

  async function setFinalizers(a: LoraAdapter, finalizers: string[]): Promise<void> {
    await deps.customObjects.patchNamespacedCustomObject(
      { ...ref(a), body: { metadata: { resourceVersion: a.metadata.resourceVersion, finalizers } } },
      mergePatch,
    );
  }

  /** One event and one count per change of phase or reason; drift (Ready → not Ready) is named as such. */
  function announce(a: LoraAdapter, before: LoraAdapterStatus | undefined, after: LoraAdapterStatus, log: Logger): void {
    const was = headline(before);
    const is = headline(after);
    if (!is || (was?.phase === is.phase && was.reason === is.reason)) return;
    const drift = was?.phase === 'Ready' && is.phase !== 'Ready';
    const retrying = is.reason === 'StorageUnreachable' || is.reason === 'StorageError';
    deps.metrics.transitions.inc({ phase: is.phase, reason: is.reason });
    if (drift) deps.metrics.drift.inc({ reason: is.reason });
    const said = after.conditions?.find((c) => c.type === (retrying ? 'Reconciling' : 'Ready'))?.message ?? '';
    const message = drift ? `drift: ${said}` : said;
    const warning = is.phase === 'Failed' || retrying;
    log[warning ? 'warn' : 'info']({ phase: is.phase, reason: is.reason, from: was }, message);
    deps.events.record(a, warning ? 'Warning' : 'Normal', is.reason, message);
  }

  /**
   * Deletes what this adapter verified, and nothing else: only an artifact whose manifest still gives
   * the weights the digest pinned at verification, only the files that manifest lists (manifest
   * first), only with the namespace's own Secret. 'done' lets the finalizer go, a Result keeps it.
   */
  async function reclaim(a: LoraAdapter, log: Logger, signal: AbortSignal): Promise<'done' | Result> {
    // A job's output counts as the adapter's only once verified (status.location): never the prefix of a running trainer.
    const location = a.spec.source.s3 ?? a.status?.location;
    const verified = a.status?.digest;
    const skip = async (why: string): Promise<'done'> => {
      deps.metrics.reclaims.inc({ result: 'skipped' });
      deps.events.record(a, 'Warning', 'ReclaimSkipped', `${why}; nothing was deleted`);
      return 'done';
    };
    if (!location || !verified) {
      deps.metrics.reclaims.inc({ result: 'skipped' });
      deps.events.record(a, 'Normal', 'NothingToReclaim', 'no stored artifact was ever verified for this adapter; nothing was deleted');
      return 'done';
    }
    const uri = s3Uri(location.bucket, folderPrefix(location.prefix));
    const keep = async (why: string): Promise<Result> => {
      deps.metrics.reclaims.inc({ result: 'failed' });
      deps.events.record(
        a,
        'Warning',
        'ReclaimFailed',
        `${why}; the adapter's objects under ${uri} and the finalizer stay until it works (or the finalizer is removed)`,
      );
      return { requeueAfterMs: deps.verifyPeriodMs };
    };
    let deleted: number | string;
    try {
      const out = await withStorage(a, location, log, signal, async (client, opts) => {
        const stored = await readManifest(client, location.bucket, location.prefix, opts);
        if (!stored) return `no manifest under ${uri} any more`;
        const weights = stored.manifest.files.find((f) => f.path === WEIGHTS_FILE)?.sha256;
        if (weights !== verified)
          return `the manifest under ${uri} is not the artifact this adapter verified (weights ${weights ?? 'missing'}, verified ${verified})`;
        await deleteManifestFiles(client, location.bucket, location.prefix, stored.manifest, opts);
        return stored.manifest.files.length + 1;
      });
      if (typeof out === 'object') return out.reason === 'CredentialsMissing' ? keep(out.message) : skip(out.message);
      deleted = out;
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      if (err.code === 'Config' || err.code === 'Incomplete') return skip(err.message);
      if (err.code === 'NoSuchBucket') return skip(`bucket ${location.bucket} does not exist`);
      if (err.code === 'AccessDenied' || err.code === 'InvalidCredentials') return keep(err.message);
      throw err; // transient: the controller retries with back-off
    }
    if (typeof deleted === 'string') return skip(deleted);
    deps.metrics.reclaims.inc({ result: 'deleted' });
    log.info({ uri, objects: deleted }, 'reclaimed the stored adapter');
    deps.events.record(
      a,
      'Normal',
      'Reclaimed',
      `deleted the adapter's ${deleted} objects under ${uri}: its manifest and the files it lists (reclaimPolicy Delete)`,
    );
    return 'done';
  }

  return async function reconcile(key: ObjectKey, signal: AbortSignal): Promise<Result> {
    const raw = deps.adapters.get(key.namespace, key.name);
    if (!raw) return {};
    const parsed = loraAdapter.safeParse(raw);
    if (!parsed.success) throw new TerminalError(`LoraAdapter ${key.namespace}/${key.name} does not match the API: ${parsed.error.message}`);
    const a = parsed.data;
    const log = deps.log.child({ loraadapter: `${key.namespace}/${key.name}`, resourceVersion: a.metadata.resourceVersion });

    try {
      const action = finalizerAction(a);
      if (action === 'reclaim') {
        const done = await reclaim(a, log, signal);
        if (done !== 'done') return done;
      }
      if (action !== 'none') {
        await setFinalizers(a, finalizersAfter(a, action));
        return {};
      }
      if (a.metadata.deletionTimestamp) return {};

      const started = now();
      const wait = msUntilDue(a, started, deps.verifyPeriodMs);
      if (wait > 0) return { requeueAfterMs: wait };
      const end = deps.metrics.verificationDuration.startTimer();
      const { verdict, fields } = await check(a, log, signal);
      end();
      signal.throwIfAborted(); // stopped mid-check: the verdict says "aborted", which is no news about the artifact
      deps.metrics.verifications.inc({ result: verdictReason(verdict) });
      if (verdict.kind === 'verified') deps.metrics.hashedBytes.inc(verdict.artifact.hashedBytes);

      const status = { ...fields, ...nextStatus(a, verdict, started.toISOString()) };
      if (changes(a.status, status)) await writeStatus(a, status);
      announce(a, a.status, { ...a.status, ...status }, log);
      if (verdict.kind === 'retry') throw new StorageRetry(verdict.message);
      return { requeueAfterMs: deps.verifyPeriodMs };
    } catch (err) {
      if (isConflictOrGone(err)) return { requeueAfterMs: CONFLICT_RETRY_MS };
      throw err;
    }
  };
}

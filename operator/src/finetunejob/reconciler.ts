// The FineTuneJob reconciler: level-triggered and idempotent. Reads the FineTuneJob, its Job and
// pods from the informer caches, creates the Job when missing, keeps Job.spec.suspend in step with
// spec.suspend, and writes what it observed to the status subresource. One step per call.
import {
  ApiException,
  PatchStrategy,
  setHeaderOptions,
  type BatchV1Api,
  type CustomObjectsApi,
  type V1Job,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { fineTuneJob, parallelismOf, type FineTuneJob, type FineTuneJobStatus } from '@loraplane/api/finetunejob';
import { GROUP, VERSION } from '@loraplane/api/group';
import { FINETUNEJOB } from '@loraplane/api/resources';
import type { CacheReader } from '../controller/cache.js';
import { TerminalError, keyOf, type ObjectKey, type Result } from '../controller/controller.js';
import type { EventRecorder } from '../kube/events.js';
import {
  ANNOTATION_DEACTIVATED,
  DEACTIVATED_BY_SPEC,
  KUEUE_GROUP,
  KUEUE_VERSION,
  WORKLOADS,
  kueueDecision,
  kueueView,
  workloadOf,
  type KueueView,
  type Workload,
} from './kueue.js';
import { ANNOTATION_COMPLETION_INDEX, LABEL_FINETUNEJOB, LABEL_JOB_NAME, LABEL_KUEUE_QUEUE, trainerJobName } from './naming.js';
import { observe } from './observe.js';
import { renderTrainerJob, renderTrainerService, type TrainerDefaults } from './render-job.js';
import { scrapeProgress } from './progress.js';
import { ADAPTER_PUBLISHED, publishAdapter } from './publish-adapter.js';
import { isTerminal, nextStatus, type Extras } from './status.js';
import { METRICS_PORT } from '@loraplane/api/trainer-contract';

export interface FineTuneJobReconcilerDeps {
  fineTuneJobs: CacheReader<unknown>;
  jobs: CacheReader<V1Job>;
  pods: CacheReader<V1Pod>;
  /** Kueue's Workloads, when the cluster serves kueue.x-k8s.io (controller.ts discovers it at start). */
  workloads?: CacheReader<Workload>;
  batch: BatchV1Api;
  customObjects: CustomObjectsApi;
  events: EventRecorder;
  trainer: TrainerDefaults;
  /** The newest FailedCreate event of a Job: why the Job controller cannot create its pod (missing ServiceAccount, PriorityClass, quota). */
  failedCreate: (namespace: string, jobName: string) => string | undefined;
  /** Makes the default trainer ServiceAccount exist in a namespace. */
  ensureServiceAccount: (namespace: string) => Promise<void>;
  /** Creates a multi-pod trainer Job's headless Service (one that exists already is left as is). */
  ensureService: (service: V1Service) => Promise<void>;
  log: Logger;
  /** How often a running trainer's /metrics is read into status.progress. */
  progressIntervalMs: number;
  now?: () => Date;
}

const WARNING_REASONS = new Set([
  'FailedCreate',
  'Unschedulable',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  // Kueue cannot admit the Job as configured (no such LocalQueue or ClusterQueue, a stopped queue).
  'Inadmissible',
]);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const SCRAPE_TIMEOUT_MS = 2000;
const CONFLICT_RETRY_MS = 60_000;

function metricsUrl(pod: V1Pod): string {
  const port = pod.spec?.containers[0]?.ports?.find((p) => p.name === 'metrics')?.containerPort ?? METRICS_PORT;
  return `http://${pod.status!.podIP}:${port}/metrics`;
}

/** The API server's own words from a refused request (its Status message), else the exception's. */
function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text || err.message;
  }
}

/** The Job fields a FineTuneJob may change after creation: null clears one the spec dropped (merge patch). */
const jobLimits = (o: { spec: { backoffLimit?: number; activeDeadlineSeconds?: number; ttlSecondsAfterFinished?: number } }) => ({
  backoffLimit: o.spec.backoffLimit ?? null,
  activeDeadlineSeconds: o.spec.activeDeadlineSeconds ?? null,
  ttlSecondsAfterFinished: o.spec.ttlSecondsAfterFinished ?? null,
});

const isConflictOrGone = (err: unknown) => err instanceof ApiException && (err.code === 409 || err.code === 404);

export function createFineTuneJobReconciler(deps: FineTuneJobReconcilerDeps) {
  const now = deps.now ?? (() => new Date());
  // When each running job's trainer was last scraped. Every status write comes back through the
  // watch as a new reconcile; scraping on each of those would ignore progressIntervalMs and loop.
  const lastScrapeMs = new Map<string, number>();

  async function writeStatus(ftj: FineTuneJob, computed: FineTuneJobStatus): Promise<void> {
    const status = { ...computed, parallelism: parallelismOf(ftj.spec) };
    const ignoreTimes = (s: FineTuneJobStatus | undefined) => ({
      ...s,
      conditions: s?.conditions?.map(({ lastTransitionTime: _ignored, ...c }) => c),
    });
    if (isDeepStrictEqual(JSON.parse(JSON.stringify(ignoreTimes(ftj.status))), JSON.parse(JSON.stringify(ignoreTimes(status))))) return;
    // A merge patch keeps what it does not name: a field the new status drops (status.admission once
    // Kueue evicts the Job) is removed with an explicit null.
    const cleared = Object.fromEntries(
      Object.keys(ftj.status ?? {})
        .filter((k) => status[k as keyof FineTuneJobStatus] === undefined)
        .map((k) => [k, null]),
    );
    await deps.customObjects.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: FINETUNEJOB.plural,
        namespace: ftj.metadata.namespace!,
        name: ftj.metadata.name,
        body: { metadata: { resourceVersion: ftj.metadata.resourceVersion }, status: { ...status, ...cleared } },
      },
      mergePatch,
    );
  }

  /**
   * One event per phase change, plus one whenever a new problem appears while the phase stays. A new
   * FineTuneJob's first phase is announced only when it is a problem: its JobCreated event said it started.
   */
  function announce(ftj: FineTuneJob, before: FineTuneJobStatus | undefined, after: FineTuneJobStatus): void {
    const reason = after.conditions?.find((c) => c.type === 'Ready')?.reason ?? after.phase ?? 'Unknown';
    const beforeReason = before?.conditions?.find((c) => c.type === 'Ready')?.reason;
    const problem = after.phase === 'Failed' || WARNING_REASONS.has(reason);
    if (before?.phase === after.phase && (beforeReason === reason || !problem)) return;
    if (!before?.phase && !problem) return;
    deps.events.record(ftj, problem ? 'Warning' : 'Normal', reason, `${after.phase}: ${after.message}`);
  }

  /** Kueue's decision; a preemptor that is another FineTuneJob's trainer Job is named. */
  function kueueViewOf(workload: Workload, queueName: string | undefined): KueueView | undefined {
    const decision = kueueDecision(workload);
    const uid = decision.preemptorJobUid;
    const preemptor = uid ? deps.jobs.list().find((j) => j.metadata?.uid === uid) : undefined;
    const owner = preemptor?.metadata?.labels?.[LABEL_FINETUNEJOB];
    return kueueView(decision, queueName, owner ? `${preemptor!.metadata!.namespace}/${owner}` : undefined);
  }

  return async function reconcile(key: ObjectKey, signal: AbortSignal): Promise<Result> {
    const raw = deps.fineTuneJobs.get(key.namespace, key.name);
    if (!raw) {
      lastScrapeMs.delete(keyOf(key));
      return {}; // deleted: the garbage collector removes the Job and its pods via ownerReferences
    }
    const parsed = fineTuneJob.safeParse(raw);
    if (!parsed.success) throw new TerminalError(`FineTuneJob ${key.namespace}/${key.name} does not match the API: ${parsed.error.message}`);
    const ftj = parsed.data;
    const { uid, namespace } = ftj.metadata;
    if (ftj.metadata.deletionTimestamp || !uid || !namespace) return {};
    const log = deps.log.child({ finetunejob: `${namespace}/${ftj.metadata.name}`, resourceVersion: ftj.metadata.resourceVersion });

    const jobName = trainerJobName(ftj.metadata.name, uid, ftj.spec.resources.nodes);
    const job = deps.jobs.get(namespace, jobName);
    if (!job && isTerminal(ftj.status?.phase)) return {}; // finished and the Job was reaped by its TTL

    if (!job) {
      if (!ftj.spec.trainer?.serviceAccountName) await deps.ensureServiceAccount(namespace);
      const identified = { ...ftj, metadata: { ...ftj.metadata, uid, namespace } };
      // The pods' names resolve through the Service; it is there before the first pod.
      if (ftj.spec.resources.nodes > 1) await deps.ensureService(renderTrainerService(identified));
      const desired = renderTrainerJob(identified, deps.trainer);
      try {
        await deps.batch.createNamespacedJob({ namespace, body: desired });
        log.info({ job: jobName }, 'created trainer Job');
        deps.events.record(ftj, 'Normal', 'JobCreated', `created trainer Job ${jobName}`);
        // One step: the Job's watch event brings this FineTuneJob back to record its status. Under a
        // burst the worker goes on to the next FineTuneJob's Job first (the status write waits its turn
        // in the queue), so every Job exists sooner and no status is written for a Job not yet seen.
        return {};
      } catch (err) {
        // Created by an earlier incarnation whose cache had not caught up: the watch will bring it.
        if (err instanceof ApiException && err.code === 409) return { requeueAfterMs: 1000 };
        // Refused (422 Invalid, 400, 403 from an admission policy): retrying the same Job fails the same way.
        if (err instanceof ApiException && (err.code === 422 || err.code === 400 || err.code === 403)) {
          const message = `the API server refused the trainer Job: ${apiMessage(err)}`;
          log.warn({ job: jobName, code: err.code }, message);
          const status = nextStatus(ftj, { phase: 'Failed', reason: 'JobRejected', message, attempts: 0 }, jobName, now().toISOString());
          await writeStatus(ftj, status);
          announce(ftj, ftj.status, status);
          return {};
        }
        throw err;
      }
    } else if (!job.metadata?.ownerReferences?.some((o) => o.uid === uid)) {
      throw new TerminalError(`Job ${namespace}/${jobName} exists and is not owned by this FineTuneJob`);
    }

    // The mutable spec fields the Job allows to change follow the FineTuneJob.
    const limits = jobLimits(ftj);
    if (!isTerminal(ftj.status?.phase) && !isDeepStrictEqual(limits, jobLimits({ spec: job.spec ?? {} }))) {
      await deps.batch.patchNamespacedJob({ namespace, name: jobName, body: { spec: limits } }, mergePatch);
      log.info({ job: jobName, ...limits }, 'updated the trainer Job from the FineTuneJob');
      return {};
    }

    // Kueue manages the Job when it has a Workload or carries a queue name (spec.queueName, or the
    // namespace's default LocalQueue that Kueue's webhook set): then Kueue alone unsuspends it.
    const workload = deps.workloads && workloadOf(job, deps.workloads.list(namespace));
    const queueName = ftj.spec.queueName ?? job.metadata?.labels?.[LABEL_KUEUE_QUEUE];
    const wantSuspended = ftj.spec.suspend;
    const jobSuspended = !!job.spec?.suspend;
    // Kueue undoes a suspend written on a Job whose Workload it admitted: spec.suspend goes through the
    // Workload instead (Kueue's own stop switch, spec.active), and Kueue evicts and suspends the Job
    // itself. Only a Workload the operator deactivated is reactivated: Kueue deactivates some itself.
    const deactivatedBySpec = workload?.metadata?.annotations?.[ANNOTATION_DEACTIVATED] === DEACTIVATED_BY_SPEC;
    if (!isTerminal(ftj.status?.phase) && workload && (wantSuspended ? workload.spec?.active !== false : deactivatedBySpec)) {
      const name = workload.metadata!.name!;
      await deps.customObjects.patchNamespacedCustomObject(
        {
          group: KUEUE_GROUP,
          version: KUEUE_VERSION,
          plural: WORKLOADS,
          namespace,
          name,
          body: { metadata: { annotations: { [ANNOTATION_DEACTIVATED]: wantSuspended ? DEACTIVATED_BY_SPEC : null } }, spec: { active: !wantSuspended } },
        },
        mergePatch,
      );
      log.info({ workload: name, active: !wantSuspended }, wantSuspended ? 'deactivated the Kueue Workload' : 'reactivated the Kueue Workload');
      const what = `${wantSuspended ? 'deactivating' : 'reactivating'} Kueue Workload ${name} of trainer Job ${jobName}`;
      deps.events.record(ftj, 'Normal', wantSuspended ? 'Suspending' : 'Resuming', what);
      return {};
    }
    // Without a Workload (yet): the operator suspends on request, and resumes only a Job no queue names.
    if (!isTerminal(ftj.status?.phase) && !workload && wantSuspended !== jobSuspended && (wantSuspended || !queueName)) {
      await deps.batch.patchNamespacedJob({ namespace, name: jobName, body: { spec: { suspend: wantSuspended } } }, mergePatch);
      log.info({ job: jobName, suspend: wantSuspended }, wantSuspended ? 'suspended trainer Job' : 'resumed trainer Job');
      deps.events.record(ftj, 'Normal', wantSuspended ? 'Suspending' : 'Resuming', `${wantSuspended ? 'suspending' : 'resuming'} trainer Job ${jobName}`);
      return {};
    }

    const pods = deps.pods.list(namespace).filter((p) => p.metadata?.labels?.[LABEL_JOB_NAME] === jobName);
    let observation = observe(ftj, job, pods, workload ? kueueViewOf(workload, queueName) : undefined);
    if (observation.reason === 'PodCreating') {
      const refused = deps.failedCreate(namespace, jobName);
      if (refused) observation = { ...observation, reason: 'FailedCreate', message: `the Job controller cannot create the trainer pod: ${refused}` };
    }
    const extras: Extras = {};
    let requeueAfterMs: number | undefined;
    if (observation.phase === 'Running') {
      // Rank 0 serves the progress: the only pod, or pod 0 of a multi-pod group.
      const running = pods.find(
        (p) => p.status?.phase === 'Running' && p.status.podIP && (p.metadata?.annotations?.[ANNOTATION_COMPLETION_INDEX] ?? '0') === '0',
      );
      const wait = (lastScrapeMs.get(keyOf(key)) ?? -Infinity) + deps.progressIntervalMs - now().getTime();
      if (running && wait <= 0) {
        lastScrapeMs.set(keyOf(key), now().getTime());
        extras.progress = (await scrapeProgress(metricsUrl(running), SCRAPE_TIMEOUT_MS, now(), signal)) ?? ftj.status?.progress;
        signal.throwIfAborted(); // stopped mid-scrape: write nothing
      }
      requeueAfterMs = wait > 0 ? wait : deps.progressIntervalMs;
    } else lastScrapeMs.delete(keyOf(key));
    const published = ftj.status?.conditions?.find((c) => c.type === ADAPTER_PUBLISHED);
    if (observation.phase === 'Succeeded' && observation.result && published?.status !== 'True') {
      extras.published = await publishAdapter(deps.customObjects, ftj, observation.result);
      if (extras.published.status === 'True') {
        log.info({ adapter: ftj.spec.output.adapterName }, extras.published.message);
        deps.events.record(ftj, 'Normal', ADAPTER_PUBLISHED, extras.published.message);
      } else {
        requeueAfterMs = CONFLICT_RETRY_MS;
        if (published?.reason !== extras.published.reason) deps.events.record(ftj, 'Warning', extras.published.reason, extras.published.message);
      }
    }
    const status = nextStatus(ftj, observation, jobName, now().toISOString(), extras);
    try {
      await writeStatus(ftj, status);
    } catch (err) {
      if (isConflictOrGone(err)) return { requeueAfterMs: 200 };
      throw err;
    }
    announce(ftj, ftj.status, status);
    return requeueAfterMs ? { requeueAfterMs } : {};
  };
}

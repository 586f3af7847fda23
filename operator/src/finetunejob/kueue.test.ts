import type { BatchV1Api, CustomObjectsApi, V1Job, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import type { FineTuneJobStatus } from '@loraplane/api/finetunejob';
import type { CacheReader } from '../controller/cache.js';
import type { EventRecorder } from '../kube/events.js';
import { describeFlavors, kueueDecision, kueueView, preemptionsOf, workloadOf, type Workload, type WorkloadCondition } from './kueue.js';
import { LABEL_FINETUNEJOB, LABEL_KUEUE_QUEUE, trainerJobName } from './naming.js';
import { observe } from './observe.js';
import { createFineTuneJobReconciler } from './reconciler.js';
import { nextStatus } from './status.js';

const JOB_UID = 'job-uid-1';
const job = (spec: Partial<V1Job['spec']> = {}, labels: Record<string, string> = {}): V1Job => ({
  metadata: { name: 'support-assistant-abc123', namespace: 'team-a', uid: JOB_UID, labels },
  spec: { template: {}, suspend: true, ...spec },
  status: {},
});
const workload = (conditions: WorkloadCondition[], admission?: NonNullable<Workload['status']>['admission']): Workload => ({
  metadata: {
    name: 'job-support-assistant-abc123-1f2e3',
    namespace: 'team-a',
    labels: { 'kueue.x-k8s.io/job-uid': JOB_UID },
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'support-assistant-abc123', uid: JOB_UID, controller: true }],
  },
  status: { conditions, ...(admission ? { admission } : {}) },
});
const c = (type: string, status: 'True' | 'False', reason: string, message = ''): WorkloadCondition => ({ type, status, reason, message });
const INSUFFICIENT = "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 2 more needed";
const ADMISSION = {
  clusterQueue: 'team-a',
  podSetAssignments: [{ name: 'main', flavors: { 'nvidia.com/gpu': 'h100', cpu: 'h100', memory: 'h100' }, count: 1 }],
};
const PREEMPTION =
  'Preempted to accommodate a workload (UID: wl-uid-9, JobUID: job-uid-9) due to prioritization in the ClusterQueue; preemptor path: /gpu/team-a; preemptee path: /gpu/team-a';

describe('workloadOf', () => {
  it('finds the Workload the Job controls, else the one labelled with its uid', () => {
    const other = { metadata: { name: 'other', labels: { 'kueue.x-k8s.io/job-uid': 'x' } } };
    const owned = workload([]);
    expect(workloadOf(job(), [other, owned])).toBe(owned);
    const labelled = { metadata: { name: 'labelled', labels: { 'kueue.x-k8s.io/job-uid': JOB_UID } } };
    expect(workloadOf(job(), [other, labelled])).toBe(labelled);
    expect(workloadOf(job(), [other])).toBeUndefined();
  });
});

describe('kueueDecision and kueueView', () => {
  it("a Workload waiting for quota: Queued with Kueue's message, Admitted=False with its reason", () => {
    const d = kueueDecision(workload([c('QuotaReserved', 'False', 'Pending', INSUFFICIENT)]));
    expect(d).toMatchObject({ state: 'Pending', reason: 'Pending', message: INSUFFICIENT });
    const view = kueueView(d, 'gpu')!;
    expect(view.queued).toEqual({ reason: 'WaitingForAdmission', message: `waiting for Kueue to admit the Job from LocalQueue gpu: ${INSUFFICIENT}` });
    expect(view.condition).toEqual({ status: 'False', reason: 'Pending', message: INSUFFICIENT });
    expect(view.admission).toBeUndefined();
  });

  it('a Workload Kueue has not looked at yet', () => {
    const view = kueueView(kueueDecision(workload([])), 'gpu')!;
    expect(view.condition).toEqual({
      status: 'False',
      reason: 'WorkloadCreated',
      message: 'Kueue has not yet considered Workload job-support-assistant-abc123-1f2e3',
    });
    expect(view.queued.reason).toBe('WorkloadCreated');
  });

  it("an inadmissible Workload keeps Kueue's reason", () => {
    const view = kueueView(kueueDecision(workload([c('QuotaReserved', 'False', 'Inadmissible', "LocalQueue gpu doesn't exist")])), 'gpu')!;
    expect(view.queued).toEqual({ reason: 'Inadmissible', message: "waiting for Kueue to admit the Job from LocalQueue gpu: LocalQueue gpu doesn't exist" });
  });

  it('an admitted Workload names its ClusterQueue and flavors', () => {
    const d = kueueDecision(workload([c('QuotaReserved', 'True', 'QuotaReserved'), c('Admitted', 'True', 'Admitted', 'The workload is admitted')], ADMISSION));
    expect(d).toMatchObject({ state: 'Admitted', clusterQueue: 'team-a', flavors: { 'nvidia.com/gpu': 'h100', cpu: 'h100', memory: 'h100' } });
    const view = kueueView(d, 'gpu')!;
    expect(view.condition).toEqual({
      status: 'True',
      reason: 'Admitted',
      message: 'admitted by ClusterQueue team-a (flavor h100 for cpu, memory, nvidia.com/gpu)',
    });
    expect(view.admission).toEqual({ workload: 'job-support-assistant-abc123-1f2e3', clusterQueue: 'team-a', flavors: d.flavors });
    expect(describeFlavors({ 'nvidia.com/gpu': 'h100', cpu: 'cpu-pool' })).toBe('flavor cpu-pool for cpu; flavor h100 for nvidia.com/gpu');
  });

  it('quota reserved but not admitted: waiting for admission checks', () => {
    const d = kueueDecision(workload([c('QuotaReserved', 'True', 'QuotaReserved'), c('Admitted', 'False', 'NoChecks', 'waiting for provisioning')], ADMISSION));
    expect(kueueView(d, 'gpu')!.queued).toEqual({
      reason: 'QuotaReserved',
      message: 'quota reserved in ClusterQueue team-a (flavor h100 for cpu, memory, nvidia.com/gpu); waiting for admission checks: waiting for provisioning',
    });
  });

  it('a preempted Workload names the preemptor and why, and why it still waits', () => {
    const wl = workload([
      c('QuotaReserved', 'False', 'Pending', INSUFFICIENT),
      c('Admitted', 'False', 'NoReservation'),
      c('Evicted', 'True', 'Preempted', PREEMPTION),
      c('Preempted', 'True', 'InClusterQueue', PREEMPTION),
    ]);
    const d = kueueDecision(wl);
    expect(d).toMatchObject({ state: 'Evicted', reason: 'Preempted', preemption: 'InClusterQueue', preemptorJobUid: 'job-uid-9', waiting: INSUFFICIENT });
    const view = kueueView(d, 'gpu', 'team-a/urgent')!;
    expect(view.condition).toEqual({ status: 'False', reason: 'Preempted', message: `preempted by FineTuneJob team-a/urgent (InClusterQueue): ${PREEMPTION}` });
    expect(view.queued.message).toBe(`preempted by FineTuneJob team-a/urgent (InClusterQueue): ${PREEMPTION}; waiting to be admitted again: ${INSUFFICIENT}`);
    expect(kueueView(kueueDecision(workload([c('Evicted', 'True', 'PodsReadyTimeout', 'Exceeded the PodsReady timeout')])), 'gpu')!.condition.message).toBe(
      'evicted by Kueue (PodsReadyTimeout): Exceeded the PodsReady timeout',
    );
  });

  it("counts Kueue's preemptions and says a re-admission is one", () => {
    const stats = {
      evictions: [
        { reason: 'Preempted', underlyingCause: 'InClusterQueue', count: 1 },
        { reason: 'Preempted', underlyingCause: 'InCohortReclamation', count: 1 },
        { reason: 'PodsReadyTimeout', underlyingCause: '', count: 3 },
      ],
    };
    const wl = workload(
      [
        c('QuotaReserved', 'True', 'QuotaReserved'),
        c('Admitted', 'True', 'Admitted'),
        c('Evicted', 'False', 'QuotaReserved'),
        c('Preempted', 'False', 'QuotaReserved'),
      ],
      ADMISSION,
    );
    const again = { ...wl, status: { ...wl.status, schedulingStats: stats } };
    expect(preemptionsOf(again)).toBe(2);
    const d = kueueDecision(again);
    expect(d).toMatchObject({ state: 'Admitted', preemptions: 2 });
    const view = kueueView(d, 'gpu')!;
    expect(view.condition.message).toBe('admitted again after 2 preemptions by ClusterQueue team-a (flavor h100 for cpu, memory, nvidia.com/gpu)');
    expect(view.preemptions).toBe(2);
    const once = { ...wl, status: { ...wl.status, schedulingStats: { evictions: [stats.evictions[0]!] } } };
    expect(kueueView(kueueDecision(once), 'gpu')!.condition.message).toMatch(/^admitted again after a preemption by ClusterQueue team-a/);
    expect(kueueDecision(wl).preemptions).toBeUndefined();
    expect(kueueView(kueueDecision(wl), 'gpu')!.condition.message).toMatch(/^admitted by ClusterQueue team-a/);
  });

  it('a finished Workload adds nothing', () => {
    expect(
      kueueView(kueueDecision(workload([c('Admitted', 'True', 'Admitted'), c('Finished', 'True', 'Succeeded', 'Job finished successfully')])), 'gpu'),
    ).toBeUndefined();
  });
});

describe('FineTuneJob status from Kueue', () => {
  const ftj = { ...exampleFineTuneJob(), spec: { ...exampleFineTuneJob().spec, queueName: 'gpu' } };
  const t = '2026-11-29T10:00:00.000Z';
  const admitted = kueueView(kueueDecision(workload([c('QuotaReserved', 'True', 'QuotaReserved'), c('Admitted', 'True', 'Admitted')], ADMISSION)), 'gpu');

  it('queued, then running where Kueue admitted it, then preempted: conditions and status.admission follow', () => {
    const pending = kueueView(kueueDecision(workload([c('QuotaReserved', 'False', 'Pending', INSUFFICIENT)])), 'gpu');
    const queued = nextStatus(ftj, observe(ftj, job(), [], pending), 'j', t);
    expect(queued).toMatchObject({ phase: 'Queued', message: `waiting for Kueue to admit the Job from LocalQueue gpu: ${INSUFFICIENT}` });
    expect(queued.conditions!.find((x) => x.type === 'Admitted')).toMatchObject({ status: 'False', reason: 'Pending', message: INSUFFICIENT });
    expect(queued.conditions!.find((x) => x.type === 'Suspended')).toMatchObject({ status: 'True', reason: 'WaitingForAdmission' });
    expect(queued.admission).toBeUndefined();

    const pod: V1Pod = { metadata: { name: 'p-1' }, spec: { nodeName: 'gpu-h100-0', containers: [] }, status: { phase: 'Running' } };
    const running = nextStatus({ ...ftj, status: queued }, observe(ftj, job({ suspend: false }), [pod], admitted), 'j', t);
    expect(running.phase).toBe('Running');
    expect(running.conditions!.find((x) => x.type === 'Admitted')).toMatchObject({ status: 'True', message: expect.stringContaining('ClusterQueue team-a') });
    expect(running.admission).toMatchObject({ clusterQueue: 'team-a', flavors: { 'nvidia.com/gpu': 'h100' } });

    const evicted = kueueView(
      kueueDecision(workload([c('Evicted', 'True', 'Preempted', PREEMPTION), c('QuotaReserved', 'False', 'Preempted', PREEMPTION)])),
      'gpu',
    );
    const preempted = nextStatus({ ...ftj, status: running }, observe(ftj, job(), [], evicted), 'j', t);
    expect(preempted).toMatchObject({ phase: 'Queued', message: expect.stringMatching(/^preempted: Preempted to accommodate/) });
    expect(preempted.conditions!.find((x) => x.type === 'Ready')).toMatchObject({ reason: 'Preempted' });
    expect(preempted.admission).toBeUndefined();
  });

  it('keeps the preemption count in status.preemptions, also once the Workload is gone', () => {
    const evictedWl = workload([c('Evicted', 'True', 'Preempted', PREEMPTION), c('QuotaReserved', 'False', 'Preempted', PREEMPTION)]);
    const evicted = kueueView(
      kueueDecision({
        ...evictedWl,
        status: { ...evictedWl.status, schedulingStats: { evictions: [{ reason: 'Preempted', underlyingCause: 'InClusterQueue', count: 1 }] } },
      }),
      'gpu',
    );
    const preempted = nextStatus(ftj, observe(ftj, job(), [], evicted), 'j', t);
    expect(preempted.preemptions).toBe(1);
    const later = nextStatus({ ...ftj, status: preempted }, observe(ftj, job({ suspend: false }), []), 'j', t);
    expect(later.preemptions).toBe(1);
    expect(nextStatus(ftj, observe(ftj, job({ suspend: false }), [], admitted), 'j', t).preemptions).toBeUndefined();
  });

  it("keeps Kueue's last word once the Workload is gone", () => {
    const running = nextStatus(ftj, observe(ftj, job({ suspend: false }), [], admitted), 'j', t);
    const later = nextStatus({ ...ftj, status: running }, observe(ftj, job({ suspend: false }), []), 'j', t);
    expect(later.conditions!.find((x) => x.type === 'Admitted')).toMatchObject({ status: 'True' });
    expect(later.admission).toEqual(running.admission);
  });
});

describe('the reconciler never fights Kueue', () => {
  const cache = <T>(items: T[], key: (t: T) => string): CacheReader<T> => ({
    get: (ns, name) => items.find((i) => key(i) === `${ns}/${name}`),
    list: (ns) => items.filter((i) => ns === undefined || key(i).startsWith(`${ns}/`)),
  });

  async function reconcileOnce(spec: Partial<ReturnType<typeof exampleFineTuneJob>['spec']>, jobLabels: Record<string, string>, workloads: Workload[] = []) {
    const base = exampleFineTuneJob();
    const ftj = { ...base, spec: { ...base.spec, ...spec } };
    const { namespace, name, uid } = ftj.metadata;
    const jobName = trainerJobName(name, uid);
    const trainerJob: V1Job = {
      metadata: {
        name: jobName,
        namespace,
        uid: JOB_UID,
        labels: { [LABEL_FINETUNEJOB]: name, ...jobLabels },
        ownerReferences: [{ apiVersion: 'loraplane.io/v1alpha1', kind: 'FineTuneJob', name, uid }],
      },
      spec: { template: {}, suspend: true, backoffLimit: ftj.spec.backoffLimit },
      status: {},
    };
    const jobPatches: unknown[] = [];
    const workloadPatches: unknown[] = [];
    let status: FineTuneJobStatus | undefined;
    const reconcile = createFineTuneJobReconciler({
      fineTuneJobs: cache([ftj], (f) => `${f.metadata.namespace}/${f.metadata.name}`),
      jobs: cache([trainerJob], (j) => `${j.metadata!.namespace}/${j.metadata!.name}`),
      pods: cache<V1Pod>([], () => ''),
      workloads: cache(workloads, (w) => `${w.metadata!.namespace}/${w.metadata!.name}`),
      batch: { patchNamespacedJob: async (req: unknown) => void jobPatches.push(req) } as unknown as BatchV1Api,
      customObjects: {
        patchNamespacedCustomObjectStatus: async ({ body }: { body: { status: FineTuneJobStatus } }) => {
          status = body.status;
        },
        patchNamespacedCustomObject: async (req: { plural: string; name: string; body: unknown }) => void workloadPatches.push(req),
      } as unknown as CustomObjectsApi,
      events: { record: () => {} } as unknown as EventRecorder,
      trainer: { image: 'img', serviceAccountName: 'sa', imagePullPolicy: 'IfNotPresent' },
      failedCreate: () => undefined,
      ensureServiceAccount: async () => {},
      ensureService: async () => {},
      log: pino({ level: 'silent' }),
      progressIntervalMs: 10_000,
    });
    await reconcile({ namespace, name }, new AbortController().signal);
    return { jobPatches, workloadPatches, status };
  }

  it('leaves a queued Job suspended for Kueue to admit', async () => {
    const { jobPatches, status } = await reconcileOnce({ queueName: 'gpu' }, { [LABEL_KUEUE_QUEUE]: 'gpu' }, [
      workload([c('QuotaReserved', 'False', 'Pending', INSUFFICIENT)]),
    ]);
    expect(jobPatches).toEqual([]);
    expect(status).toMatchObject({ phase: 'Queued', message: `waiting for Kueue to admit the Job from LocalQueue gpu: ${INSUFFICIENT}` });
  });

  it('leaves a Job suspended that Kueue queued through a namespace default LocalQueue, or manages without a queue name', async () => {
    expect((await reconcileOnce({}, { [LABEL_KUEUE_QUEUE]: 'default' })).jobPatches).toEqual([]);
    const managed = await reconcileOnce({}, {}, [workload([c('QuotaReserved', 'False', 'Pending', INSUFFICIENT)])]);
    expect(managed.jobPatches).toEqual([]);
    expect(managed.status?.phase).toBe('Queued');
  });

  it('suspends through the Workload (spec.active), which Kueue honours, never through the Job Kueue admitted', async () => {
    const admittedWl = { ...workload([c('QuotaReserved', 'True', 'QuotaReserved'), c('Admitted', 'True', 'Admitted')], ADMISSION), spec: { active: true } };
    const suspending = await reconcileOnce({ queueName: 'gpu', suspend: true }, { [LABEL_KUEUE_QUEUE]: 'gpu' }, [admittedWl]);
    expect(suspending.jobPatches).toEqual([]);
    expect(suspending.workloadPatches).toEqual([
      expect.objectContaining({
        plural: 'workloads',
        name: 'job-support-assistant-abc123-1f2e3',
        body: { metadata: { annotations: { 'loraplane.io/deactivated-by': 'spec.suspend' } }, spec: { active: false } },
      }),
    ]);
    // Resumed: only a Workload the operator deactivated is reactivated.
    const ours = {
      ...admittedWl,
      metadata: { ...admittedWl.metadata, annotations: { 'loraplane.io/deactivated-by': 'spec.suspend' } },
      spec: { active: false },
    };
    const resuming = await reconcileOnce({ queueName: 'gpu' }, { [LABEL_KUEUE_QUEUE]: 'gpu' }, [ours]);
    expect(resuming.workloadPatches).toEqual([
      expect.objectContaining({ body: { metadata: { annotations: { 'loraplane.io/deactivated-by': null } }, spec: { active: true } } }),
    ]);
    expect(resuming.jobPatches).toEqual([]);
    const deactivatedByKueue = { ...admittedWl, spec: { active: false } };
    const left = await reconcileOnce({ queueName: 'gpu' }, { [LABEL_KUEUE_QUEUE]: 'gpu' }, [deactivatedByKueue]);
    expect(left.workloadPatches).toEqual([]);
    expect(left.jobPatches).toEqual([]);
  });

  it('still resumes a Job that no Kueue manages', async () => {
    const { jobPatches } = await reconcileOnce({}, {});
    expect(jobPatches).toEqual([expect.objectContaining({ body: { spec: { suspend: false } } })]);
  });
});

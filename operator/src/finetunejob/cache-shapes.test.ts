import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { exampleFineTuneJob } from '../../../test/fixtures/finetunejob.js';
import { stripBookkeeping } from '../controller/informer.js';
import { slimJob, slimPod, slimWorkload } from './cache-shapes.js';
import { kueueDecision, workloadOf, type Workload } from './kueue.js';
import { observe } from './observe.js';
import { renderTrainerJob } from './render-job.js';

const ftj = exampleFineTuneJob();
const managedFields = [{ manager: 'kube-controller-manager', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} } }];
const rendered = renderTrainerJob(
  { ...ftj, metadata: { ...ftj.metadata, uid: 'ftj-uid', namespace: 'team' } },
  {
    image: 'trainer:1',
    serviceAccountName: 'trainer',
    imagePullPolicy: 'IfNotPresent',
  },
);
const job = (status: V1Job['status'], suspend = false): V1Job => ({
  ...rendered,
  metadata: { ...rendered.metadata, uid: 'job-uid', resourceVersion: '7', managedFields },
  spec: { ...rendered.spec!, suspend, activeDeadlineSeconds: 600 },
  status,
});
const pod = (status: V1Pod['status']): V1Pod => ({
  metadata: {
    name: 'p-1',
    namespace: 'team',
    labels: rendered.spec!.template.metadata?.labels,
    creationTimestamp: new Date('2026-11-29T10:00:00Z'),
    managedFields,
  },
  spec: { ...rendered.spec!.template.spec!, nodeName: 'gpu-0' },
  status,
});
const terminated = (exitCode: number, reason: string, message = '') => ({
  containerStatuses: [
    { name: 'trainer', image: 'trainer:1', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, reason, message } } },
  ],
});

describe('cache shapes', () => {
  it('observe() reads the same from the slim Job and pods as from the full ones', () => {
    const cases: [V1Job, V1Pod[]][] = [
      [job({}, true), []],
      [job({ active: 1 }), [pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes' }] })]],
      [
        job({ active: 1 }),
        [
          pod({
            phase: 'Pending',
            containerStatuses: [
              { name: 'trainer', image: 'trainer:1', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } },
            ],
          }),
        ],
      ],
      [job({ active: 1, startTime: new Date() }), [pod({ phase: 'Running', podIP: '10.0.0.1' })]],
      [
        job({ failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] }),
        [pod({ phase: 'Failed', ...terminated(137, 'OOMKilled') })],
      ],
      [job({ failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded' }] }), []],
    ];
    for (const [j, pods] of cases) expect(observe(ftj, slimJob(j), pods.map(slimPod))).toEqual(observe(ftj, j, pods));
  });

  it('keeps what the reconciler reads and drops the pod template and managedFields', () => {
    const full = job({ active: 1 });
    const slim = slimJob(stripBookkeeping(full));
    expect(slim.metadata).toMatchObject({
      name: full.metadata!.name,
      uid: 'job-uid',
      labels: full.metadata!.labels,
      ownerReferences: full.metadata!.ownerReferences,
    });
    expect(slim.metadata!.managedFields).toBeUndefined();
    expect(slim.spec).toEqual({
      suspend: false,
      backoffLimit: full.spec!.backoffLimit,
      activeDeadlineSeconds: 600,
      ttlSecondsAfterFinished: full.spec!.ttlSecondsAfterFinished,
      template: {},
    });
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(full).length / 3);
    const p = slimPod(pod({ phase: 'Running' }));
    expect(p.spec!.containers[0]).toEqual({
      name: 'trainer',
      image: 'trainer:1',
      ports: rendered.spec!.template.spec!.containers[0]!.ports,
      resources: rendered.spec!.template.spec!.containers[0]!.resources,
    });
  });

  it("drops managedFields and kubectl's last-applied-configuration from every cached object, and nothing else", () => {
    const applied = {
      apiVersion: 'loraplane.io/v1alpha1',
      kind: 'FineTuneJob',
      metadata: {
        name: 'x',
        namespace: 'team',
        labels: { team: 'a' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', 'team.example/owner': 'ana' },
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
      },
      spec: { suspend: false },
    };
    expect(stripBookkeeping(applied)).toEqual({
      ...applied,
      metadata: { name: 'x', namespace: 'team', labels: { team: 'a' }, annotations: { 'team.example/owner': 'ana' } },
    });
    expect(applied.metadata.managedFields).toHaveLength(1); // the informer's copy changes, never the object given
    const plain = { metadata: { name: 'y' } };
    expect(stripBookkeeping(plain)).toBe(plain);
  });

  it("keeps the Workload fields Kueue's decision is read from", () => {
    const wl: Workload & { spec: Record<string, unknown> } = {
      metadata: {
        name: 'job-x-1',
        namespace: 'team',
        annotations: { 'loraplane.io/deactivated-by': 'spec.suspend' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'x', uid: 'job-uid', controller: true }],
      },
      spec: { queueName: 'gpu', active: true, podSets: [{ name: 'main', count: 1, template: rendered.spec!.template }] },
      status: {
        conditions: [
          {
            type: 'Evicted',
            status: 'True',
            reason: 'Preempted',
            message: 'Preempted to accommodate a workload (UID: w, JobUID: j2) due to prioritization in the ClusterQueue',
          },
        ],
        admission: { clusterQueue: 'cq', podSetAssignments: [{ name: 'main', flavors: { 'nvidia.com/gpu': 'h100' }, count: 1 }] },
        schedulingStats: { evictions: [{ reason: 'Preempted', count: 2 }] },
      },
    };
    const slim = slimWorkload(wl);
    expect(slim.spec).toEqual({ queueName: 'gpu', active: true });
    expect(kueueDecision(slim)).toEqual(kueueDecision(wl));
    expect(workloadOf(job({}), [slim])).toBe(slim);
    expect(slim.metadata!.annotations).toEqual(wl.metadata!.annotations);
  });
});

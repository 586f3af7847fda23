// A succeeded FineTuneJob's result becomes the LoraAdapter its spec.output.adapterName names.
// The adapter's spec points at the stored artifact itself (source.s3 = the job's output location),
// so it stays verifiable after the job is deleted and can be exported to Git as is; the job only
// shows up in the adapter's labels and status.provenance.
import { ApiException, PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { FineTuneJob } from '@loraplane/api/finetunejob';
import { API_VERSION, GROUP, VERSION } from '@loraplane/api/group';
import type { LoraAdapterSpec } from '@loraplane/api/loraadapter';
import { LORAADAPTER } from '@loraplane/api/resources';
import type { TrainerResult } from '@loraplane/api/trainer-contract';
import type { ConditionInput } from '../kube/conditions.js';
import { LABEL_FINETUNEJOB, LABEL_MANAGED_BY, MANAGED_BY } from './naming.js';

export const ADAPTER_PUBLISHED = 'AdapterPublished';

type Success = Extract<TrainerResult, { adapterUri: string }>;

interface StoredAdapter {
  metadata: { resourceVersion?: string; labels?: Record<string, string> };
  spec: LoraAdapterSpec;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function desiredAdapterSpec(ftj: FineTuneJob): LoraAdapterSpec {
  return { baseModel: { name: ftj.spec.baseModel.name }, source: { s3: ftj.spec.output.storage.s3 }, reclaimPolicy: 'Retain' };
}

/** The status fields the job knows; verification (uri, digest of the stored object, Ready) is the adapter reconciler's. */
function adapterStatusFromJob(ftj: FineTuneJob, result: Success) {
  return {
    r: ftj.spec.lora.r,
    alpha: ftj.spec.lora.alpha,
    targetModules: ftj.spec.lora.targetModules,
    baseModel: ftj.spec.baseModel.name,
    metrics: result.metrics,
    provenance: {
      fineTuneJob: { name: ftj.metadata.name, uid: ftj.metadata.uid! },
      ...(result.datasetDigest ? { datasetDigest: result.datasetDigest } : {}),
    },
  };
}

/** Whether an existing adapter stands for this job's output (and may be updated from it). */
function isSameArtifact(existing: LoraAdapterSpec, ftj: FineTuneJob): boolean {
  if (existing.source.fineTuneJob) return existing.source.fineTuneJob.name === ftj.metadata.name;
  return isDeepStrictEqual(JSON.parse(JSON.stringify(existing.source.s3)), JSON.parse(JSON.stringify(ftj.spec.output.storage.s3)));
}

/** Creates or updates the adapter; the returned condition says which, or why not. */
export async function publishAdapter(api: CustomObjectsApi, ftj: FineTuneJob, result: Success): Promise<ConditionInput> {
  const namespace = ftj.metadata.namespace!;
  const name = ftj.spec.output.adapterName;
  const ref = { group: GROUP, version: VERSION, plural: LORAADAPTER.plural, namespace, name };
  let existing: StoredAdapter | undefined;
  try {
    existing = (await api.getNamespacedCustomObject(ref)) as StoredAdapter;
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  }
  if (existing && !isSameArtifact(existing.spec, ftj)) {
    return {
      type: ADAPTER_PUBLISHED,
      status: 'False',
      reason: 'AdapterConflict',
      message: `LoraAdapter ${name} exists and points at another artifact; it was left unchanged`,
    };
  }
  if (!existing) {
    await api.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: API_VERSION,
        kind: LORAADAPTER.kind,
        metadata: {
          name,
          namespace,
          labels: { ...ftj.spec.output.labels, [LABEL_FINETUNEJOB]: ftj.metadata.name.slice(0, 63), [LABEL_MANAGED_BY]: MANAGED_BY },
        },
        spec: desiredAdapterSpec(ftj),
      },
    });
  }
  await api.patchNamespacedCustomObjectStatus({ ...ref, body: { status: adapterStatusFromJob(ftj, result) } }, mergePatch);
  const verb = existing ? 'updated' : 'created';
  return { type: ADAPTER_PUBLISHED, status: 'True', reason: existing ? 'Updated' : 'Created', message: `LoraAdapter ${name} ${verb} from this job's result` };
}

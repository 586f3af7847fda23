// The real trainer as a pod would run it, against the test S3 server: the tiny manifest's spec with
// the base model, dataset and output in a bucket, the credentials the operator would mount, a fresh
// scratch volume and a termination log.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Location } from '@loraplane/api/common';
import type { FineTuneJobSpec } from '@loraplane/api/finetunejob';
import { parseTrainerResult, type TrainerConfig, type TrainerResult } from '@loraplane/api/trainer-contract';
import { uploadDirectory } from '@loraplane/storage/upload';
import { configFromManifest } from '@loraplane/trainer/job-config';
import { freePort } from '../e2e/support/operator-process.js';
import { REPO, TINY_MANIFEST, loraplaneTrainer, type Run } from '../trainer/run-process.js';
import { roleEnv } from './storage.js';

/** finetune-tiny.yaml with the model under models/tiny-llama, the data at data/customer-support.jsonl and the output at outputPrefix, each where `at` puts it. */
export async function podConfig(
  at: (prefix: string) => S3Location,
  outputPrefix: string,
  training: Partial<FineTuneJobSpec['training']> = {},
): Promise<TrainerConfig> {
  const { spec } = configFromManifest(TINY_MANIFEST);
  return {
    apiVersion: 'loraplane.io/v1alpha1',
    kind: 'TrainerConfig',
    job: { namespace: 'storage-test', name: 'tiny-test', uid: 'uid-1' },
    spec: {
      ...spec,
      training: { ...spec.training, ...training },
      baseModel: { ...spec.baseModel, source: { s3: at('models/tiny-llama') } },
      dataset: { ...spec.dataset, source: { s3: at('data/customer-support.jsonl') } },
      output: { ...spec.output, storage: { s3: at(outputPrefix) } },
    },
    metricsPort: await freePort(),
  };
}

/** The tiny run's inputs in a bucket where podConfig points: the model under models/tiny-llama, the data under data/. */
export async function stageTinyRun(c: S3Client, bucket: string, work: string): Promise<void> {
  await uploadDirectory(c, bucket, 'models/tiny-llama', join(REPO, 'examples/tiny-llama'), { stateDir: join(work, 'upload-state') });
  await c.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'data/customer-support.jsonl', Body: readFileSync(join(REPO, 'examples/data/customer-support.jsonl')) }),
  );
}

/** One trainer pod: a fresh scratch volume under `work`, the credentials the operator would mount, the termination log. */
export function trainerPod(config: TrainerConfig, work: string): { run: Run; result: () => TrainerResult | undefined } {
  const scratch = mkdtempSync(join(work, 'scratch-'));
  const terminationLog = join(scratch, 'termination-log');
  const run = loraplaneTrainer(config, {
    ...roleEnv('baseModel'),
    ...roleEnv('dataset'),
    ...roleEnv('output'),
    LORAPLANE_SCRATCH_PATH: scratch,
    LORAPLANE_TERMINATION_MESSAGE_PATH: terminationLog,
    POD_IP: '127.0.0.1',
  });
  return { run, result: () => parseTrainerResult(readFileSync(terminationLog, 'utf8')) };
}

// LoraAdapter: a verified adapter artifact in object storage, declared in Git or produced by a FineTuneJob.
import { z } from 'zod';
import { cel, conditionList, immutable, objectMeta, objectName, s3Location, sha256Digest, timestamp } from './common.js';
import { OUTPUT_FORMATS, TARGET_MODULES } from './finetunejob.js';

export const loraAdapterSpec = z
  .object({
    baseModel: z.object({ name: z.string().min(1).max(256) }).strict(),
    source: z
      .object({
        fineTuneJob: z.object({ name: objectName }).strict().optional(),
        s3: s3Location.optional(),
      })
      .strict()
      .meta(cel({ rule: 'has(self.fineTuneJob) != has(self.s3)', message: 'exactly one of fineTuneJob or s3 must be set' }, immutable('spec.source'))),
    reclaimPolicy: z.enum(['Retain', 'Delete']).default('Retain').meta({
      description:
        "Delete: when the LoraAdapter is deleted, the operator deletes the verified manifest and the files it lists (with the location's credentialsSecret); nothing for an adapter never verified. Retain: leaves the objects.",
    }),
  })
  .strict();
export type LoraAdapterSpec = z.infer<typeof loraAdapterSpec>;

/** Why an adapter is not Ready (the Ready condition's reason); Verified when it is. */
export const ADAPTER_REASONS = [
  'Verified',
  'AwaitingFineTuneJob',
  'FineTuneJobNotFound',
  'FineTuneJobFailed',
  'CredentialsRequired',
  'CredentialsMissing',
  'EndpointNotAllowed',
  'CredentialsRejected',
  'ArtifactMissing',
  'ManifestMissing',
  'ManifestInvalid',
  'DigestMismatch',
  'InvalidAdapterConfig',
  'BaseModelMismatch',
  'StorageUnreachable',
  'StorageError',
] as const;
export type AdapterReason = (typeof ADAPTER_REASONS)[number];

export const loraAdapterStatus = z.object({
  phase: z.enum(['Pending', 'Ready', 'Failed']).optional(),
  observedGeneration: z.number().int().optional(),
  conditions: conditionList.optional(),
  uri: z.string().optional(),
  digest: sha256Digest.optional(),
  sizeBytes: z.number().int().min(0).optional(),
  r: z.number().int().optional(),
  alpha: z.number().optional(),
  targetModules: z.array(z.enum(TARGET_MODULES)).optional(),
  baseModel: z.string().optional(),
  metrics: z.record(z.string(), z.number()).optional(),
  formats: z
    .array(
      z.object({
        format: z.enum(OUTPUT_FORMATS),
        files: z.array(z.object({ path: z.string(), sha256: sha256Digest, size: z.number().int().min(0) })),
      }),
    )
    .optional()
    .meta({
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['format'],
      description:
        "The formats the artifact holds (peft; gguf and merged when the job's spec.output.formats asked for them), each with its files as the verified manifest lists them.",
    }),
  provenance: z
    .object({
      fineTuneJob: z.object({ name: z.string(), uid: z.string() }).optional(),
      datasetDigest: sha256Digest.optional(),
    })
    .optional(),
  verifiedAt: timestamp.optional().meta({ description: 'When the artifact was last found intact (re-checked every verify period).' }),
  verifiedObject: z
    .object({ key: z.string(), etag: z.string(), size: z.number().int().min(0) })
    .optional()
    .meta({ description: 'The weights object as last hashed: it is hashed again only when its ETag or size changes.' }),
  location: s3Location
    .optional()
    .meta({ description: "The FineTuneJob's output location, kept so the adapter can be verified and reclaimed after the job is gone." }),
});
export type LoraAdapterStatus = z.infer<typeof loraAdapterStatus>;

const adapterMeta = objectMeta.required({ namespace: true, uid: true });

export const loraAdapter = z.object({
  apiVersion: z.string(),
  kind: z.literal('LoraAdapter'),
  metadata: adapterMeta,
  spec: loraAdapterSpec,
  status: loraAdapterStatus.optional(),
});
export type LoraAdapter = z.infer<typeof loraAdapter>;

export const loraAdapterPrinterColumns = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Base-Model', type: 'string', jsonPath: '.spec.baseModel.name' },
  { name: 'Rank', type: 'integer', jsonPath: '.status.r', priority: 1 },
  { name: 'Digest', type: 'string', jsonPath: '.status.digest' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
] as const;

// Schema pieces shared by FineTuneJob and LoraAdapter.
import { z } from 'zod';

/** A CEL rule attached to a schema node; the API server enforces it (x-kubernetes-validations). */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath (relative to the node) the API server names in the error. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

/** A field that may be set at creation and never changed afterwards. */
export const immutable = (field: string): CelRule => ({
  rule: 'self == oldSelf',
  message: `${field} is immutable; create a new object instead`,
});

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const objectName = z.string().min(1).max(253).regex(dnsSubdomain);
export const labelValueName = z.string().min(1).max(63).regex(dnsLabel);

export const secretReference = z
  .object({
    name: objectName.meta({
      description: 'Secret in the same namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN).',
    }),
  })
  .strict();

// One path segment: no '/', no control character, and neither '.' nor '..' (RE2 has no lookahead,
// so a segment starting with '.' needs a second character that is not '.', or two dots and more).
const SEGMENT = String.raw`([^/.\x00-\x1f\x7f][^/\x00-\x1f\x7f]*|\.[^/.\x00-\x1f\x7f][^/\x00-\x1f\x7f]*|\.\.[^/\x00-\x1f\x7f]+)`;
/** A relative path: segments joined by '/', an optional trailing '/'; '' is the root. */
const RELATIVE_PATH = `^(${SEGMENT}(/${SEGMENT})*/?)?$`;
const relativePathRe = new RegExp(RELATIVE_PATH);

/**
 * A key prefix or a path inside a volume. A storage server normalises '..' and '.' (team-a/../team-b
 * lands in team-b) and strips a leading '/', so both would silently write somewhere else: rejected,
 * with empty segments and control characters, by the API server (CEL) and by the operator (zod).
 */
export const relativePath = (what: string) => {
  const message = `${what} must be a relative path: no leading '/', no '.', '..' or empty segments, no control characters`;
  return z
    .string()
    .max(1024)
    .refine((v) => relativePathRe.test(v), { message })
    .meta(cel({ rule: `self.matches(r'${RELATIVE_PATH}')`, message }));
};

/** S3 bucket naming rules: DNS labels joined by single dots (no '..', '.-' or '-.'), 3-63 characters. */
const bucketName = z
  .string()
  .min(3)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/)
  .meta({ description: 'S3 bucket name: lowercase letters, digits, single dots and hyphens.' });

export const s3Location = z
  .object({
    bucket: bucketName,
    prefix: relativePath('prefix').default('').meta({ description: 'Key prefix; a folder-like path without leading slash.' }),
    endpoint: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/@]+(\/[^\s]*)?$/)
      .optional()
      .meta({
        description:
          'S3-compatible endpoint URL, e.g. http://minio.storage:9000. Empty for AWS. The operator connects only to endpoints the platform allows (operator.storage.allowedEndpoints).',
      }),
    region: z.string().min(1).max(64).default('us-east-1'),
    forcePathStyle: z.boolean().default(true).meta({ description: 'Path-style addressing, as most S3-compatible servers need.' }),
    credentialsSecret: secretReference.optional().meta({
      description:
        'Credentials reach the trainer only through secretKeyRef. Without one the trainer uses its pod identity, and the operator never reads or deletes this location (no verification, no reclaim).',
    }),
  })
  .strict();
export type S3Location = z.infer<typeof s3Location>;

export const pvcLocation = z
  .object({
    claimName: objectName,
    path: relativePath('path').default('').meta({ description: 'Path inside the volume.' }),
  })
  .strict();

/** Where a model, a dataset or an output lives: exactly one of s3 or pvc. */
export const storageSource = z
  .object({ s3: s3Location.optional(), pvc: pvcLocation.optional() })
  .strict()
  .meta(cel({ rule: 'has(self.s3) != has(self.pvc)', message: 'exactly one of s3 or pvc must be set' }));
export type StorageSource = z.infer<typeof storageSource>;

/** kstatus-compatible condition (metav1.Condition). */
export const condition = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1024),
  message: z.string().max(32768).default(''),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.string().meta({ format: 'date-time' }),
});
export type Condition = z.infer<typeof condition>;

export const conditionList = z
  .array(condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

export const timestamp = z.string().meta({ format: 'date-time' });

export const sha256Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

/** The object metadata the reconcilers read (a stored object always has namespace and uid; a test fixture may not). */
export const objectMeta = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  finalizers: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

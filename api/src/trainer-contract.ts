// The operator ↔ trainer contract: the config the operator hands to the trainer pod (one env var,
// frozen into the Job's immutable pod template) and the result the trainer leaves in the
// container's termination message. Secrets never appear here: S3 credentials arrive as env vars
// from secretKeyRef, under the names credentialEnv() gives.
import { z } from 'zod';
import { fineTuneJobSpec, type FineTuneJobSpec } from './finetunejob.js';
import { sha256Digest } from './common.js';

export const TRAINER_CONFIG_ENV = 'LORAPLANE_TRAINER_CONFIG';
export const TERMINATION_MESSAGE_ENV = 'LORAPLANE_TERMINATION_MESSAGE_PATH';
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
export const SCRATCH_PATH = '/scratch';
/** Env var naming the scratch volume's path; an env var (not the config JSON) so node-level path mapping applies to it. */
export const SCRATCH_PATH_ENV = 'LORAPLANE_SCRATCH_PATH';
export const METRICS_PORT = 9090;

/** Set by the Job controller in an Indexed Job's pods: this pod's index, its place in a multi-pod group. */
export const COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';
/** In a multi-pod group (spec.resources.nodes > 1): rank 0's address, pod 0's DNS name under the Job's headless Service. */
export const RENDEZVOUS_ADDR_ENV = 'LORAPLANE_RENDEZVOUS_ADDR';
/** How long the ranks of a multi-pod group wait for every rank to join (the operator's TRAINER_RENDEZVOUS_TIMEOUT_SECONDS); 600 when unset. */
export const RENDEZVOUS_TIMEOUT_ENV = 'LORAPLANE_RENDEZVOUS_TIMEOUT_SECONDS';
/** The port rank 0 serves the rendezvous store on in a multi-pod group (torchrun's default). */
export const RENDEZVOUS_PORT = 29500;

/** How the runtime's collectives say a peer failed (native/src/collective): a consequence of another rank's failure, not a cause. */
export const isPeerFailure = (error: string | undefined): boolean => /\bcollective \w+ \(rank \d+ of \d+\)/.test(error ?? '');

/**
 * How the trainer exits. A permanent failure (bad config, missing or forbidden storage, malformed
 * data, diverged training) fails the Job at once through podFailurePolicy instead of burning
 * backoffLimit retries; any other non-zero exit may pass on a retry.
 */
export const TRAINER_EXIT = { succeeded: 0, retryable: 1, permanent: 3, stopped: 143 } as const;

/** Where a PVC source is mounted read-only in the trainer pod; a source's path is relative to it. */
export const pvcMountPath = (claimName: string): string => `/data/pvc/${claimName}`;

export const STORAGE_ROLES = ['baseModel', 'dataset', 'output'] as const;
export type StorageRole = (typeof STORAGE_ROLES)[number];

const SECRET_KEYS = { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: 'AWS_SESSION_TOKEN' } as const;
export type CredentialPart = keyof typeof SECRET_KEYS;

/** Key in the user's Secret that holds a credential part. */
export const secretKey = (part: CredentialPart): string => SECRET_KEYS[part];

/** Env var in the trainer pod that carries a credential part for one storage role. */
export const credentialEnv = (role: StorageRole, part: CredentialPart): string =>
  `LORAPLANE_${role.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_${SECRET_KEYS[part]}`;

export const trainerConfig = z.object({
  apiVersion: z.literal('loraplane.io/v1alpha1'),
  kind: z.literal('TrainerConfig'),
  job: z.object({ namespace: z.string(), name: z.string(), uid: z.string() }),
  spec: fineTuneJobSpec,
  metricsPort: z.number().int(),
});
export type TrainerConfig = z.infer<typeof trainerConfig>;

/** The one way a TrainerConfig is made: from a FineTuneJob and the identity of the run. */
export function trainerConfigOf(spec: FineTuneJobSpec, job: TrainerConfig['job']): TrainerConfig {
  return { apiVersion: 'loraplane.io/v1alpha1', kind: 'TrainerConfig', job, spec, metricsPort: METRICS_PORT };
}

/** The one way a TrainerConfig is read (from the trainer pod's environment); the error says what is wrong. */
export function parseTrainerConfig(raw: string | undefined): TrainerConfig {
  if (!raw) throw new Error(`${TRAINER_CONFIG_ENV} is not set: the operator passes the trainer config there (locally, use \`loraplane run finetune.yaml\`)`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new Error(`${TRAINER_CONFIG_ENV} is not JSON: ${(err as Error).message}`);
  }
  const parsed = trainerConfig.safeParse(json);
  if (!parsed.success) throw new Error(`${TRAINER_CONFIG_ENV} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The last checkpoint the trainer stored (for status.checkpoint): with the result, or with an error or a stop. */
const trainerCheckpoint = z.object({ step: z.number().int().min(0), uri: z.string().min(1) });

export const trainerResult = z.union([
  z.object({
    adapterUri: z.string().min(1),
    digest: sha256Digest,
    sizeBytes: z.number().int().min(0).optional(),
    datasetDigest: sha256Digest.optional(),
    metrics: z.record(z.string(), z.number()).default({}),
    checkpoint: trainerCheckpoint.optional(),
  }),
  z.object({ error: z.string().min(1), checkpoint: trainerCheckpoint.optional() }),
]);
export type TrainerResult = z.infer<typeof trainerResult>;

/** Parses a termination message; anything else (e.g. log lines from FallbackToLogsOnError) is undefined. */
export function parseTrainerResult(message: string | undefined): TrainerResult | undefined {
  if (!message) return undefined;
  try {
    const parsed = trainerResult.safeParse(JSON.parse(message));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

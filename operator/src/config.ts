// The operator's settings, from the environment (the Helm chart sets them).
import { hostname } from 'node:os';
import { z } from 'zod';

const csv = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

const env = z.object({
  WATCH_NAMESPACES: csv,
  POD_NAMESPACE: z.string().min(1).default('loraplane-system'),
  POD_NAME: z.string().min(1).default(`${hostname()}-${process.pid}`),
  LEADER_ELECT: bool.default(true),
  LEASE_NAME: z.string().min(1).default('loraplane-operator-leader'),
  LEASE_DURATION_SECONDS: z.coerce.number().int().min(1).default(15),
  RENEW_DEADLINE_MS: z.coerce.number().int().min(100).default(10_000),
  RETRY_PERIOD_MS: z.coerce.number().int().min(50).default(2_000),
  HTTP_HOST: z.string().default('0.0.0.0'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  // Reconciles wait on the API server, storage and trainers, hardly on the CPU: 16 workers keep a burst of
  // new FineTuneJobs from queueing behind a few slow calls (bench/RESULTS.md, the operator's p50 with 4 and 16).
  MAX_CONCURRENT_RECONCILES: z.coerce.number().int().min(1).max(64).default(16),
  TRAINER_IMAGE: z.string().min(1).default('ghcr.io/loraplane/trainer:0.1.0'),
  TRAINER_SERVICE_ACCOUNT: z.string().min(1).default('loraplane-trainer'),
  TRAINER_IMAGE_PULL_POLICY: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  /**
   * How long the pods of a multi-pod FineTuneJob (spec.resources.nodes > 1) wait for all their ranks to
   * join; a group that cannot be placed whole fails after it, and backoffLimit ends the job.
   */
  TRAINER_RENDEZVOUS_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(600),
  /** How often a running trainer's /metrics is read into FineTuneJob status.progress. */
  PROGRESS_INTERVAL_SECONDS: z.coerce.number().min(0.1).default(10),
  /** How often a LoraAdapter's stored artifact is verified again (drift: deleted or changed objects). */
  ADAPTER_VERIFY_PERIOD_SECONDS: z.coerce.number().min(0.5).default(300),
  /**
   * S3 endpoint URLs (origins) the operator may connect to when it verifies or reclaims an adapter;
   * a location without an endpoint (AWS S3) is always allowed. Link-local and metadata addresses never are.
   */
  ALLOWED_S3_ENDPOINTS: csv.pipe(z.array(z.url({ protocol: /^https?$/ }))),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
});

export type OperatorConfig = z.infer<typeof env>;
/** The variables loadConfig reads; the Helm chart sets each one (test/helm/chart.test.ts). */
export const CONFIG_ENV_NAMES = Object.keys(env.shape);

export function loadConfig(source: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const parsed = env.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid operator configuration: ${problems}`);
  }
  return parsed.data;
}

// How the trainer's storage requests ride out an outage: every request (of the base model and dataset
// fetch, the checkpoint save, restore and rotation, the adapter upload) retries transient failures
// with exponential back-off (full jitter, capped at 30 s) until 5 minutes after its first try, each
// wait logged; permanent failures (a missing bucket, rejected credentials...) are not retried. The
// storage layer's default (5 tries, about 3 s in all) would give up a pod's attempt within seconds.
import type { Logger } from 'pino';
import type { CallOptions } from '@loraplane/storage/objects';
import type { RetryOptions } from '@loraplane/storage/retry';

export const TRAINER_STORAGE_RETRY = {
  attempts: Number.POSITIVE_INFINITY,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  deadlineMs: 5 * 60_000,
} as const satisfies RetryOptions;

/** The call options for the trainer's storage requests: TRAINER_STORAGE_RETRY with `overrides` on top, each wait logged. */
export function storageCallOptions(log: Logger, overrides: RetryOptions = {}): Pick<CallOptions, 'retry'> {
  return {
    retry: {
      ...TRAINER_STORAGE_RETRY,
      ...overrides,
      onRetry: (err, attempt, delayMs) => {
        log.warn({ err, attempt, delayMs }, `storage request failed (attempt ${attempt}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
        overrides.onRetry?.(err, attempt, delayMs);
      },
    },
  };
}

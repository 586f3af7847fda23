// What one verification concluded. A verdict is either final for now (verified, pending, failed:
// the status says so until the next check) or a retry (the storage did not answer): a retry is
// retried with back-off and never changes the Ready verdict an earlier check reached.
import type { AdapterReason, LoraAdapterStatus } from '@loraplane/api/loraadapter';
import type { TARGET_MODULES } from '@loraplane/api/finetunejob';

export interface VerifiedArtifact {
  /** s3://bucket/prefix/ */
  uri: string;
  /** sha256:<hex> of adapter_model.safetensors. */
  digest: string;
  sizeBytes: number;
  /** The weights object whose bytes were hashed (or found unchanged since they were). */
  verifiedObject: { key: string; etag: string; size: number };
  r: number;
  alpha: number;
  targetModules: (typeof TARGET_MODULES)[number][];
  baseModel: string;
  /** The formats found in the manifest (api/output-layout), with their files. */
  formats: NonNullable<LoraAdapterStatus['formats']>;
  /** Bytes read to hash the weights in this check (0 when the object was unchanged). */
  hashedBytes: number;
}

export type RetryReason = Extract<AdapterReason, 'StorageUnreachable' | 'StorageError'>;
export type PendingReason = Extract<AdapterReason, 'AwaitingFineTuneJob'>;
export type FailureReason = Exclude<AdapterReason, RetryReason | PendingReason | 'Verified'>;

export type Verdict =
  | { kind: 'verified'; artifact: VerifiedArtifact }
  | { kind: 'pending'; reason: PendingReason; message: string }
  | { kind: 'failed'; reason: FailureReason; message: string }
  | { kind: 'retry'; reason: RetryReason; message: string };

export type Failure = Extract<Verdict, { kind: 'failed' }>;

export const failed = (reason: FailureReason, message: string): Failure => ({ kind: 'failed', reason, message });

export const verdictReason = (v: Verdict): AdapterReason => (v.kind === 'verified' ? 'Verified' : v.reason);

// Where an adapter's artifact is and which digest it must have. `s3` names the location itself; the
// digest is the one pinned at the first verification (the artifact must not change afterwards).
// `fineTuneJob` goes through the job: its output location and the digest its trainer reported, once
// it has succeeded. The job's location is kept in status.location, so an adapter whose job was
// deleted is still verified (against its pinned digest) and can still be reclaimed.
import type { S3Location } from '@loraplane/api/common';
import type { FineTuneJob } from '@loraplane/api/finetunejob';
import type { LoraAdapter, LoraAdapterStatus } from '@loraplane/api/loraadapter';
import type { Expectation } from './verify-artifact.js';
import { failed, type Verdict } from './verdict.js';

export interface ResolvedSource {
  location: S3Location;
  expect: Expectation;
  /** Status fields that come with the source: for a job, its location, provenance and metrics. */
  fields: LoraAdapterStatus;
}

function pinned(adapter: LoraAdapter): Expectation {
  const s = adapter.status;
  return {
    ...(s?.digest ? { digest: { value: s.digest, from: 'status.digest, pinned when the adapter was first verified' } } : {}),
    ...(s?.digest && s.verifiedObject ? { hashed: { ...s.verifiedObject, digest: s.digest } } : {}),
  };
}

/** The source, or the verdict that stops here: the job has not succeeded, failed, or is not there. */
export function resolveSource(adapter: LoraAdapter, job: FineTuneJob | undefined): ResolvedSource | Verdict {
  const { source } = adapter.spec;
  if (source.s3) return { location: source.s3, expect: pinned(adapter), fields: {} };
  const jobName = source.fineTuneJob!.name;
  if (!job) {
    const location = adapter.status?.location;
    if (location) return { location, expect: pinned(adapter), fields: {} };
    return failed('FineTuneJobNotFound', `FineTuneJob ${jobName} does not exist in namespace ${adapter.metadata.namespace}`);
  }
  const phase = job.status?.phase ?? 'Pending';
  if (phase === 'Failed') return failed('FineTuneJobFailed', `FineTuneJob ${jobName} failed: ${job.status?.message ?? 'no message'}`);
  if (phase !== 'Succeeded') return { kind: 'pending', reason: 'AwaitingFineTuneJob', message: `FineTuneJob ${jobName} is ${phase}` };
  const result = job.status?.result;
  const location = job.spec.output.storage.s3;
  const expect = pinned(adapter);
  return {
    location,
    expect: {
      ...expect,
      ...(result?.digest ? { digest: { value: result.digest, from: `the result of FineTuneJob ${jobName}` } } : {}),
    },
    fields: {
      location,
      provenance: { fineTuneJob: { name: jobName, uid: job.metadata.uid! } },
      ...(result?.metrics ? { metrics: result.metrics } : {}),
    },
  };
}

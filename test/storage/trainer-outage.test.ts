// The trainer pod rides out a storage outage instead of burning its Job's retries (issue 10,
// finding 10): the real trainer process reaches the real versitygw through a TCP relay that is down
// when the pod starts and comes back seconds later; the pod retries with back-off (each wait logged)
// and finishes. A permanent error (a bucket that does not exist) is not retried: exit code 3 at once.
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAINER_EXIT, type TrainerConfig } from '@loraplane/api/trainer-contract';
import type { S3Location } from '@loraplane/api/common';
import { waitFor } from '../cluster/cluster.js';
import { freePort } from '../e2e/support/operator-process.js';
import { Relay } from '../lib/relay.js';
import { client, freshBucket, location, server } from './storage.js';
import { podConfig, stageTinyRun, trainerPod } from './trainer-pod.js';

let work: string;
let c: S3Client;
let bucket: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'storage-outage-'));
  c = client();
  bucket = await freshBucket(c, 'outage');
  await stageTinyRun(c, bucket, work);
});
afterAll(async () => {
  c.destroy();
  await rm(work, { recursive: true, force: true });
});

const pod = (config: TrainerConfig) => trainerPod(config, work);
const twoSteps = { epochs: undefined, maxSteps: 2, saveSteps: undefined };

describe('trainer pod and a storage outage', () => {
  it('storage down when the pod starts and back seconds later: the pod waits it out and succeeds', async () => {
    const relay = new Relay(await freePort(), new URL(server().endpoint));
    const viaRelay = (prefix: string): S3Location => ({ ...location(bucket, prefix), endpoint: relay.endpoint });
    const p = pod(await podConfig(viaRelay, 'through-outage', twoSteps));
    try {
      await waitFor(async () => (p.run.output().match(/storage request failed \(attempt \d+\); retrying/g) ?? []).length >= 2, {
        timeoutMs: 60_000,
        description: 'two logged retries while the storage is down',
      });
      await relay.open();
      expect(await p.run.exited, p.run.output()).toBe(TRAINER_EXIT.succeeded);
      expect(p.result()).toMatchObject({ adapterUri: `s3://${bucket}/through-outage/` });
    } finally {
      await relay.close();
    }
  }, 180_000);

  it('a bucket that does not exist is a permanent failure: exit code 3, no retry', async () => {
    const missing = (prefix: string): S3Location => location(`${bucket}-missing`, prefix);
    const p = pod(await podConfig(missing, 'never', twoSteps));
    expect(await p.run.exited, p.run.output()).toBe(TRAINER_EXIT.permanent);
    expect(p.run.output()).not.toMatch(/retrying/);
    const result = p.result();
    expect(result && 'error' in result ? result.error : result).toMatch(/NoSuchBucket|does not exist/);
  }, 60_000);
});

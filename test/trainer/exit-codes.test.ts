// The trainer's exit codes and termination message as the operator sees them (TRAINER_EXIT): a
// diverged run, an invalid config and a missing input exit `permanent`, with the error in the
// termination message, and the values of the credential env vars appear nowhere in what it says.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  TERMINATION_MESSAGE_ENV,
  TRAINER_CONFIG_ENV,
  TRAINER_EXIT,
  SCRATCH_PATH_ENV,
  credentialEnv,
  type TrainerConfig,
} from '@loraplane/api/trainer-contract';
import { configFromManifest } from '@loraplane/trainer/job-config';
import { TINY_MANIFEST, loraplaneRun, loraplaneTrainer } from './run-process.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

describe('trainer exit codes', () => {
  it('loraplane run: diverged training exits permanent, with the reason and no adapter', async () => {
    const dir = tmp('lp-exit-div-');
    const manifest = parse(readFileSync(TINY_MANIFEST, 'utf8'));
    manifest.spec.lora.alpha = 1e300;
    writeFileSync(join(dir, 'finetune.yaml'), stringify(manifest));
    const out = join(dir, 'out');
    const run = loraplaneRun([join(dir, 'finetune.yaml'), '--work', join(dir, 'work'), '--output', out]);
    expect(await run.exited, run.output()).toBe(TRAINER_EXIT.permanent);
    expect(run.output()).toMatch(/training diverged at step 1: loss NaN, grad norm \S+; lower learningRate or lora\.alpha/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 120_000);

  it('loraplane run: an invalid manifest exits permanent', async () => {
    const dir = tmp('lp-exit-cfg-');
    writeFileSync(join(dir, 'finetune.yaml'), 'apiVersion: loraplane.io/v1alpha1\nkind: FineTuneJob\nmetadata: { name: x }\nspec: {}\n');
    const run = loraplaneRun([join(dir, 'finetune.yaml'), '--work', join(dir, 'work'), '--output', join(dir, 'out')]);
    expect(await run.exited, run.output()).toBe(TRAINER_EXIT.permanent);
    expect(run.output()).toMatch(/invalid FineTuneJob/);
  }, 60_000);

  it('loraplane-trainer: a config that is not JSON exits permanent and says so in the termination message', async () => {
    const dir = tmp('lp-exit-pod-');
    const termination = join(dir, 'termination-log');
    const run = loraplaneTrainer({} as TrainerConfig, { [TRAINER_CONFIG_ENV]: '{not json', [TERMINATION_MESSAGE_ENV]: termination });
    expect(await run.exited, run.output()).toBe(TRAINER_EXIT.permanent);
    expect(JSON.parse(readFileSync(termination, 'utf8')).error).toMatch(new RegExp(`^${TRAINER_CONFIG_ENV} is not JSON`));
  }, 60_000);

  it('loraplane-trainer: a missing base model exits permanent; a credential in its path is redacted everywhere', async () => {
    const dir = tmp('lp-exit-secret-');
    const termination = join(dir, 'termination-log');
    const local = configFromManifest(TINY_MANIFEST);
    // The review's case: a path built from the secret, so every error about it would carry it.
    const config: TrainerConfig = {
      ...local,
      job: { namespace: 'ns', name: 'tiny', uid: 'u' },
      metricsPort: 0,
      spec: { ...local.spec, baseModel: { ...local.spec.baseModel, source: { pvc: { claimName: 'models', path: `m/${SECRET}` } } } },
    };
    const run = loraplaneTrainer(config, {
      [TERMINATION_MESSAGE_ENV]: termination,
      [SCRATCH_PATH_ENV]: join(dir, 'scratch'),
      [credentialEnv('output', 'secretAccessKey')]: SECRET,
      [credentialEnv('output', 'accessKeyId')]: 'AKIAIOSFODNN7EXAMPLE',
      POD_IP: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    expect(await run.exited, run.output()).toBe(TRAINER_EXIT.permanent);
    const message = readFileSync(termination, 'utf8');
    expect(JSON.parse(message).error).toMatch(/the baseModel path is not there/);
    expect(JSON.parse(message).error).toContain('[REDACTED]');
    for (const text of [message, run.output()]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(encodeURIComponent(SECRET));
      expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
    }
    expect(run.output()).toMatch(/"permanent":true/);
  }, 60_000);
});

// Where a run's settings come from: in a pod, the TrainerConfig the operator put in the environment;
// on a laptop (`loraplane run finetune.yaml`), a FineTuneJob manifest validated by the same schema.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { fineTuneJob } from '@loraplane/api/finetunejob';
import { TRAINER_CONFIG_ENV, parseTrainerConfig, trainerConfigOf, type TrainerConfig } from '@loraplane/api/trainer-contract';
import { TrainerConfigError } from './errors.js';

const problems = (issues: { path: PropertyKey[]; message: string }[]) => issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): TrainerConfig {
  try {
    return parseTrainerConfig(env[TRAINER_CONFIG_ENV]);
  } catch (err) {
    throw new TrainerConfigError((err as Error).message, { cause: err });
  }
}

/** The first FineTuneJob in a YAML file, as a TrainerConfig for a local run. */
export function configFromManifest(path: string): TrainerConfig {
  let docs: Array<{ kind?: string } | null | undefined>;
  try {
    docs = parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as { kind?: string });
  } catch (err) {
    throw new TrainerConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const doc = docs.find((d) => d?.kind === 'FineTuneJob');
  if (!doc) throw new TrainerConfigError(`${path} holds no FineTuneJob`);
  const parsed = fineTuneJob.safeParse(doc);
  if (!parsed.success) throw new TrainerConfigError(`${path}: invalid FineTuneJob: ${problems(parsed.error.issues)}`);
  const { metadata, spec } = parsed.data;
  return trainerConfigOf(spec, { namespace: metadata.namespace ?? 'local', name: metadata.name, uid: 'local' });
}

// The trainer's result for the operator: JSON in the container's termination message (at most 4096 bytes),
// with the values of the credential env vars redacted (the message ends up in the pod's status).
import { writeFileSync } from 'node:fs';
import { TERMINATION_MESSAGE_ENV, type TrainerResult } from '@loraplane/api/trainer-contract';
import { redactDeep, redactor } from './redact.js';

const LIMIT = 4096;

export function writeTerminationMessage(result: TrainerResult, env: NodeJS.ProcessEnv = process.env): void {
  const path = env[TERMINATION_MESSAGE_ENV];
  if (!path) return; // a local run has no operator to tell
  result = redactDeep(result, redactor(env));
  let text = JSON.stringify(result);
  if (text.length > LIMIT && 'error' in result) text = JSON.stringify({ error: `${result.error.slice(0, LIMIT - 64)}…` });
  if (text.length > LIMIT && 'metrics' in result) text = JSON.stringify({ ...result, metrics: {} });
  writeFileSync(path, text);
}

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { STORAGE_ROLES, TERMINATION_MESSAGE_ENV, credentialEnv } from '@loraplane/api/trainer-contract';
import { StorageError } from '@loraplane/storage/errors';
import { REDACTED, credentialEnvNames, redactDeep, redactingDestination, redactor } from './redact.js';
import { writeTerminationMessage } from './termination.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY"EXAMPLE\\KEY';
const TOKEN = 'FwoGZXIvYXdzEBYaDH+session/token==';
const env = {
  [credentialEnv('dataset', 'secretAccessKey')]: SECRET,
  [credentialEnv('output', 'accessKeyId')]: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SESSION_TOKEN: TOKEN,
  [credentialEnv('baseModel', 'secretAccessKey')]: 'abc', // too short to replace safely
  UNRELATED: 'not-a-secret-value',
};
const leaks = (text: string) =>
  [SECRET, TOKEN, 'AKIAIOSFODNN7EXAMPLE', encodeURIComponent(SECRET), JSON.stringify(SECRET).slice(1, -1), encodeURIComponent(TOKEN)].filter((v) =>
    text.includes(v),
  );

describe('redact', () => {
  it('names every role × part credential env var and the SDK ones', () => {
    const names = credentialEnvNames();
    for (const role of STORAGE_ROLES)
      for (const part of ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const) expect(names).toContain(credentialEnv(role, part));
    expect(names).toContain('AWS_SECRET_ACCESS_KEY');
    expect(names).toContain('AWS_SESSION_TOKEN');
    expect(names).toContain('LORAPLANE_DATASET_AWS_SECRET_ACCESS_KEY');
  });

  it('replaces the values raw, JSON-escaped and URL-encoded, and leaves the rest', () => {
    const r = redactor(env);
    const text = `GetObject s3://b/${SECRET}/x: at /data/${encodeURIComponent(SECRET)} ${JSON.stringify({ key: SECRET })} token ${TOKEN} id AKIAIOSFODNN7EXAMPLE abc not-a-secret-value`;
    const out = r(text);
    expect(leaks(out)).toEqual([]);
    expect(out).toContain(`s3://b/${REDACTED}/x`);
    expect(out).toContain(`/data/${REDACTED}`);
    expect(out).toContain('abc not-a-secret-value');
    expect(redactor({})('unchanged')).toBe('unchanged');
    expect(redactDeep({ error: `bad ${SECRET}`, n: 1, list: [TOKEN] }, r)).toEqual({ error: `bad ${REDACTED}`, n: 1, list: [REDACTED] });
  });

  it('keeps the values out of the termination message', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'lp-term-')), 'termination-log');
    const e = { ...env, [TERMINATION_MESSAGE_ENV]: path };
    writeTerminationMessage({ error: `NoSuchKey s3://data/${SECRET}/train.jsonl: no such object`, checkpoint: { step: 2, uri: `s3://out/${TOKEN}/` } }, e);
    const text = readFileSync(path, 'utf8');
    expect(leaks(text)).toEqual([]);
    expect(JSON.parse(text)).toEqual({
      error: `NoSuchKey s3://data/${REDACTED}/train.jsonl: no such object`,
      checkpoint: { step: 2, uri: `s3://out/${REDACTED}/` },
    });
  });

  it('keeps the values out of log lines: messages, fields, errors with their stacks and causes', () => {
    const lines: string[] = [];
    const log = pino({ name: 't' }, redactingDestination({ write: (l: string) => lines.push(l) }, redactor(env)));
    const cause = new Error(`socket to ${encodeURIComponent(SECRET)} reset`);
    const err = new StorageError('NoSuchKey', `no such object under ${SECRET}`, { op: 'fetch', path: `/pvc/${SECRET}`, cause });
    log.error({ err, path: `/pvc/${SECRET}` }, `training failed at ${SECRET}`);
    log.warn({ err: new Error(JSON.stringify({ token: TOKEN })) }, 'retrying');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(leaks(line)).toEqual([]);
    const first = JSON.parse(lines[0]!);
    expect(first.msg).toBe(`training failed at ${REDACTED}`);
    expect(first.err.message).toContain(REDACTED);
    expect(first.err.stack).toContain(REDACTED);
  });
});

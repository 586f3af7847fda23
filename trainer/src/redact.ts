// Keeps the S3 credentials the trainer holds out of what it says: the values of the credential env
// vars (every storage role's, and the SDK's own AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) are
// replaced in log lines, in the termination message and in the CLI's error output, whatever built
// the text (an error message, a path or URI, a stack, a JSON-escaped or URL-encoded copy).
import pino from 'pino';
import { STORAGE_ROLES, credentialEnv, type CredentialPart } from '@loraplane/api/trainer-contract';

export const REDACTED = '[REDACTED]';
/** Shorter values are not replaced: a one-letter test key would otherwise blank out every such letter. */
export const MIN_REDACTED_LENGTH = 4;

const PARTS = Object.keys({ accessKeyId: 1, secretAccessKey: 1, sessionToken: 1 } satisfies Record<CredentialPart, 1>) as CredentialPart[];

/** The env vars whose values are secret material. */
export const credentialEnvNames = (): string[] => [
  ...STORAGE_ROLES.flatMap((role) => PARTS.map((part) => credentialEnv(role, part))),
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
];

export type Redactor = (text: string) => string;

/** The forms a value takes in text: raw, JSON-escaped (once and twice), URL-encoded (as a component and as S3 encodes a key). */
function forms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const component = encodeURIComponent(value);
  const s3 = component.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return [value, json, JSON.stringify(json).slice(1, -1), component, component.replace(/%2F/g, '/'), s3, s3.replace(/%2F/g, '/')];
}

/** A function that replaces the credential values set in env (read now, once) by [REDACTED]. */
export function redactor(env: Readonly<Record<string, string | undefined>> = process.env): Redactor {
  const values = new Set<string>();
  for (const name of credentialEnvNames()) {
    const v = env[name];
    if (v !== undefined && v.length >= MIN_REDACTED_LENGTH) for (const f of forms(v)) values.add(f);
  }
  if (values.size === 0) return (text) => text;
  // Longest first, so a value that contains another is replaced whole.
  const sorted = [...values].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const v of sorted) if (out.includes(v)) out = out.split(v).join(REDACTED);
    return out;
  };
}

/** Every string in a JSON-like value, redacted (keys too); other values as they are. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v, redact)])) as T;
  return value;
}

export interface LineSink {
  write(line: string): unknown;
}

/**
 * A pino destination that redacts each finished log line (message, err.message, err.stack, causes,
 * every field) before it reaches `dest` (default: stdout, written synchronously so nothing is lost
 * when the process exits right after).
 */
export function redactingDestination(dest: LineSink = pino.destination({ dest: 1, sync: true }), redact: Redactor = redactor()): LineSink {
  return { write: (line: string) => dest.write(redact(line)) };
}

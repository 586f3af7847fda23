// One shape for where a model, a dataset or an output lives: an S3 bucket + prefix, or a local path
// (a PVC mounted at pvcMountPath(claim) in the trainer pod, or any directory for local runs).
// Also the key <-> relative path rules that keep object keys from escaping a local directory.
import { join, normalize, resolve, sep } from 'node:path';
import type { S3Location, StorageSource } from '@loraplane/api/common';
import { pvcMountPath, type StorageRole } from '@loraplane/api/trainer-contract';
import { StorageError } from './errors.js';

export type Source =
  | { kind: 's3'; role: StorageRole; location: S3Location; bucket: string; prefix: string; uri: string }
  | { kind: 'local'; role: StorageRole; path: string; uri: string };

export interface ResolveOptions {
  /** Where a PVC is mounted; default pvcMountPath (the trainer pod's /data/pvc/<claim>). */
  pvcRoot?: (claimName: string) => string;
}

/** A storage source from the FineTuneJob (exactly one of s3 or pvc), or `{ local }` for a plain path. */
export function resolveSource(role: StorageRole, source: StorageSource | { local: string }, opts: ResolveOptions = {}): Source {
  if ('local' in source) {
    const path = resolve(source.local);
    return { kind: 'local', role, path, uri: `file://${path}` };
  }
  if (source.s3 !== undefined && source.pvc === undefined) {
    const location = source.s3;
    const prefix = stripSlashes(location.prefix ?? '');
    return { kind: 's3', role, location, bucket: location.bucket, prefix, uri: `s3://${location.bucket}/${prefix}` };
  }
  if (source.pvc !== undefined && source.s3 === undefined) {
    const root = (opts.pvcRoot ?? pvcMountPath)(source.pvc.claimName);
    const path = insideDir(root, source.pvc.path ?? '', { op: `${role} pvc ${source.pvc.claimName}` });
    return { kind: 'local', role, path, uri: `file://${path}` };
  }
  throw new StorageError('Config', 'exactly one of s3 or pvc must be set', { op: `${role} source` });
}

const stripSlashes = (p: string): string => p.replace(/^\/+/, '');

/** A prefix as a folder: '' (the whole bucket) or ending in exactly one '/'. */
export function folderPrefix(prefix: string): string {
  const p = stripSlashes(prefix).replace(/\/+$/, '');
  return p === '' ? '' : `${p}/`;
}

/** The key of a file under a folder prefix; the relative path uses '/' and must stay inside. */
export function joinKey(prefix: string, relPath: string): string {
  return `${folderPrefix(prefix)}${checkRelative(relPath, { op: 'key' })}`;
}

/**
 * A relative path: no leading '/', no '.' or '..' segments, no empty segments, no NUL. Keys that are
 * not (a '../x' key in a bucket, say) would write outside the cache directory, so they are refused.
 */
export function checkRelative(relPath: string, subject: { op?: string; bucket?: string; key?: string } = {}): string {
  const segments = relPath.split('/');
  const bad = relPath === '' || relPath.includes('\0') || relPath.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new StorageError('Config', `"${relPath}" is not a safe relative path`, subject);
  return relPath;
}

/** The path of `key` relative to a folder prefix, checked to be safe; undefined for a key outside it. */
export function relativeKey(prefix: string, key: string, bucket?: string): string | undefined {
  const folder = folderPrefix(prefix);
  if (!key.startsWith(folder)) return undefined;
  return checkRelative(key.slice(folder.length), { op: 'key', bucket, key });
}

/** root/rel, refusing a rel that leaves root; a leading '/' means the root itself ("/models" is root/models). */
export function insideDir(root: string, rel: string, subject: { op?: string } = {}): string {
  const base = resolve(root);
  const full = resolve(base, normalize(rel).replace(/^([/\\])+/, ''));
  if (full !== base && !full.startsWith(base + sep)) throw new StorageError('Config', `path "${rel}" leaves ${base}`, subject);
  return full;
}

/** Where an object goes in a local directory: dir/<key relative to prefix>, with '/' as the separator. */
export const localPathFor = (dir: string, relPath: string): string => join(dir, ...checkRelative(relPath).split('/'));

// SHA-256 of local files, streamed (never read whole), and the digest formats used in storage:
// `sha256:<hex>` in manifests (as the operator's API writes digests), bare hex in x-amz-meta-sha256,
// base64 in S3's x-amz-checksum-sha256.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { splitParts } from './parts.js';

const HEX = /^[a-f0-9]{64}$/;

/** The manifest form: `sha256:<64 hex>`. */
export const prefixedDigest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

export const toPrefixed = (hex: string): string => `sha256:${hex}`;

/** Hex from `sha256:<hex>` or `<hex>` (any case); undefined for anything else. */
export function parseSha256(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  return HEX.test(hex) ? hex : undefined;
}

export const hexToBase64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

export interface FileDigest {
  size: number;
  /** Hex SHA-256 of the whole file. */
  sha256: string;
  /** Per part, when partSize was given: hex SHA-256 and MD5 (an S3 part's ETag is usually its MD5). */
  parts?: Array<{ number: number; size: number; sha256: string; md5: string }>;
}

export interface DigestOptions {
  /** Also digest each part of this size. */
  partSize?: number;
  signal?: AbortSignal;
  /** Bytes hashed so far, as the stream goes. */
  onBytes?: (bytes: number) => void;
}

/** One streaming pass over the file: the whole-file SHA-256 and, optionally, each part's SHA-256 and MD5. */
export async function digestFile(path: string, opts: DigestOptions = {}): Promise<FileDigest> {
  const whole = createHash('sha256');
  const parts: NonNullable<FileDigest['parts']> = [];
  const partSize = opts.partSize;
  let size = 0;
  let partHash = partSize !== undefined ? { sha: createHash('sha256'), md5: createHash('md5'), size: 0 } : undefined;
  const closePart = () => {
    if (partHash === undefined || partHash.size === 0) return;
    parts.push({ number: parts.length + 1, size: partHash.size, sha256: partHash.sha.digest('hex'), md5: partHash.md5.digest('hex') });
    partHash = { sha: createHash('sha256'), md5: createHash('md5'), size: 0 };
  };
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024, signal: opts.signal });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    whole.update(chunk);
    size += chunk.length;
    if (partSize !== undefined && partHash !== undefined) {
      // A chunk may straddle part boundaries.
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(chunk.length - offset, partSize - partHash.size);
        const slice = chunk.subarray(offset, offset + take);
        partHash.sha.update(slice);
        partHash.md5.update(slice);
        partHash.size += take;
        offset += take;
        if (partHash.size === partSize) closePart();
      }
    }
    opts.onBytes?.(size);
  }
  closePart();
  const digest: FileDigest = { size, sha256: whole.digest('hex') };
  if (partSize !== undefined) {
    const expected = splitParts(size, partSize).length;
    if (parts.length !== expected) throw new Error(`${path}: ${parts.length} parts hashed, ${expected} expected`);
    digest.parts = parts;
  }
  return digest;
}

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

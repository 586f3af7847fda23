// Splitting an object into byte ranges: ranged GETs on download, multipart parts on upload.

export const MiB = 1024 * 1024;
/** S3 limits for multipart uploads: every part but the last at least 5 MiB, at most 10,000 parts. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PARTS = 10_000;
export const MAX_PART_SIZE = 5 * 1024 * MiB;

export interface Part {
  /** 1-based, as S3 numbers parts. */
  number: number;
  /** First byte, inclusive. */
  start: number;
  /** Last byte + 1. */
  end: number;
  size: number;
}

/** Consecutive parts of partSize bytes (the last one shorter) covering [0, size); none for size 0. */
export function splitParts(size: number, partSize: number): Part[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if (!Number.isSafeInteger(partSize) || partSize <= 0) throw new RangeError(`partSize must be a positive integer, got ${partSize}`);
  const parts: Part[] = [];
  for (let start = 0, number = 1; start < size; start += partSize, number++) {
    const end = Math.min(size, start + partSize);
    parts.push({ number, start, end, size: end - start });
  }
  return parts;
}

/** The HTTP Range header for a part. */
export const rangeHeader = (p: Pick<Part, 'start' | 'end'>): string => `bytes=${p.start}-${p.end - 1}`;

/**
 * A part size for a multipart upload of `size` bytes: the preferred one, raised to S3's minimum and
 * doubled until the upload needs at most MAX_PARTS parts.
 */
export function uploadPartSize(size: number, preferred: number): number {
  let partSize = Math.max(MIN_PART_SIZE, preferred);
  while (Math.ceil(size / partSize) > MAX_PARTS) partSize *= 2;
  if (partSize > MAX_PART_SIZE) throw new RangeError(`${size} bytes is more than S3 can take in one object`);
  return partSize;
}

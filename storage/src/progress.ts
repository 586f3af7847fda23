// Progress of a transfer: bytes and files done out of the total, reported to a callback at most
// every intervalMs (and always at the end). Bytes are credited per part with a high-water mark, so
// a part that is retried from its start does not count twice and the total never goes backwards.

export interface Progress {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export type ProgressListener = (progress: Progress) => void;

export class ProgressTracker {
  private readonly credited = new Map<string, number>();
  private bytesDone = 0;
  private filesDone = 0;
  private lastEmit = 0;

  constructor(
    private bytesTotal: number,
    private filesTotal: number,
    private readonly listener: ProgressListener | undefined,
    private readonly intervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  /** More work became known (e.g. a listing page). */
  grow(bytes: number, files: number): void {
    this.bytesTotal += bytes;
    this.filesTotal += files;
  }

  /** `bytes` of part `id` have arrived so far in this attempt. */
  partBytes(id: string, bytes: number): void {
    const before = this.credited.get(id) ?? 0;
    if (bytes <= before) return;
    this.credited.set(id, bytes);
    this.bytesDone += bytes - before;
    this.emit(false);
  }

  /** A whole file is done (downloaded, found in the cache, or uploaded); credits what is not yet counted. */
  fileDone(id: string, size: number): void {
    let counted = 0;
    for (const [k, v] of this.credited) if (k === id || k.startsWith(`${id}#`)) counted += v;
    for (const k of [...this.credited.keys()]) if (k === id || k.startsWith(`${id}#`)) this.credited.delete(k);
    this.bytesDone += Math.max(0, size - counted);
    this.filesDone++;
    this.emit(this.filesDone === this.filesTotal);
  }

  get snapshot(): Progress {
    return { bytesDone: this.bytesDone, bytesTotal: this.bytesTotal, filesDone: this.filesDone, filesTotal: this.filesTotal };
  }

  emit(force: boolean): void {
    if (this.listener === undefined) return;
    const t = this.now();
    if (!force && t - this.lastEmit < this.intervalMs) return;
    this.lastEmit = t;
    this.listener(this.snapshot);
  }
}

/** The id of part n of a file, for partBytes; fileDone(fileId) settles all of them. */
export const partId = (fileId: string, part: number): string => `${fileId}#${part}`;

// The memory limit, enforced as the kernel's cgroup OOM killer would: the resident set of a
// container's process group is sampled from /proc every interval, and a group above its limit is
// SIGKILLed (exit code 137, reason OOMKilled).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;

/** RSS in bytes per process group, for the groups asked about. */
function groupRss(pgids: ReadonlySet<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited between readdir and read
    }
    // Fields after "(comm)": state ppid pgrp ... rss is field 24, i.e. index 21 after the comm.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(fields[2]);
    if (!pgids.has(pgrp)) continue;
    out.set(pgrp, (out.get(pgrp) ?? 0) + Number(fields[21]) * PAGE_SIZE);
  }
  return out;
}

interface Watched {
  limitBytes: number;
  onExceeded: (rssBytes: number) => void;
}

export class MemoryWatcher {
  private readonly watched = new Map<number, Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 200) {}

  watch(pgid: number, limitBytes: number, onExceeded: (rssBytes: number) => void): void {
    this.watched.set(pgid, { limitBytes, onExceeded });
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
  }

  unwatch(pgid: number): void {
    this.watched.delete(pgid);
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    this.watched.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    for (const [pgid, rss] of groupRss(new Set(this.watched.keys()))) {
      const w = this.watched.get(pgid);
      if (w !== undefined && rss > w.limitBytes) {
        this.unwatch(pgid);
        w.onExceeded(rss);
      }
    }
  }
}

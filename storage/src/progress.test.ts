import { describe, expect, it } from 'vitest';
import { ProgressTracker, partId, type Progress } from './progress.js';

describe('ProgressTracker', () => {
  it('credits bytes per part with a high-water mark, so a retried part never counts twice', () => {
    const seen: Progress[] = [];
    const t = new ProgressTracker(100, 1, (p) => seen.push(p), 0);
    t.partBytes(partId('f', 1), 30);
    t.partBytes(partId('f', 2), 20);
    // Part 1 is retried from its start: nothing new until it passes 30.
    t.partBytes(partId('f', 1), 10);
    t.partBytes(partId('f', 1), 50);
    expect(t.snapshot.bytesDone).toBe(70);
    t.fileDone('f', 100);
    expect(t.snapshot).toEqual({ bytesDone: 100, bytesTotal: 100, filesDone: 1, filesTotal: 1 });
    const done = seen.map((p) => p.bytesDone);
    expect(done).toEqual([30, 50, 70, 100]);
  });

  it('credits a cached file whole, and grows totals as they become known', () => {
    const t = new ProgressTracker(0, 0, undefined);
    t.grow(500, 2);
    t.fileDone('a', 200);
    t.fileDone('b', 300);
    expect(t.snapshot).toEqual({ bytesDone: 500, bytesTotal: 500, filesDone: 2, filesTotal: 2 });
  });

  it('reports at most once per interval, but always the end', () => {
    let now = 0;
    const seen: number[] = [];
    const t = new ProgressTracker(
      10,
      1,
      (p) => seen.push(p.bytesDone),
      100,
      () => now,
    );
    now = 100;
    t.partBytes('f#1', 1);
    now = 150;
    t.partBytes('f#1', 2);
    now = 201;
    t.partBytes('f#1', 3);
    now = 202;
    t.fileDone('f', 10);
    expect(seen).toEqual([1, 3, 10]);
  });
});

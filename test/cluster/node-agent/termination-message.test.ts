import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { terminationMessage } from './termination-message.js';

describe('terminationMessage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-'));
  const messageFile = join(dir, 'termination-log');
  const logFile = join(dir, 'container.log');
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
  writeFileSync(logFile, `${lines.join('\n')}\n`);

  it('keeps the last 4096 bytes of the file', () => {
    writeFileSync(messageFile, `${'a'.repeat(5000)}END`);
    const m = terminationMessage({ messageFile, policy: 'File', exitCode: 0, logFile, logOffset: 0 });
    expect(m).toHaveLength(4096);
    expect(m.endsWith('END')).toBe(true);
  });

  it('falls back to the last 80 log lines only for a failed container with an empty file', () => {
    writeFileSync(messageFile, '');
    const opts = { messageFile, policy: 'FallbackToLogsOnError', logFile, logOffset: 0 };
    expect(terminationMessage({ ...opts, exitCode: 0 })).toBe('');
    const m = terminationMessage({ ...opts, exitCode: 1 });
    expect(m.split('\n').filter(Boolean)).toEqual(lines.slice(20));
  });
});

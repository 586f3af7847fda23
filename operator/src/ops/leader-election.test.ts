import { describe, expect, it } from 'vitest';
import { microTime } from './leader-election.js';

describe('microTime', () => {
  it('writes the six fractional digits the API server requires of a Lease time', () => {
    expect(microTime(new Date('2026-11-29T02:09:01.366Z'))).toBe('2026-11-29T02:09:01.366000Z');
  });
});

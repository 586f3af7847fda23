import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies defaults and splits the namespace list', () => {
    const cfg = loadConfig({ WATCH_NAMESPACES: 'team-a, team-b,' });
    expect(cfg.WATCH_NAMESPACES).toEqual(['team-a', 'team-b']);
    expect(cfg.LEADER_ELECT).toBe(true);
    expect(cfg.LEASE_DURATION_SECONDS).toBe(15);
    expect(cfg.HTTP_PORT).toBe(8080);
  });

  it('names the setting that is wrong', () => {
    expect(() => loadConfig({ HTTP_PORT: '99999' })).toThrow(/invalid operator configuration: HTTP_PORT: /);
    expect(() => loadConfig({ LEADER_ELECT: 'yes' })).toThrow(/LEADER_ELECT/);
  });
});

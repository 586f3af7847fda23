import { describe, expect, it } from 'vitest';
import { PathMap } from './paths.js';

describe('PathMap', () => {
  const map = new PathMap([
    { containerPath: '/data/', hostPath: '/pod/volumes/data' },
    { containerPath: '/data/models', hostPath: '/pod/volumes/models' },
    { containerPath: '/', hostPath: '/pod/rootfs' },
  ]);

  it('maps a path at or under a mount, the longest mount first', () => {
    expect(map.toHost('/data')).toBe('/pod/volumes/data');
    expect(map.toHost('/data/x/y.json')).toBe('/pod/volumes/data/x/y.json');
    expect(map.toHost('/data/models/llama')).toBe('/pod/volumes/models/llama');
  });

  it('leaves everything else alone, including look-alike prefixes and a mount at /', () => {
    expect(map.rewrite('/database')).toBe('/database');
    expect(map.rewrite('/etc/passwd')).toBe('/etc/passwd');
    expect(map.rewrite('--out=/data/x')).toBe('--out=/data/x');
  });

  it('serializes as containerPath → hostPath for NODE_AGENT_PATH_MAP', () => {
    expect(JSON.parse(JSON.stringify(map))).toEqual({ '/data/models': '/pod/volumes/models', '/data': '/pod/volumes/data' });
  });
});

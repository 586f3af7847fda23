import { describe, expect, it } from 'vitest';
import { endpointPolicy, isForbiddenAddress, safeLookup } from './endpoints.js';

describe('endpoint policy', () => {
  const policy = endpointPolicy(['http://minio.storage:9000', 'https://s3.example.com/']);

  it('allows AWS S3 (no endpoint) and the listed origins, whatever the path', () => {
    expect(policy.check({})).toBeUndefined();
    expect(policy.check({ endpoint: 'http://minio.storage:9000' })).toBeUndefined();
    expect(policy.check({ endpoint: 'https://s3.example.com/some/path' })).toBeUndefined();
  });

  it('refuses an origin the platform did not list: another port, scheme or host', () => {
    for (const endpoint of ['http://minio.storage:9001', 'https://minio.storage:9000', 'http://10.0.0.7:9000', 'http://kube-apiserver:6443']) {
      const verdict = policy.check({ endpoint });
      expect(verdict?.reason).toBe('EndpointNotAllowed');
      expect(verdict?.message).toContain('operator.storage.allowedEndpoints');
    }
  });

  it('refuses an endpoint that is not a URL', () => {
    expect(policy.check({ endpoint: 'http://[zz]:9000' })).toEqual({
      kind: 'failed',
      reason: 'EndpointNotAllowed',
      message: 'endpoint http://[zz]:9000 is not a URL',
    });
  });

  it('never allows link-local or metadata addresses, even when listed', () => {
    const listed = endpointPolicy(['http://169.254.169.254', 'http://[fe80::1]:9000', 'http://metadata.google.internal']);
    for (const endpoint of ['http://169.254.169.254', 'http://[fe80::1]:9000', 'http://metadata.google.internal'])
      expect(listed.check({ endpoint })?.message).toMatch(/link-local or metadata address/);
    expect(['169.254.169.254', '::ffff:169.254.169.254', 'fe80::1', 'fd00:ec2::254', '100.100.100.200'].every(isForbiddenAddress)).toBe(true);
    expect(['127.0.0.1', '10.0.0.1', '::1', 'fd00::1'].some(isForbiddenAddress)).toBe(false);
  });

  it('refuses at connect time a name that resolves to a metadata address', async () => {
    // localhost resolves through the real resolver; the check sees every answer.
    const ok = await new Promise<unknown>((resolve) => safeLookup('localhost', { all: true }, (err, addresses) => resolve(err ?? addresses)));
    expect(Array.isArray(ok)).toBe(true);
    const refused = await new Promise<Error | null>((resolve) => safeLookup('169.254.169.254', {}, (err) => resolve(err)));
    expect(refused?.message).toBe('169.254.169.254 resolves to 169.254.169.254, a link-local or metadata address; refused');
  });
});

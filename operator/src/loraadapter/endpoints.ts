// Which S3 endpoints the operator itself may connect to (to verify and reclaim adapters). The
// endpoint is a tenant's choice, and the operator's network position is not the tenant's: only the
// endpoints the platform allows (the chart's operator.storage.allowedEndpoints; a location without
// an endpoint means AWS S3), and never a link-local or cloud metadata address, whatever a name
// resolves to at connect time (the check runs in the socket's DNS lookup, so a name that
// re-resolves cannot slip past it).
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { S3Location } from '@loraplane/api/common';
import { failed, type Failure } from './verdict.js';

const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, incl. 169.254.169.254 (AWS, GCP, Azure metadata)
FORBIDDEN.addSubnet('100.100.100.200', 32, 'ipv4'); // Alibaba Cloud metadata
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6'); // link-local
FORBIDDEN.addSubnet('fd00:ec2::254', 128, 'ipv6'); // AWS metadata over IPv6
const FORBIDDEN_NAMES = new Set(['metadata.google.internal', 'metadata', 'instance-data']);

/** Whether an address (v4, v6, or v4-mapped v6) is link-local or a metadata service. */
export function isForbiddenAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = isIP(ip);
  return family !== 0 && FORBIDDEN.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** The origin an endpoint URL connects to (scheme, host, port), the form allow-list entries are compared in. */
export const endpointOrigin = (endpoint: string): string => new URL(endpoint).origin;

export interface EndpointPolicy {
  /** undefined when the operator may connect to the location; else the verdict that it may not. */
  check(location: Pick<S3Location, 'endpoint'>): Failure | undefined;
  /** The DNS lookup for the operator's S3 clients: refuses forbidden addresses at connect time. */
  lookup: LookupFunction;
}

export function endpointPolicy(allowedEndpoints: readonly string[]): EndpointPolicy {
  const allowed = new Set(allowedEndpoints.map(endpointOrigin));
  return {
    check(location) {
      if (location.endpoint === undefined) return undefined;
      const url = URL.parse(location.endpoint);
      if (!url) return failed('EndpointNotAllowed', `endpoint ${location.endpoint} is not a URL`);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (FORBIDDEN_NAMES.has(host.toLowerCase()) || isForbiddenAddress(host))
        return failed('EndpointNotAllowed', `endpoint ${location.endpoint} is a link-local or metadata address; the operator never connects to one`);
      if (!allowed.has(url.origin))
        return failed(
          'EndpointNotAllowed',
          `endpoint ${url.origin} is not one the platform allows the operator to reach (allowed: ${[...allowed].join(', ') || 'none; AWS S3 only'}); ask the platform team to add it to operator.storage.allowedEndpoints`,
        );
      return undefined;
    },
    lookup: safeLookup,
  };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails for link-local and metadata addresses (every answer is checked when all are asked for). */
export const safeLookup = ((hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback) => {
  dnsLookup(hostname, options as LookupAllOptions, (err, addresses: LookupAddress[] | string, family?: number) => {
    if (err) return callback(err, addresses);
    const list = typeof addresses === 'string' ? [{ address: addresses, family: family ?? 4 }] : addresses;
    const bad = list.find((a) => isForbiddenAddress(a.address));
    if (bad) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${bad.address}, a link-local or metadata address; refused`);
      refused.code = 'EAI_FAIL';
      return callback(refused, addresses);
    }
    callback(null, addresses, family);
  });
}) as unknown as LookupFunction;

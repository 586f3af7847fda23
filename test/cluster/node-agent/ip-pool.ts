// Pod IPs from 127.0.0.0/8: Linux routes all of it to loopback, so a process can bind its pod IP
// and others can reach it. 127.0.0.1 is the nodes' address; pods get 127.0.0.2 upwards.
export class IpPool {
  private readonly used = new Set<number>();

  allocate(): string {
    for (let i = 2; i < 2 ** 24 - 1; i++) {
      if (this.used.has(i)) continue;
      this.used.add(i);
      return `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    }
    throw new Error('pod IP range 127.0.0.0/8 exhausted');
  }

  /** Marks an address taken: a pod that already shows it (after an agent restart) keeps it. */
  claim(ip: string): void {
    const i = index(ip);
    if (i !== undefined) this.used.add(i);
  }

  release(ip: string): void {
    const i = index(ip);
    if (i !== undefined) this.used.delete(i);
  }
}

function index(ip: string): number | undefined {
  const [a, b, c, d] = ip.split('.').map(Number);
  if (a !== 127 || b === undefined || c === undefined || d === undefined) return undefined;
  return (b << 16) | (c << 8) | d;
}

// Cluster DNS for the pods of the test node agent, faked with one hosts file. Every pod's process runs
// in its own user and mount namespace (`unshare -Urm`, no privileges needed) with this file
// bind-mounted over /etc/hosts, so getaddrinfo (glibc, Node's dns.lookup) finds the names CoreDNS
// serves for a headless Service: a pod with spec.hostname and spec.subdomain (an Indexed Job's pods)
// is `<hostname>.<subdomain>.<namespace>.svc[.cluster.local]` at its pod IP, below the machine's own
// /etc/hosts (where a kubelet writes localhost and the pod's own name). What it does not fake: it
// does not check that a Service named after the subdomain exists and selects the pod (CoreDNS does),
// it serves only the pods of this agent's nodes, no Service or SRV records, and no search domains.
import { readFileSync, writeFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { resolveCommand } from './process.js';

export const CLUSTER_DOMAIN = 'cluster.local';

/** The names cluster DNS gives a pod under a headless Service; none without hostname and subdomain. */
export function podDnsNames(pod: k8s.V1Pod): string[] {
  const { hostname, subdomain } = pod.spec ?? {};
  const namespace = pod.metadata?.namespace ?? 'default';
  if (!hostname || !subdomain) return [];
  const svc = `${hostname}.${subdomain}.${namespace}.svc`;
  return [`${svc}.${CLUSTER_DOMAIN}`, svc];
}

export class ClusterDns {
  private readonly entries = new Map<string, { ip: string; names: string[] }>();
  /** The wrapper that runs a command in its own namespaces with the hosts file as /etc/hosts. */
  readonly wrap: (argv: string[]) => string[];

  private readonly base: string;

  constructor(
    readonly file: string,
    hostsFile = '/etc/hosts',
  ) {
    this.base = readFileSync(hostsFile, 'utf8');
    this.write();
    const path = (process.env.PATH ?? '').split(':');
    const unshare = resolveCommand('unshare', path);
    const mount = resolveCommand('mount', path);
    const sh = resolveCommand('sh', path);
    if (!unshare || !mount || !sh) throw new Error('the node agent needs unshare, mount and sh (util-linux) to give pods cluster DNS');
    // `exec` keeps the container's process id: the agent signals its process group and watches its memory.
    this.wrap = (argv) => [unshare, '-Urm', sh, '-c', `${mount} --bind "$0" /etc/hosts && exec "$@"`, this.file, ...argv];
  }

  /** A pod's names now resolve to its IP (from the next lookup on: the file is rewritten in place, which the bind mounts see). */
  add(uid: string, pod: k8s.V1Pod, ip: string): void {
    const names = podDnsNames(pod);
    if (names.length === 0) return;
    this.entries.set(uid, { ip, names });
    this.write();
  }

  remove(uid: string): void {
    if (this.entries.delete(uid)) this.write();
  }

  private write(): void {
    // The machine's own entries first (localhost, its hostname), as the pods saw them before.
    const lines = [this.base.trimEnd()];
    for (const { ip, names } of this.entries.values()) lines.push(`${ip} ${names.join(' ')}`);
    // In place (not a rename): a bind mount holds the file's inode.
    writeFileSync(this.file, `${lines.join('\n')}\n`);
  }
}

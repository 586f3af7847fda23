// What a tenant or an operator reader could see: every status, event and log line the operator,
// the node agent and the trainer containers wrote. Tests grep it for secret values.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDir } from '../../cluster/cluster.js';
import { mustKubectl } from './resources.js';

function logFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory()) found.push(...logFiles(path));
    else if (st?.isFile() && (entry.endsWith('.log') || entry === 'termination-log')) found.push(path);
  }
  return found;
}

/** The loraplane objects and events of the namespaces, the operator's log and every node-agent and container log. */
export async function everythingWritten(namespaces: string[], operatorLog: string): Promise<string> {
  const api = [];
  for (const ns of namespaces) {
    api.push(await mustKubectl(['get', 'ftj,lora', '-n', ns, '-o', 'json']));
    api.push(await mustKubectl(['get', 'events', '-n', ns, '-o', 'json']));
  }
  const files = [operatorLog, ...logFiles(join(clusterDir(), 'node-agent')), ...logFiles(join(clusterDir(), 'logs'))];
  return [...api, ...files.map((f) => readFileSync(f, 'utf8'))].join('\n');
}

/** A secret's value as it could leak: as is, and base64-encoded (as a Secret's data holds it). */
export const leakForms = (value: string): string[] => [value, Buffer.from(value).toString('base64')];

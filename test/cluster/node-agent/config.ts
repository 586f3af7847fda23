// The agent's inputs: nodes.yaml (validated with zod, it is a trust boundary like any file) and the
// environment variables up.sh sets.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

const Taint = z.object({
  key: z.string().min(1),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

const NodeDef = z.object({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/),
  labels: z.record(z.string(), z.string()).default({}),
  capacity: z.record(z.string(), z.string()).refine((c) => 'cpu' in c && 'memory' in c && 'pods' in c, {
    message: 'capacity needs cpu, memory and pods',
  }),
  /** Defaults to capacity: the agent reserves nothing for a system it does not run. */
  allocatable: z.record(z.string(), z.string()).optional(),
  taints: z.array(Taint).default([]),
});

const ImageDef = z.object({
  pattern: z.string().min(1),
  entrypoint: z.array(z.string()).optional(),
  cmd: z.array(z.string()).optional(),
  /** The image's programs: directories (relative to the repository) put first on the container's PATH. */
  path: z.array(z.string()).optional(),
});

const NodesFile = z.object({
  images: z.array(ImageDef).default([]),
  nodes: z.array(NodeDef).min(1),
});

export type NodeDef = z.infer<typeof NodeDef>;
export type ImageDef = z.infer<typeof ImageDef>;
export type NodesFile = z.infer<typeof NodesFile>;

export function loadNodesFile(path: string): NodesFile {
  const parsed = NodesFile.safeParse(parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path}: ${z.prettifyError(parsed.error)}`);
  const names = parsed.data.nodes.map((n) => n.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`${path}: node ${dup} is defined twice`);
  return parsed.data;
}

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');

export interface AgentSettings {
  /** Where pod directories go: <root>/pods/<ns>_<name>_<uid>/. */
  root: string;
  nodesFile: string;
  /** Directories searched for container commands after the image's own (NODE_AGENT_PATH). */
  commandPath: string[];
  /** Lease renewal and node status heartbeat period. */
  heartbeatMs: number;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): AgentSettings {
  const root = env.NODE_AGENT_ROOT;
  if (root === undefined || root === '') throw new Error('NODE_AGENT_ROOT is not set');
  return {
    root,
    nodesFile: env.NODE_AGENT_NODES ?? resolve(here, '../nodes.yaml'),
    commandPath: (env.NODE_AGENT_PATH ?? '').split(':').filter((p) => p !== ''),
    heartbeatMs: Number(env.NODE_AGENT_HEARTBEAT_MS ?? 10_000),
  };
}

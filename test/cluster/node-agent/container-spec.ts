// From a pod's first container to what the process needs: volumes on disk, the resolved environment,
// argv and working directory with container paths mapped to host paths (paths.ts), and PATH.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { ConfigSource } from './config-source.js';
import type { PodRuntimeInfo } from './downward.js';
import { expand, resolveEnv } from './env.js';
import { WaitingError } from './errors.js';
import { repoRoot, type ImageDef } from './config.js';
import { containerArgv } from './images.js';
import { PathMap } from './paths.js';
import type { StartSpec } from './process.js';
import { parseQuantity } from './quantity.js';
import { containerMounts, materializeVolumes } from './volumes.js';

export interface PreparedContainer extends StartSpec {
  terminationMessageFile: string;
  /** resources.limits.memory in bytes, when set. */
  memoryLimitBytes?: number;
}

export interface PrepareContext {
  podRoot: string;
  claimsRoot: string;
  /** Directories searched before the agent's own PATH (NODE_AGENT_PATH). */
  commandPath: readonly string[];
  source: ConfigSource;
  info: PodRuntimeInfo;
}

/** Rejects pod shapes the agent does not emulate, with a message saying so. */
export function supportedContainer(pod: k8s.V1Pod): k8s.V1Container {
  const spec = pod.spec;
  const first = spec?.containers[0];
  if (first === undefined || spec === undefined) throw new WaitingError('CreateContainerConfigError', 'pod has no containers', false);
  if ((spec.initContainers ?? []).length > 0 || spec.containers.length > 1) {
    throw new WaitingError('CreateContainerConfigError', 'the loraplane test node agent runs pods with exactly one container and no init containers', false);
  }
  return first;
}

export async function prepareContainer(pod: k8s.V1Pod, container: k8s.V1Container, image: ImageDef, ctx: PrepareContext): Promise<PreparedContainer> {
  mkdirSync(ctx.podRoot, { recursive: true });
  const volumes = await materializeVolumes(pod, { podRoot: ctx.podRoot, claimsRoot: ctx.claimsRoot, source: ctx.source, info: ctx.info });
  const { mounts, terminationMessageFile } = containerMounts(container, volumes, ctx.podRoot);
  const paths = new PathMap(mounts);
  const resolved = await resolveEnv(pod, container, ctx.source, ctx.info);

  const env: Record<string, string> = {};
  for (const [k, v] of resolved) env[k] = paths.rewrite(v);
  // The image's programs come first, then the agent's extra directories; a PATH the pod sets comes after them.
  const imagePath = (image.path ?? []).map((p) => resolve(repoRoot, p));
  env.PATH = [...imagePath, ...ctx.commandPath, resolved.get('PATH') ?? process.env.PATH ?? '/usr/bin:/bin'].join(':');
  env.HOSTNAME = pod.metadata?.name ?? '';
  env.HOME ??= process.env.HOME ?? '/root';
  // Not set by a kubelet: lets a test-aware process map paths inside structured values, and lets
  // down.sh find processes an agent killed with SIGKILL left behind.
  env.NODE_AGENT_POD_ROOT = ctx.podRoot;
  env.NODE_AGENT_PATH_MAP = JSON.stringify(paths);

  const lookup = (name: string): string | undefined => resolved.get(name);
  const argv = containerArgv(
    image,
    container.command?.map((a) => expand(a, lookup)),
    container.args?.map((a) => expand(a, lookup)),
  ).map((a) => paths.rewrite(a));
  if (argv.length === 0) {
    throw new WaitingError('CreateContainerConfigError', `no command specified and image ${container.image} has no entrypoint in nodes.yaml`, false);
  }

  let cwd = ctx.podRoot;
  if (container.workingDir !== undefined && container.workingDir !== '') {
    // An unmounted workingDir lives in the pod's stand-in root filesystem, created as runtimes do.
    cwd = paths.toHost(container.workingDir) ?? join(ctx.podRoot, 'rootfs', container.workingDir);
    mkdirSync(cwd, { recursive: true });
  }

  const memory = container.resources?.limits?.memory;
  return {
    argv,
    env,
    cwd,
    logFile: join(ctx.podRoot, 'container.log'),
    terminationMessageFile,
    memoryLimitBytes: memory === undefined ? undefined : parseQuantity(memory),
  };
}

// Pod volumes as host directories under the pod root (see paths.ts for how containers see them).
// emptyDir (any medium) is a fresh directory; configMap, secret, downwardAPI and projected volumes
// are files written once at start; hostPath is the host path itself; a PVC is a directory per claim
// shared by every pod on this agent, so data outlives the pod as with a real volume.
// Projected serviceAccountToken sources are skipped: processes here do not talk to the API as pods.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { ConfigSource, KeyValues } from './config-source.js';
import { fieldRefValue, type PodRuntimeInfo, resourceFieldRefValue } from './downward.js';
import { WaitingError } from './errors.js';
import type { Mount } from './paths.js';

export interface VolumeContext {
  podRoot: string;
  /** Agent-wide directory for PersistentVolumeClaims: <claims>/<namespace>/<claimName>. */
  claimsRoot: string;
  source: ConfigSource;
  info: PodRuntimeInfo;
}

const mountError = (volume: string, why: string): WaitingError =>
  new WaitingError('ContainerCreating', `MountVolume.SetUp failed for volume "${volume}" : ${why}`);

/** Creates every volume of the pod; returns volume name → host path. */
export async function materializeVolumes(pod: k8s.V1Pod, ctx: VolumeContext): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    out.set(v.name, await materialize(pod, v, ctx));
  }
  return out;
}

async function materialize(pod: k8s.V1Pod, v: k8s.V1Volume, ctx: VolumeContext): Promise<string> {
  const ns = pod.metadata?.namespace ?? 'default';
  const dir = join(ctx.podRoot, 'volumes', v.name);
  if (v.hostPath !== undefined) {
    if (v.hostPath.type === 'DirectoryOrCreate' || v.hostPath.type === undefined || v.hostPath.type === '') {
      mkdirSync(v.hostPath.path, { recursive: true });
    }
    return v.hostPath.path;
  }
  if (v.persistentVolumeClaim !== undefined) {
    const claim = join(ctx.claimsRoot, ns, v.persistentVolumeClaim.claimName);
    mkdirSync(claim, { recursive: true });
    return claim;
  }
  mkdirSync(dir, { recursive: true });
  if (v.emptyDir !== undefined) return dir;
  if (v.configMap !== undefined || v.secret !== undefined || v.downwardAPI !== undefined || v.projected !== undefined) {
    const sources: k8s.V1VolumeProjection[] = v.projected?.sources ?? [
      {
        configMap: v.configMap,
        secret: v.secret === undefined ? undefined : { ...v.secret, name: v.secret.secretName },
        downwardAPI: v.downwardAPI,
      },
    ];
    for (const s of sources) await writeProjection(pod, v.name, dir, s, ns, ctx);
    return dir;
  }
  throw mountError(
    v.name,
    `volume type ${Object.keys(v)
      .filter((k) => k !== 'name')
      .join(',')} is not supported by the test node agent`,
  );
}

async function writeProjection(pod: k8s.V1Pod, volume: string, dir: string, s: k8s.V1VolumeProjection, ns: string, ctx: VolumeContext): Promise<void> {
  const write = (rel: string, data: Buffer | string): void => {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  };
  const keyRef = s.configMap ?? s.secret;
  if (keyRef !== undefined) {
    const kind = s.configMap !== undefined ? 'configmap' : 'secret';
    const name = keyRef.name ?? '';
    const data: KeyValues | undefined = kind === 'configmap' ? await ctx.source.configMap(ns, name) : await ctx.source.secret(ns, name);
    if (data === undefined) {
      if (keyRef.optional === true) return;
      throw mountError(volume, `${kind} "${name}" not found`);
    }
    if (keyRef.items === undefined) {
      for (const [k, val] of data) write(k, val);
      return;
    }
    for (const item of keyRef.items) {
      const val = data.get(item.key);
      if (val === undefined) {
        if (keyRef.optional === true) continue;
        throw mountError(volume, `${kind} references non-existent ${kind === 'secret' ? 'secret' : 'config'} key: ${item.key}`);
      }
      write(item.path, val);
    }
    return;
  }
  for (const item of s.downwardAPI?.items ?? []) {
    if (item.fieldRef !== undefined) write(item.path, fieldRefValue(pod, item.fieldRef.fieldPath, ctx.info));
    const container = pod.spec?.containers.find((c) => c.name === item.resourceFieldRef?.containerName);
    if (item.resourceFieldRef !== undefined && container !== undefined) {
      write(item.path, resourceFieldRefValue(container, item.resourceFieldRef, ctx.info));
    }
  }
}

/**
 * The container's mounts as host paths: each volumeMount (with subPath) and the termination
 * message file, created empty so the process can write it.
 */
export function containerMounts(
  container: k8s.V1Container,
  volumes: Map<string, string>,
  podRoot: string,
): { mounts: Mount[]; terminationMessageFile: string } {
  const mounts: Mount[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const host = volumes.get(vm.name);
    if (host === undefined) throw new WaitingError('CreateContainerConfigError', `volume "${vm.name}" is not defined`, false);
    const sub = vm.subPath ?? '';
    const target = sub === '' ? host : join(host, sub);
    if (sub !== '' && !existsSync(target)) mkdirSync(target, { recursive: true });
    mounts.push({ containerPath: vm.mountPath, hostPath: target });
  }
  const terminationMessageFile = join(podRoot, 'termination-log');
  writeFileSync(terminationMessageFile, '');
  mounts.push({ containerPath: container.terminationMessagePath ?? '/dev/termination-log', hostPath: terminationMessageFile });
  return { mounts, terminationMessageFile };
}

// Which images count as "present" on the fake nodes, and what their ENTRYPOINT/CMD stand for.
import type { ImageDef } from './config.js';

const globToRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
  );

export class ImageStore {
  private readonly entries: Array<{ re: RegExp; def: ImageDef }>;

  constructor(defs: readonly ImageDef[]) {
    this.entries = defs.map((def) => ({ re: globToRegExp(def.pattern), def }));
  }

  find(image: string): ImageDef | undefined {
    return this.entries.find((e) => e.re.test(image))?.def;
  }
}

/**
 * The argv a container runs, as the container runtime computes it: `command` replaces the
 * ENTRYPOINT, `args` replaces the CMD, and a `command` without `args` drops the image's CMD.
 */
export function containerArgv(image: ImageDef, command?: string[], args?: string[]): string[] {
  const entrypoint = command !== undefined && command.length > 0 ? command : (image.entrypoint ?? []);
  const cmd = args !== undefined && args.length > 0 ? args : command !== undefined && command.length > 0 ? [] : (image.cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** The kubelet's message for an image it cannot pull, with the registry's answer we pretend to get. */
export const pullErrorMessage = (image: string): string =>
  `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": ` +
  `not found (the loraplane test node agent has only the images listed in nodes.yaml)`;

export const backOffMessage = (image: string): string => `Back-off pulling image "${image}"`;

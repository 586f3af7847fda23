// The tests run on the Node.js the images ship: one version in both Dockerfiles (`FROM node:X.Y.Z`), the same major
// here (`.ci/run` puts it first on PATH through scripts/node-lts.sh), and package.json's engines asks for it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.js';

const repo = resolve(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(repo, path), 'utf8');

/** The X.Y.Z of every `FROM node:X.Y.Z…` stage. */
const nodeVersions = (file: string): string[] =>
  parseDockerfile(read(file))
    .map((s) => /^node:(\d+\.\d+\.\d+)/.exec(s.image)?.[1])
    .filter((v): v is string => v !== undefined);

const versions = ['Dockerfile.operator', 'Dockerfile.trainer'].flatMap(nodeVersions);
const imageVersion = versions[0]!;
const imageMajor = imageVersion.split('.')[0]!;

describe('Node.js version', () => {
  it('is one version across the images', () => {
    expect(versions.length).toBeGreaterThan(0);
    expect(new Set(versions)).toEqual(new Set([imageVersion]));
  });

  it("the tests run on the images' major", () => {
    const running = process.versions.node.split('.')[0];
    expect(
      running,
      `tests run on Node ${process.versions.node} (${process.execPath}) but the images ship Node ${imageVersion}: ` +
        'run them with PATH="$(bash scripts/node-lts.sh):$PATH" (see README)',
    ).toBe(imageMajor);
  });

  it("package.json's engines asks for the images' major", () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${imageMajor}`);
  });
});

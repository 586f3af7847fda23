// The package graph as the layout promises it: each workspace package (api, storage, native, operator,
// trainer) is entered only through its `exports`, imports only packages it declares, and the
// dependencies point one way, down to `api`, which imports nothing of the repo.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
const readJson = (path: string) => JSON.parse(readFileSync(join(repo, path), 'utf8')) as Manifest;
interface Manifest {
  name: string;
  workspaces?: string[];
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const root = readJson('package.json');
const packages = root.workspaces!.map((dir) => ({ dir, manifest: readJson(`${dir}/package.json`) }));
const byName = new Map(packages.map((p) => [p.manifest.name, p]));
/** What each package may depend on in the repo: the layers below it. */
const ALLOWED: Record<string, string[]> = {
  '@loraplane/api': [],
  '@loraplane/storage': ['@loraplane/api'],
  '@loraplane/native': [],
  '@loraplane/operator': ['@loraplane/api', '@loraplane/storage'],
  '@loraplane/trainer': ['@loraplane/api', '@loraplane/storage', '@loraplane/native'],
};

const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts', '*.mjs'], { cwd: repo, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !f.includes('node_modules/'));
const packageOf = (file: string) => packages.find((p) => file.startsWith(`${p.dir}/`));
const isTest = (file: string) => /\.test\.ts$|\.test-support\.ts$|\/test-helpers\.ts$/.test(file);
const imports = (file: string) => ts.preProcessFile(readFileSync(join(repo, file), 'utf8'), true, true).importedFiles.map((i) => i.fileName);
/** Specifiers a file imports only for types (erased by the compiler: a dev dependency is enough). */
const typeOnly = (file: string) => new Set([...readFileSync(join(repo, file), 'utf8').matchAll(/^import type [^;]+ from '([^']+)';$/gm)].map((m) => m[1]!));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** Every way `file` breaks the package rules, as readable lines. */
function violations(file: string, specifiers: string[], typesOnly = new Set<string>()): string[] {
  const own = packageOf(file);
  const out: string[] = [];
  for (const specifier of specifiers) {
    if (specifier.startsWith('.')) {
      const target = posix.normalize(posix.join(posix.dirname(file), specifier));
      const into = packageOf(target);
      // Tests may use the repo's shared test support (test/); nothing else leaves its package by path.
      if (into !== own && !(own && !into && isTest(file) && target.startsWith('test/')))
        out.push(`${file}: ${specifier} reaches into ${into?.dir ?? posix.dirname(target)} by path`);
      continue;
    }
    if (builtins.has(specifier)) continue;
    const name = packageName(specifier);
    const workspace = byName.get(name);
    if (workspace) {
      const subpath = `.${specifier.slice(name.length)}`;
      if (!workspace.manifest.exports || !(subpath in workspace.manifest.exports)) out.push(`${file}: ${specifier} is not an export of ${name}`);
      if (own && !ALLOWED[own.manifest.name]!.includes(name)) out.push(`${file}: ${own.manifest.name} may not depend on ${name}`);
    }
    // A package's code uses only what it declares; its tests may also use the root's dev tools.
    const declared = {
      ...own?.manifest.dependencies,
      ...(own && (isTest(file) || typesOnly.has(specifier)) ? own.manifest.devDependencies : {}),
      ...(own && isTest(file) ? root.devDependencies : {}),
    };
    if (own && !(name in declared) && name !== own.manifest.name) out.push(`${file}: ${name} is not a dependency of ${own.manifest.name}`);
  }
  return out;
}

describe('package boundaries', () => {
  it('every package is entered through its exports, imports only what it declares, and depends only downwards', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.flatMap((f) => violations(f, imports(f), typeOnly(f)))).toEqual([]);
  });

  it('declares in package.json exactly the layers it may depend on', () => {
    for (const { manifest } of packages) {
      const repoDeps = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((d) => byName.has(d));
      expect(
        repoDeps.every((d) => ALLOWED[manifest.name]!.includes(d)),
        `${manifest.name}: ${repoDeps.join(', ')}`,
      ).toBe(true);
    }
    expect(Object.keys(ALLOWED).sort()).toEqual([...byName.keys()].sort());
  });

  it('api imports nothing of the repo', () => {
    const api = files.filter((f) => f.startsWith('api/') && !isTest(f));
    expect(api.length).toBeGreaterThan(5);
    for (const f of api)
      for (const s of imports(f))
        expect(s.startsWith('@loraplane/') || (s.startsWith('.') && !posix.normalize(posix.join(posix.dirname(f), s)).startsWith('api/')), `${f}: ${s}`).toBe(
          false,
        );
  });

  it('catches an import of another package’s internals, by path or by an unexported subpath, and an upward dependency', () => {
    expect(violations('operator/src/x.ts', ['../../storage/src/errors.js'])).toEqual([
      'operator/src/x.ts: ../../storage/src/errors.js reaches into storage by path',
    ]);
    expect(violations('operator/src/x.ts', ['@loraplane/storage/pool'])).toEqual([
      'operator/src/x.ts: @loraplane/storage/pool is not an export of @loraplane/storage',
    ]);
    expect(violations('storage/src/x.ts', ['@loraplane/operator/config'])).toEqual([
      'storage/src/x.ts: @loraplane/storage may not depend on @loraplane/operator',
      'storage/src/x.ts: @loraplane/operator is not a dependency of @loraplane/storage',
    ]);
    expect(violations('api/src/x.ts', ['@loraplane/storage'])).toContain('api/src/x.ts: @loraplane/api may not depend on @loraplane/storage');
    expect(violations('operator/src/x.ts', ['tokenizers'])).toEqual(['operator/src/x.ts: tokenizers is not a dependency of @loraplane/operator']);
    expect(violations('operator/src/x.test.ts', ['../../test/fixtures/finetunejob.js', 'vitest'])).toEqual([]);
    expect(violations('api/src/x.ts', ['@kubernetes/client-node'])).toEqual(['api/src/x.ts: @kubernetes/client-node is not a dependency of @loraplane/api']);
    expect(violations('api/src/x.ts', ['@kubernetes/client-node'], new Set(['@kubernetes/client-node']))).toEqual([]);
  });
});

// The images, checked without a Docker engine: every script, source and file a Dockerfile names
// exists, the entrypoint is a file the TypeScript build produces (each package compiles src/ into its dist/) and
// the final stage holds it, the images run as non-root with production dependencies, and they agree
// with the operator (HTTP port, the trainer Job's command, user and metrics port, the image tag).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { METRICS_PORT } from '@loraplane/api/trainer-contract';
import { loadConfig } from '@loraplane/operator/config';
import { renderTrainerJob } from '@loraplane/operator/finetunejob/render-job';
import { exampleFineTuneJob } from '../fixtures/finetunejob.js';
import { commandWords, containerPath, instructionsOf, keyValues, parseCopy, parseDockerfile, runCommands, type Stage } from './dockerfile.js';

const repo = resolve(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(repo, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; license: string; scripts: Record<string, string>; bin: Record<string, string> };

// ---- the TypeScript build as tsc sees it: each workspace package compiles its sources into its own dist/ ----

interface Package {
  dir: string;
  name: string;
  bin: Record<string, string>;
  exports: Record<string, { source: string }>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  rootDir: string;
  outDir: string;
  sources: Set<string>;
}
const packages: Package[] = (pkg as unknown as { workspaces: string[] }).workspaces.map((dir) => {
  const manifest = JSON.parse(read(`${dir}/package.json`)) as Pick<Package, 'name'> & Partial<Pick<Package, 'bin' | 'exports' | 'scripts' | 'dependencies'>>;
  const { config } = ts.readConfigFile(join(repo, dir, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, join(repo, dir));
  return {
    bin: {},
    exports: {},
    scripts: {},
    dependencies: {},
    ...manifest,
    dir,
    rootDir: parsed.options.rootDir!,
    outDir: parsed.options.outDir!,
    sources: new Set(parsed.fileNames.map((f) => resolve(f))),
  };
});
const packageNamed = (name: string): Package => packages.find((p) => p.name === name) ?? expect.fail(`no workspace package ${name}`);
const packageOf = (file: string): Package | undefined => packages.find((p) => !relative(join(repo, p.dir), file).startsWith('..'));
/** Repo-relative path of a compiled source's output. */
const outputOf = (source: string): string => {
  const p = packageOf(source)!;
  return relative(repo, join(p.outDir, relative(p.rootDir, source))).replace(/\.ts$/, '.js');
};
/** The source a repo-relative output path is compiled from, if a package's build compiles one. */
const sourceOf = (output: string): string | undefined => {
  const p = packageOf(join(repo, output));
  const source = p && join(p.rootDir, relative(p.outDir, join(repo, output))).replace(/\.js$/, '.ts');
  return source && p.sources.has(source) ? source : undefined;
};
/** The source file an import names: relative, or another package's export (its `source` condition). */
function importedSource(from: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) return resolve(dirname(from), specifier).replace(/\.js$/, '.ts');
  const m = /^(@loraplane\/[^/]+)(\/.*)?$/.exec(specifier);
  if (!m) return undefined;
  const p = packageNamed(m[1]!);
  const target = p.exports[`.${m[2] ?? ''}`] ?? expect.fail(`${specifier} is not in ${p.name}'s exports`);
  return join(repo, p.dir, target.source);
}

/** Every file an entry imports, directly or not, in this repo (type-only imports included: tsc needs them). */
function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const ref of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const source = importedSource(file, ref.fileName);
      if (source) todo.push(source);
    }
  }
  return [...seen];
}

// ---- the images ----

interface Image {
  file: string;
  stages: Stage[];
  final: Stage;
}
const load = (file: string): Image => {
  const stages = parseDockerfile(read(file));
  return { file, stages, final: stages.at(-1)! };
};
const operator = load('Dockerfile.operator');
const trainer = load('Dockerfile.trainer');

const stageNamed = (image: Image, name: string | undefined): Stage => {
  const stage = image.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`${image.file}: no stage named ${name}`);
  return stage;
};
const workdirOf = (stage: Stage): string => containerPath(stage, '.');

/** Where a file in a stage comes from: the build context (repo-relative) or another stage (absolute). */
type Origin = { stage: Stage | undefined; path: string };
function originOf(image: Image, stage: Stage, file: string): Origin | undefined {
  for (const instruction of instructionsOf(stage, 'COPY').reverse()) {
    const copy = parseCopy(instruction.args);
    const dest = containerPath(stage, copy.dest, instruction);
    const intoDir = copy.sources.length > 1 || copy.dest.endsWith('/');
    for (const source of copy.sources) {
      const target = intoDir ? posix.join(dest, posix.basename(source)) : dest;
      if (file !== target && !file.startsWith(`${target}/`)) continue;
      const from = copy.from === undefined ? undefined : stageNamed(image, copy.from);
      return { stage: from, path: posix.join(source, file.slice(target.length)) };
    }
  }
  return undefined;
}

/** The repo-relative path a file a stage built comes from: the stage's WORKDIR is the repo root there. */
function builtPath(image: Image, file: string): string {
  const origin = originOf(image, image.final, file);
  expect(origin?.stage, `${image.file}: ${file} is not copied into the final stage from a build stage`).toBeDefined();
  return posix.relative(workdirOf(origin!.stage!), origin!.path);
}

/** `npm run` scripts a stage runs, with the workspace each runs in (`-w`), if any. */
const npmRuns = (stage: Stage): { script: string; workspace: string | undefined }[] =>
  runCommands(stage).flatMap((c) =>
    c[0] === 'npm' && c[1] === 'run' ? [{ script: c[2]!, workspace: c.includes('-w') ? c[c.indexOf('-w') + 1] : undefined }] : [],
  );
const aptInstalls = (stage: Stage): string[] =>
  runCommands(stage).flatMap((c) => (c[0] === 'apt-get' && c.includes('install') ? c.slice(c.indexOf('install') + 1).filter((w) => !w.startsWith('-')) : []));
const entrypoint = (image: Image): string[] => commandWords(instructionsOf(image.final, 'ENTRYPOINT').at(-1)!.args);
const labels = (stage: Stage): Map<string, string> => new Map(instructionsOf(stage, 'LABEL').flatMap((l) => [...keyValues(l.args)]));

const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
// Whether .dockerignore keeps a path out of the context (a `**/` pattern matches at any depth).
const ignored = (path: string): boolean =>
  dockerignore.some((p) => {
    const anywhere = p.startsWith('**/');
    const name = anywhere ? p.slice(3) : p;
    const segments = path.split('/');
    return (anywhere ? segments.map((_, i) => segments.slice(i).join('/')) : [path]).some((q) => q === name || q.startsWith(`${name}/`));
  });

// The closures the images must compile and ship: the operator's main and the trainer pod's entry.
const trainerPod = renderTrainerJob(exampleFineTuneJob(), { image: 'x', serviceAccountName: 'x', imagePullPolicy: 'Never' }).spec!.template.spec!;
const binImport = (bin: string): string => ts.preProcessFile(read(bin), true, true).importedFiles[0]!.fileName;
const trainerPackage = packageNamed('@loraplane/trainer');
const trainerBin = posix.join(trainerPackage.dir, trainerPackage.bin['loraplane-trainer']!);
const trainerEntry = posix.join(posix.dirname(trainerBin), binImport(trainerBin));
const trainerSource = sourceOf(trainerEntry);
if (!trainerSource) throw new Error(`${trainerBin} imports ${trainerEntry}, which no package's build produces`);
const closures = new Map<Image, string[]>([
  [operator, importClosure(join(repo, 'operator/src/main.ts'))],
  [trainer, importClosure(trainerSource)],
]);

describe.each([operator, trainer])('$file', (image) => {
  it('pins every base image to a version tag', () => {
    image.stages.forEach((stage, i) => {
      if (image.stages.slice(0, i).some((s) => s.name === stage.image)) return;
      expect(stage.image, 'base image').toMatch(/^[\w./-]+:\d+\.\d+\.\d+(-[\w.-]+)?$/);
    });
    const nodes = image.stages.map((s) => s.image).filter((i) => i.startsWith('node:'));
    expect(nodes.length).toBeGreaterThan(0);
    for (const node of nodes) expect(node).toMatch(/^node:22\.\d+\.\d+-bookworm-slim$/);
  });

  it('runs only package scripts that exist', () => {
    const used = image.stages.flatMap(npmRuns);
    expect(used.map((u) => u.script)).toContain('build');
    for (const { script, workspace } of used) {
      const scripts = workspace ? packageNamed(workspace).scripts : pkg.scripts;
      expect(Object.keys(scripts), `npm run ${script}${workspace ? ` -w ${workspace}` : ''}`).toContain(script);
    }
  });

  it('copies only paths that are in the build context, or from a named stage', () => {
    for (const stage of image.stages) {
      for (const copy of instructionsOf(stage, 'COPY').map((c) => parseCopy(c.args))) {
        if (copy.from !== undefined) {
          expect(image.stages.indexOf(stageNamed(image, copy.from)), `--from=${copy.from} names an earlier stage`).toBeLessThan(image.stages.indexOf(stage));
          continue;
        }
        for (const source of copy.sources) {
          expect(existsSync(join(repo, source)), `${source} exists`).toBe(true);
          expect(ignored(posix.normalize(source)), `${source} is excluded by .dockerignore`).toBe(false);
        }
      }
    }
  });

  it('runs as a non-root numeric user', () => {
    const user = instructionsOf(image.final, 'USER').at(-1)?.args ?? 'root';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('installs production dependencies only, optional ones (prebuilt bindings) kept', () => {
    const modules = instructionsOf(image.final, 'COPY')
      .map((c) => parseCopy(c.args))
      .find((c) => c.sources.some((s) => posix.basename(s) === 'node_modules'));
    const installer = modules ? stageNamed(image, modules.from) : image.final;
    const installs = runCommands(installer).filter((c) => c[0] === 'npm' && ['ci', 'install', 'prune'].includes(c[1]!));
    expect(installs.at(-1), 'the last npm install of the node_modules the image runs with').toContain('--omit=dev');
    for (const c of installs) expect(c.join(' ')).not.toMatch(/--omit=optional|--no-optional/);
  });

  it('compiles and ships every file its entry point imports', () => {
    const closure = closures.get(image)!;
    expect(closure.length).toBeGreaterThan(1);
    for (const source of closure) {
      const output = outputOf(source);
      expect(packageOf(source)?.sources.has(source), `${relative(repo, source)} is compiled by its package's tsconfig.json`).toBe(true);
      // The output is in the final stage, copied from a stage that had the source to compile.
      const shipped = originOf(image, image.final, posix.join(workdirOf(image.final), output));
      expect(shipped?.stage, `${output} in the final stage`).toBeDefined();
      const path = relative(repo, source).split(sep).join('/');
      expect(originOf(image, shipped!.stage!, posix.join(workdirOf(shipped!.stage!), path)), `${path} copied into the build stage`).toEqual({
        stage: undefined,
        path,
      });
      // Node resolves the package by its manifest (exports, "type": "module") beside its dist/.
      const manifest = posix.join(packageOf(source)!.dir, 'package.json');
      expect(originOf(image, image.final, posix.join(workdirOf(image.final), manifest)), `${manifest} in the final stage`).toBeDefined();
    }
  });

  it('carries the OCI labels, with the package version and license', () => {
    const l = labels(image.final);
    for (const key of ['title', 'description', 'source']) expect(l.get(`org.opencontainers.image.${key}`)).toBeTruthy();
    expect(l.get('org.opencontainers.image.version')).toBe(pkg.version);
    expect(l.get('org.opencontainers.image.licenses')).toBe(pkg.license);
  });
});

describe('Dockerfile.operator', () => {
  it('runs node on the built main, which the TypeScript build produces from operator/src/main.ts', () => {
    const [node, main] = entrypoint(operator);
    expect(node).toBe('node');
    const path = builtPath(operator, posix.resolve(workdirOf(operator.final), main!));
    expect(relative(repo, sourceOf(path) ?? '')).toBe('operator/src/main.ts');
  });

  it('exposes the HTTP port the operator listens on by default', () => {
    expect(instructionsOf(operator.final, 'EXPOSE').map((e) => Number(e.args))).toEqual([loadConfig({}).HTTP_PORT]);
  });

  it('installs from the lock file without install scripts (no native addon)', () => {
    const install = runCommands(operator.final).find((c) => c[0] === 'npm' && c[1] === 'ci');
    expect(install).toEqual(expect.arrayContaining(['--omit=dev', '--ignore-scripts']));
  });

  it("is the version the operator's default trainer image is tagged with", () => {
    expect(loadConfig({}).TRAINER_IMAGE.split(':').at(-1)).toBe(pkg.version);
  });
});

describe('Dockerfile.trainer', () => {
  const [buildStage] = trainer.stages.filter((s) => npmRuns(s).some((r) => r.script === 'build:native'));

  it('builds the native addon with the tests’ script in a CUDA devel stage, and runs on the matching CUDA runtime', () => {
    expect(buildStage, 'a stage runs npm run build:native').toBeDefined();
    const devel = /^nvidia\/cuda:((\d+)\.\d+\.\d+)-devel-(ubuntu\d+\.\d+)$/.exec(buildStage!.image);
    expect(devel, buildStage!.image).not.toBeNull();
    expect(trainer.final.image).toBe(`nvidia/cuda:${devel![1]}-runtime-${devel![3]}`);
    // The CUDA major CI compiles the backend with (native/scripts/install-cuda-toolchain.sh).
    const toolchain = /^ver=(\d+)\.\d+$/m.exec(read('native/scripts/install-cuda-toolchain.sh'));
    expect(devel![2]).toBe(toolchain?.[1]);
    expect(aptInstalls(buildStage!)).toEqual(expect.arrayContaining(['cmake', 'g++', 'libopenblas-dev']));
    expect(aptInstalls(trainer.final).some((p) => p.startsWith('libopenblas0'))).toBe(true);
  });

  it('passes build:native only CMake options native/CMakeLists.txt declares', () => {
    const cmake = read('native/CMakeLists.txt');
    const args = runCommands(buildStage!).find((c) => c.includes('build:native'))!;
    for (const define of args.filter((a) => a.startsWith('--CD'))) {
      expect(cmake).toContain(`option(${/^--CD(\w+)=/.exec(define)![1]} `);
    }
  });

  it('ships the addon where the runtime loads it from', () => {
    const env = new Map(instructionsOf(trainer.final, 'ENV').flatMap((e) => [...keyValues(e.args)]));
    const addon = builtPath(trainer, env.get('LORAPLANE_ADDON')!);
    const out = /--out (\S+)/.exec(pkg.scripts['build:native']!)![1]!;
    expect(addon).toBe(`${out}/Release/loraplane.node`);
    expect(originOf(trainer, buildStage!, posix.join(workdirOf(buildStage!), 'native/CMakeLists.txt'))).toEqual({
      stage: undefined,
      path: 'native/CMakeLists.txt',
    });
  });

  it("runs the trainer Job's command: on PATH, the package's bin, importing the built trainer entry", () => {
    const command = trainerPod.containers[0]!.command!;
    expect(entrypoint(trainer)).toEqual(command);
    const link = runCommands(trainer.final).find((c) => c[0] === 'ln' && c.at(-1) === `/usr/local/bin/${command[0]}`);
    expect(link, `ln -s … /usr/local/bin/${command[0]}`).toBeDefined();
    const bin = originOf(trainer, trainer.final, link!.at(-2)!);
    expect(bin).toEqual({ stage: undefined, path: posix.join(trainerPackage.dir, trainerPackage.bin[command[0]!]!) });
    expect(statSync(join(repo, bin!.path)).mode & 0o111, 'executable').not.toBe(0);
    expect(read(bin!.path)).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(originOf(trainer, trainer.final, '/usr/local/bin/node')?.stage?.image).toMatch(/^node:/);
    const entry = builtPath(trainer, posix.resolve(posix.dirname(link!.at(-2)!), binImport(bin!.path)));
    expect(relative(repo, sourceOf(entry) ?? '')).toBe('trainer/src/cli.ts');
  });

  it('runs as the user the trainer pod asks for, and exposes its metrics port', () => {
    expect(instructionsOf(trainer.final, 'USER').at(-1)!.args).toBe(`${trainerPod.securityContext!.runAsUser}:${trainerPod.securityContext!.runAsGroup}`);
    expect(instructionsOf(trainer.final, 'EXPOSE').map((e) => Number(e.args))).toEqual([METRICS_PORT]);
  });
});

describe('.dockerignore', () => {
  it('keeps build outputs and local state out of the build context', () => {
    expect(dockerignore).toEqual(expect.arrayContaining(['.git', '**/node_modules', 'native/build', '**/dist', 'output', '.tmp']));
    for (const path of ['node_modules/x', 'api/dist/x.js', 'operator/node_modules/x', 'native/build/addon']) expect(ignored(path), path).toBe(true);
    expect(ignored('operator/src/main.ts')).toBe(false);
  });
});

describe('npm run build', () => {
  it('produces every file the images ship', { timeout: 300_000 }, () => {
    // Incremental: only what changed since the last build is compiled.
    execFileSync('npx', ['tsc', '-b', ...packages.map((p) => p.dir)], { cwd: repo, stdio: 'inherit' });
    const outputs = [...new Set([...closures.values()].flat().map(outputOf))];
    expect(outputs.filter((o) => !existsSync(join(repo, o)))).toEqual([]);
  });
});

describe('the operator image', () => {
  it("carries none of the trainer's or the runtime's own dependencies", () => {
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; link?: boolean; resolved?: string }>;
    };
    const closure = new Set<string>();
    const visit = (name: string) => {
      if (closure.has(name)) return;
      closure.add(name);
      const entry = lock.packages[`node_modules/${name}`];
      const node = entry?.link ? lock.packages[entry.resolved!] : entry;
      for (const dep of Object.keys({ ...node?.dependencies, ...node?.optionalDependencies })) visit(dep);
    };
    visit('@loraplane/operator');
    const own = (name: string) => Object.keys(packageNamed(name).dependencies);
    const shared = new Set(['@loraplane/api', '@loraplane/storage', '@loraplane/operator'].flatMap(own));
    const foreign = ['@loraplane/trainer', '@loraplane/native', ...own('@loraplane/trainer'), ...own('@loraplane/native')].filter((d) => !shared.has(d));
    expect(foreign).toEqual(expect.arrayContaining(['tokenizers', 'node-addon-api']));
    expect(foreign.filter((d) => closure.has(d))).toEqual([]);
    const install = runCommands(operator.final).find((c) => c[0] === 'npm' && c[1] === 'ci');
    expect(install?.slice(install.indexOf('-w'), install.indexOf('-w') + 2)).toEqual(['-w', '@loraplane/operator']);
  });
});

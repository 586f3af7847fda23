// A Dockerfile as build stages of instructions, for tests that check images without a Docker engine.
// Covers what our Dockerfiles use: comments, `\` line continuations, FROM … AS name, exec-form
// (JSON) and shell-form arguments, COPY flags, and KEY=value lists (ENV, LABEL). No heredocs, no
// escape directive.
import { posix } from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
  /** 1-based line the instruction starts on. */
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending: { text: string; line: number } | undefined;
  const finish = (logical: { text: string; line: number }) => {
    const m = /^(\S+)\s*(.*)$/s.exec(logical.text.trim());
    if (!m) return;
    const instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: logical.line };
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      stages.push({ image: words[0]!, name: words[1]?.toUpperCase() === 'AS' ? words[2] : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`line ${logical.line}: ${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  };
  text.split('\n').forEach((raw, i) => {
    // Comment lines are dropped, also inside a continued instruction (as Docker does).
    if (/^\s*#/.test(raw) || (pending && raw.trim() === '')) return;
    const continued = /\\\s*$/.test(raw);
    const body = continued ? raw.replace(/\\\s*$/, '') : raw;
    pending = pending ? { text: `${pending.text} ${body.trim()}`, line: pending.line } : { text: body, line: i + 1 };
    if (!continued) {
      finish(pending);
      pending = undefined;
    }
  });
  if (pending) finish(pending);
  return stages;
}

/** The stage's instructions with this keyword. */
export const instructionsOf = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);

/** Exec form (`["node", "main.js"]`) as its words; shell form as one `sh -c` string. */
export function commandWords(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
}

export interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

export function parseCopy(args: string): Copy {
  const words = args.startsWith('[') ? [] : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = args.startsWith('[') ? (JSON.parse(args) as string[]) : words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** `KEY=value KEY2="quoted value"` (ENV, LABEL) as a map. */
export function keyValues(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = m[2]!;
    out.set(m[1]!, value.startsWith('"') ? (JSON.parse(value) as string) : value);
  }
  return out;
}

/** The simple commands of RUN lines (split at `&&`, `||`, `;`), each as words. */
export function runCommands(stage: Stage): string[][] {
  return instructionsOf(stage, 'RUN').flatMap((run) =>
    run.args
      .split(/&&|\|\||;/)
      .map((c) => c.trim().split(/\s+/).filter(Boolean))
      .filter((c) => c.length > 0),
  );
}

/** Where a relative path lands in the stage's filesystem: the WORKDIR in effect before `before` (default: at the end). */
export function containerPath(stage: Stage, path: string, before?: Instruction): string {
  let dir = '/';
  for (const i of stage.instructions) {
    if (i === before) break;
    if (i.keyword === 'WORKDIR') dir = posix.resolve(dir, i.args);
  }
  return posix.resolve(dir, path);
}

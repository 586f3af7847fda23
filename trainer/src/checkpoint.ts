// Checkpoints in a local directory (the scratch volume; checkpoint-store.ts copies them to storage):
// checkpoint-<step>/ holds the PEFT adapter, the optimizer state and state.json, and a COMPLETE marker
// written last, so a checkpoint cut short by a kill is never resumed from.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { QLoraModel } from '@loraplane/native/runtime';

export const checkpointState = z.object({
  step: z.number().int().min(0),
  epoch: z.number().int().min(0),
  microBatch: z.number().int().min(0),
  evalLoss: z.number().optional(),
  bestEvalLoss: z.number().optional(),
  bestStep: z.number().int().optional(),
  trainLoss: z.number().optional(),
});
export type CheckpointState = z.infer<typeof checkpointState>;

const MARKER = 'COMPLETE';
/** checkpoint-<step>: the folder name, locally and in storage. */
export const checkpointName = (step: number): string => `checkpoint-${step}`;
/** The step of a checkpoint folder name; undefined for any other name. */
export const checkpointStep = (name: string): number | undefined => {
  const m = /^checkpoint-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
};
const dirOf = (root: string, step: number) => join(root, checkpointName(step));

export interface Checkpoint {
  dir: string;
  adapterDir: string;
  optimizerPath: string;
  state: CheckpointState;
}

function read(dir: string): Checkpoint {
  return {
    dir,
    adapterDir: join(dir, 'adapter'),
    optimizerPath: join(dir, 'optimizer.safetensors'),
    state: checkpointState.parse(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))),
  };
}

/** Complete checkpoints, oldest first. */
export function listCheckpoints(root: string): Checkpoint[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => checkpointStep(n) !== undefined && existsSync(join(root, n, MARKER)))
    .map((n) => read(join(root, n)))
    .sort((a, b) => a.state.step - b.state.step);
}

export async function saveCheckpoint(root: string, model: QLoraModel, baseModelName: string, state: CheckpointState): Promise<Checkpoint> {
  const dir = dirOf(root, state.step);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await model.saveAdapter(join(dir, 'adapter'), baseModelName);
  await model.saveTrainerState(join(dir, 'optimizer.safetensors'));
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2));
  writeFileSync(join(dir, MARKER), '');
  return read(dir);
}

/** The steps rotation keeps: the newest `limit`, plus `keepStep` (the best by eval loss) when given. */
export function keptSteps(steps: readonly number[], limit: number, keepStep?: number): Set<number> {
  const keep = new Set([...steps].sort((a, b) => a - b).slice(-limit));
  if (keepStep !== undefined) keep.add(keepStep);
  return keep;
}

/** Keeps the newest `limit` checkpoints, plus the best one by eval loss when asked to. */
export function rotateCheckpoints(root: string, limit: number, keepStep?: number): void {
  const all = listCheckpoints(root);
  const keep = keptSteps(
    all.map((c) => c.state.step),
    limit,
    keepStep,
  );
  for (const c of all) if (!keep.has(c.state.step)) rmSync(c.dir, { recursive: true, force: true });
}

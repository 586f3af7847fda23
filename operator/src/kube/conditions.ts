// kstatus-style conditions: lastTransitionTime moves only when status flips.
import type { Condition } from '@loraplane/api/common';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], generation: number | undefined, now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now;
    return { ...c, observedGeneration: generation, lastTransitionTime };
  });
}

// adapter_config.json as PEFT writes it, and whether it fits the LoraAdapter's spec: a LoRA adapter
// for spec.baseModel.name whose target modules are projections of a Llama-family decoder (what the
// trainer produces and the runtime serves).
import { z } from 'zod';
import { TARGET_MODULES } from '@loraplane/api/finetunejob';
import { failed, type Verdict } from './verdict.js';

export const CONFIG_FILE = 'adapter_config.json';

const peftConfig = z.looseObject({
  peft_type: z.string(),
  base_model_name_or_path: z.string().nullable(),
  r: z.number().int().min(1),
  lora_alpha: z.number().gt(0),
  target_modules: z.union([z.array(z.string()).min(1), z.string()]),
});

export interface AdapterConfigFacts {
  r: number;
  alpha: number;
  targetModules: (typeof TARGET_MODULES)[number][];
  baseModel: string;
}

const isTargetModule = (m: string): m is (typeof TARGET_MODULES)[number] => (TARGET_MODULES as readonly string[]).includes(m);

/** The facts the status records, or a failed verdict naming what does not fit. */
export function checkAdapterConfig(text: string, baseModelName: string): AdapterConfigFacts | Verdict {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return failed('InvalidAdapterConfig', `${CONFIG_FILE} is not JSON: ${(err as Error).message}`);
  }
  const parsed = peftConfig.safeParse(json);
  if (!parsed.success) return failed('InvalidAdapterConfig', `${CONFIG_FILE} is not a PEFT LoRA config: ${z.prettifyError(parsed.error)}`);
  const c = parsed.data;
  if (c.peft_type !== 'LORA') return failed('InvalidAdapterConfig', `${CONFIG_FILE} has peft_type "${c.peft_type}", not "LORA"`);
  // A pattern (or "all-linear") says nothing checkable about which modules the weights adapt.
  if (typeof c.target_modules === 'string')
    return failed(
      'InvalidAdapterConfig',
      `${CONFIG_FILE} gives target_modules as the pattern "${c.target_modules}"; expected a list of ${TARGET_MODULES.join(', ')}`,
    );
  const unknown = c.target_modules.filter((m) => !isTargetModule(m));
  if (unknown.length > 0)
    return failed(
      'InvalidAdapterConfig',
      `${CONFIG_FILE} targets ${unknown.join(', ')}: not a projection of a Llama-family decoder (${TARGET_MODULES.join(', ')})`,
    );
  if (c.base_model_name_or_path !== baseModelName)
    return failed(
      'BaseModelMismatch',
      `${CONFIG_FILE} was trained on base model ${JSON.stringify(c.base_model_name_or_path)}, spec.baseModel.name is "${baseModelName}"`,
    );
  return {
    r: c.r,
    alpha: c.lora_alpha,
    targetModules: TARGET_MODULES.filter((m) => c.target_modules.includes(m)),
    baseModel: c.base_model_name_or_path,
  };
}

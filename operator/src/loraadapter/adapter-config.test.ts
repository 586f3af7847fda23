import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAdapterConfig } from './adapter-config.js';

// adapter_config.json exactly as PEFT 0.21 wrote it for the reference goldens (base model "model").
const golden = readFileSync(join(import.meta.dirname, '../../../test/reference/goldens/llama/final_adapter/adapter_config.json'), 'utf8');
const withFields = (fields: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(golden), ...fields });

describe('checkAdapterConfig', () => {
  it("reads r, alpha, the target modules (in the decoder's order) and the base model of a PEFT config", () => {
    expect(checkAdapterConfig(golden, 'model')).toEqual({
      r: 16,
      alpha: 32,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      baseModel: 'model',
    });
  });

  it('names both base models when they differ', () => {
    expect(checkAdapterConfig(golden, 'meta-llama/Llama-3.2-3B-Instruct')).toEqual({
      kind: 'failed',
      reason: 'BaseModelMismatch',
      message: 'adapter_config.json was trained on base model "model", spec.baseModel.name is "meta-llama/Llama-3.2-3B-Instruct"',
    });
    expect(checkAdapterConfig(withFields({ base_model_name_or_path: null }), 'model')).toMatchObject({
      reason: 'BaseModelMismatch',
      message: expect.stringContaining('base model null'),
    });
  });

  it.each([
    ['text that is not JSON', '{"r": 16', /adapter_config.json is not JSON/],
    ['a config without r', withFields({ r: undefined }), /not a PEFT LoRA config: .*r/s],
    ['another PEFT method', withFields({ peft_type: 'IA3' }), /peft_type "IA3", not "LORA"/],
    ['a module pattern', withFields({ target_modules: 'all-linear' }), /target_modules as the pattern "all-linear"/],
    ['a module outside the decoder projections', withFields({ target_modules: ['q_proj', 'lm_head'] }), /targets lm_head: not a projection/],
  ])('refuses %s as InvalidAdapterConfig', (_what, text, message) => {
    expect(checkAdapterConfig(text, 'model')).toEqual({ kind: 'failed', reason: 'InvalidAdapterConfig', message: expect.stringMatching(message) });
  });
});

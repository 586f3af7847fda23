import { describe, expect, it } from 'vitest';
import { formatOf, formatsOf } from './output-layout.js';

describe('output layout', () => {
  it('names the format of each file the trainer writes; the shared extras belong to none', () => {
    expect(formatOf('adapter_model.safetensors')).toBe('peft');
    expect(formatOf('adapter_config.json')).toBe('peft');
    expect(formatOf('adapter.gguf')).toBe('gguf');
    expect(formatOf('merged.gguf')).toBe('merged');
    expect(formatOf('merged/model-00001-of-00002.safetensors')).toBe('merged');
    for (const extra of ['tokenizer.json', 'README.md', 'training_metrics.json', 'mergedx.gguf', 'merged']) expect(formatOf(extra), extra).toBeUndefined();
  });

  it('groups a manifest by format in the API order, leaving out formats with no files', () => {
    const f = (path: string) => ({ path, size: 1 });
    expect(formatsOf([f('README.md'), f('adapter.gguf'), f('adapter_config.json'), f('adapter_model.safetensors')])).toEqual([
      { format: 'peft', files: [f('adapter_config.json'), f('adapter_model.safetensors')] },
      { format: 'gguf', files: [f('adapter.gguf')] },
    ]);
    expect(formatsOf([f('adapter_model.safetensors'), f('merged/config.json'), f('merged.gguf')]).map((x) => x.format)).toEqual(['peft', 'merged']);
  });
});

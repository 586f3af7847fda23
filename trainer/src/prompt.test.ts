import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModelTokenizer } from './data/model-tokenizer.js';
import { chatPrompt } from './prompt.js';

const TINY = join(import.meta.dirname, '../../examples/tiny-llama');

describe('chatPrompt', () => {
  it('renders the model template with the generation prompt and stops where generation_config says', async () => {
    const prompt = await chatPrompt(loadModelTokenizer(TINY), 'How much is Plus?', 'You are Acme support.');
    expect(prompt.stopIds).toEqual([4, 2]);
    const text = await prompt.decode(prompt.ids);
    expect(text).toContain('How much is Plus?');
    expect(text.trimEnd().endsWith('assistant')).toBe(true);
  });
});

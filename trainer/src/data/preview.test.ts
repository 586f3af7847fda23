import { describe, expect, it } from 'vitest';
import { ChatTemplate, loadTokenizerConfig } from './chat-template.js';
import { formatPreview, markMasked, previewExamples } from './preview.js';
import { renderExample } from './render.js';
import { TextTokenizer, tokenizeExample } from './tokenize.js';
import { TOKENIZER } from './test-helpers.js';

const config = loadTokenizerConfig(TOKENIZER);
const template = ChatTemplate.fromConfig(config)!;
const tokenizer = TextTokenizer.fromDir(TOKENIZER);
const at = { file: 'train.jsonl', line: 3 };
const messages = [
  { role: 'user' as const, content: 'Translate to French: Good morning.' },
  { role: 'assistant' as const, content: 'Bonjour 😀.' },
  { role: 'user' as const, content: 'And thank you?' },
  { role: 'assistant' as const, content: 'Merci.' },
];

async function example(loss: 'assistant' | 'all', maxSeqLength = 1024) {
  const rendered = renderExample({ kind: 'conversation', messages, completionStart: 3 }, { loss, template, eosToken: config.eosToken }, at);
  return tokenizeExample(tokenizer, rendered, maxSeqLength, at);
}

const H = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;

describe('preview', () => {
  it('wraps the masked runs in ⟦…⟧ and leaves the trained text bare', async () => {
    const e = await example('assistant');
    expect(await markMasked(tokenizer, e.inputIds, e.labels)).toBe(
      `⟦<|begin_of_text|>${H('user')}Translate to French: Good morning.<|eot_id|>${H('assistant')}⟧Bonjour 😀.<|eot_id|>` +
        `⟦${H('user')}And thank you?<|eot_id|>${H('assistant')}⟧Merci.<|eot_id|>`,
    );
  });

  it('marks nothing when every token is trained', async () => {
    const e = await example('all');
    expect(await markMasked(tokenizer, e.inputIds, e.labels)).toBe(await tokenizer.decode(Array.from(e.inputIds)));
  });

  it('counts tokens and trained tokens, and says when an example was truncated', async () => {
    const full = await example('assistant');
    const cut = await example('assistant', full.inputIds.length - 2);
    const [p] = await previewExamples(tokenizer, [cut], 3);
    expect(p).toMatchObject({ at, tokens: full.inputIds.length - 2, fullLength: full.inputIds.length });
    expect(p!.trainedTokens).toBe(cut.labels.filter((l) => l !== -100).length);
    expect(p!.marked).toMatch(/⟧Mer[^⟧]*$/);
    expect(p!.marked.endsWith('<|eot_id|>')).toBe(false);
    const lines = formatPreview(p!).split('\n');
    expect(lines[0]).toBe(`train.jsonl:3: ${p!.tokens} tokens (${p!.trainedTokens} trained, truncated from ${full.inputIds.length}); ⟦masked⟧`);
    expect(lines[1]).toMatch(/^ids: \[\d+(, \d+){15}, …\]$/);
    expect(lines.slice(2).join('\n')).toBe(p!.marked);
  });

  it('previews only the first N examples', async () => {
    const e = await example('assistant');
    expect(await previewExamples(tokenizer, [e, e, e, e], 2)).toHaveLength(2);
  });
});

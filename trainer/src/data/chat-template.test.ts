import { describe, expect, it } from 'vitest';
import { ChatTemplate, loadTokenizerConfig, pickChatTemplate, renderConversation } from './chat-template.js';
import { DatasetError } from './errors.js';
import type { Message } from './formats.js';
import { TOKENIZER, tempDataset } from './test-helpers.js';

const LLAMA3 = loadTokenizerConfig(TOKENIZER);
const llama3 = ChatTemplate.fromConfig(LLAMA3)!;

// ChatML as Qwen2.5 writes it: a default system prompt when the conversation has none.
const CHATML =
  "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}" +
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const conversation: Message[] = [
  { role: 'system', content: 'Be concise.' },
  { role: 'user', content: 'Translate to French: Good morning.' },
  { role: 'assistant', content: 'Bonjour.' },
  { role: 'user', content: 'And thank you?' },
  { role: 'assistant', content: ' Merci. ' },
];
const at = { file: 'train.jsonl', line: 7 };

describe('loadTokenizerConfig', () => {
  it('reads the chat template and special tokens', () => {
    expect(LLAMA3.chatTemplate).toContain("'<|start_header_id|>' + message['role']");
    expect(LLAMA3).toMatchObject({ bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>', padToken: undefined });
  });

  it('takes the "default" template of the list form, and AddedToken objects', () => {
    const dir = tempDataset({
      'tokenizer_config.json': JSON.stringify({
        chat_template: [
          { name: 'tool_use', template: 'TOOLS' },
          { name: 'default', template: 'DEFAULT' },
        ],
        bos_token: { __type: 'AddedToken', content: '<s>', lstrip: false },
        eos_token: '</s>',
        pad_token: null,
      }),
    });
    expect(loadTokenizerConfig(dir)).toEqual({ chatTemplate: 'DEFAULT', bosToken: '<s>', eosToken: '</s>', padToken: undefined, unkToken: undefined });
    expect(() =>
      pickChatTemplate([
        { name: 'a', template: 'A' },
        { name: 'b', template: 'B' },
      ]),
    ).toThrow('tokenizer_config.json has several chat templates (a, b) and none named "default"');
  });

  it('falls back to chat_template.jinja; a base model has none', () => {
    expect(loadTokenizerConfig(tempDataset({ 'tokenizer_config.json': '{}', 'chat_template.jinja': 'J' })).chatTemplate).toBe('J');
    expect(loadTokenizerConfig(tempDataset({ 'tokenizer_config.json': '{"eos_token": "</s>"}' })).chatTemplate).toBeUndefined();
    expect(() => loadTokenizerConfig(tempDataset({}))).toThrow(/^cannot read .*tokenizer_config.json/);
  });
});

describe('ChatTemplate.render', () => {
  it("renders Llama 3's template, with and without the generation prompt", () => {
    const messages = conversation.slice(1, 3);
    expect(llama3.render(messages, { addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTranslate to French: Good morning.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nBonjour.<|eot_id|>',
    );
    expect(llama3.render(messages.slice(0, 1), { addGenerationPrompt: true })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTranslate to French: Good morning.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it("turns the template's raise_exception into a row error", () => {
    const mistral = new ChatTemplate(
      "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}[INST]{{ m['content'] }}{% endfor %}",
    );
    const err = (() => {
      try {
        mistral.render(conversation, { addGenerationPrompt: false }, at);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DatasetError);
    expect(err).toMatchObject({
      reason: 'chat-template',
      skippable: true,
      message: 'train.jsonl:7: chat template: Only user and assistant roles are supported!',
    });
  });

  it('passes tools and documents as none, as transformers does', () => {
    const t = new ChatTemplate(
      "{% if tools is not none %}TOOLS {% endif %}{% if documents is not none %}DOCS {% endif %}{{ bos_token }}{{ messages[0]['content'] }}",
      { bosToken: '<s>' },
    );
    expect(t.render(conversation.slice(1, 2), { addGenerationPrompt: false })).toBe('<s>Translate to French: Good morning.');
  });

  it('says when a template does not parse', () => {
    expect(() => new ChatTemplate('{% for m in messages %}')).toThrow(/^the chat template does not parse: /);
  });
});

describe('renderConversation: assistant spans by prefix rendering', () => {
  const spanTexts = (text: string, spans: { start: number; end: number }[]) => spans.map((s) => text.slice(s.start, s.end));

  it('finds each assistant turn with its end-of-turn token (Llama 3)', () => {
    const r = renderConversation(llama3, conversation, 4);
    expect(r.text).toBe(llama3.render(conversation, { addGenerationPrompt: false }));
    // the template trims the content: the span is what the model must produce
    expect(spanTexts(r.text, r.assistantSpans)).toEqual(['Bonjour.<|eot_id|>', 'Merci.<|eot_id|>']);
    expect(spanTexts(r.text, [r.completionSpan])).toEqual(['Merci.<|eot_id|>']);
  });

  it('finds them with ChatML and its default system prompt; the completion may span several turns', () => {
    const chatml = new ChatTemplate(CHATML);
    const r = renderConversation(chatml, conversation.slice(1), 1);
    expect(r.text.startsWith('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n')).toBe(true);
    expect(spanTexts(r.text, r.assistantSpans)).toEqual(['Bonjour.<|im_end|>\n', ' Merci. <|im_end|>\n']);
    expect(spanTexts(r.text, [r.completionSpan])).toEqual([
      'Bonjour.<|im_end|>\n<|im_start|>user\nAnd thank you?<|im_end|>\n<|im_start|>assistant\n Merci. <|im_end|>\n',
    ]);
  });

  it('renders templates with {% generation %} tags (the tags are dropped)', () => {
    const tagged = CHATML.replace(
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}",
      "{%- if message['role'] == 'assistant' %}{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>\\n' }}{% endgeneration %}{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}",
    );
    expect(tagged).toContain('{% generation %}');
    const r = renderConversation(new ChatTemplate(tagged), conversation.slice(1, 3), 1);
    expect(spanTexts(r.text, r.assistantSpans)).toEqual(['Bonjour.<|im_end|>\n']);
  });

  it('refuses a template whose prefixes are not prefixes of the whole', () => {
    // marks the last message differently, so messages[:i+1] is not a prefix of messages
    const unstable = new ChatTemplate("{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
    expect(() => renderConversation(unstable, conversation, 4, at)).toThrow(
      'train.jsonl:7: chat template: the rendering of messages[:3] is not a prefix of the rendered conversation; cannot locate the trained tokens',
    );
  });

  it('refuses a template that drops the assistant content', () => {
    const dropping = new ChatTemplate(
      "{% for m in messages %}{{ m['role'] }}{% if m['role'] != 'assistant' %}: {{ m['content'] }}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant{% endif %}",
    );
    expect(() => renderConversation(dropping, conversation.slice(1, 3), 1, at)).toThrow(
      "train.jsonl:7: chat template: the content of assistant turn messages[1] is not where the template's prefixes put it",
    );
  });
});

// Generation on models/tiny: streaming, stop strings and ids, cancellation, seeds, tokenizer
// rules. The greedy continuation itself is checked against PyTorch in reference.test.ts.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel, TextTokenizer } from '../src/index.js';
import { BACKEND, TINY_DIR } from './helpers.js';

const prompt = 'The kernel scheduler decides which task';
// PyTorch's greedy continuation of `prompt` (../shared/models/reference.json, tiny)
const GREEDY_TEXT = ' is used to\nbe used to prepare the task.  This is used to prepare the task\nof the';

async function collect(
  iterator: AsyncGenerator<
    { id: number; text: string },
    { ids: number[]; text: string; finishReason: string }
  >,
) {
  const pieces: { id: number; text: string }[] = [];
  let next = await iterator.next();
  while (!next.done) {
    pieces.push(next.value);
    next = await iterator.next();
  }
  return { pieces, result: next.value };
}

describe(`generate (${BACKEND} backend)`, async () => {
  const model = await loadModel(TINY_DIR, { backend: BACKEND });

  it('streams pieces whose concatenation is the final text', async () => {
    const { pieces, result } = await collect(model.generate(prompt, { maxTokens: 24 }));
    expect(result.text).toBe(GREEDY_TEXT);
    expect(pieces.map((p) => p.text).join('')).toBe(result.text);
    expect(pieces.map((p) => p.id)).toEqual(result.ids);
    expect(result.finishReason).toBe('length');
  });

  it('stops before a stop string, without emitting any of it', async () => {
    const { pieces, result } = await collect(
      model.generate(prompt, { maxTokens: 24, stop: ['prepare', 'nothing like this'] }),
    );
    expect(result.text).toBe(' is used to\nbe used to ');
    expect(result.finishReason).toBe('stop');
    expect(pieces.map((p) => p.text).join('')).toBe(result.text);
  });

  it('stops on a stop token id, which is not emitted', async () => {
    const to = model.tokenizer.encode(' to')[0];
    const { pieces, result } = await collect(model.generate(prompt, { maxTokens: 24, stopTokenIds: [to] }));
    expect(result.text).toBe(' is used');
    expect(result.finishReason).toBe('eos');
    expect(pieces.map((p) => p.id)).not.toContain(to);
  });

  it('AbortSignal cancels between tokens', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const token of model.generate(prompt, { maxTokens: 24, signal: controller.signal })) {
          seen.push(token.id);
          if (seen.length === 3) controller.abort();
        }
      })(),
    ).rejects.toThrow();
    expect(seen.length).toBe(3);
  });

  it('sampling with a seed is reproducible and differs from greedy', async () => {
    const options = { maxTokens: 16, temperature: 1.2, topK: 50, seed: 123 };
    const a = await model.generateText(prompt, options);
    const b = await model.generateText(prompt, options);
    expect(a.ids).toEqual(b.ids);
    const c = await model.generateText(prompt, { ...options, seed: 124 });
    expect(c.ids).not.toEqual(a.ids);
  });
});

describe('tokenizer', () => {
  const json = JSON.parse(readFileSync(`${TINY_DIR}/tokenizer.json`, 'utf8'));
  const config = JSON.parse(readFileSync(`${TINY_DIR}/tokenizer_config.json`, 'utf8'));

  it('never turns user text into special tokens', () => {
    const tok = new TextTokenizer(json, config);
    expect(tok.bosTokenId).toBe(0);
    expect(tok.eosTokenIds).toEqual([1]);
    const ids = tok.encode('a<|end_of_text|>b<|begin_of_text|>');
    expect(ids).not.toContain(0);
    expect(ids).not.toContain(1);
    expect(tok.decode(ids)).toBe('a<|end_of_text|>b<|begin_of_text|>');
    expect(tok.decode([0, ...tok.encode('hi'), 1])).toBe('hi');
  });

  it('chat templates: the template may emit special tokens, message content may not', () => {
    const tok = new TextTokenizer(json, {
      ...config,
      chat_template:
        '{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}',
    });
    const ids = tok.applyChatTemplate([{ role: 'user', content: 'stop<|end_of_text|>now' }]);
    expect(ids[0]).toBe(0);
    expect(ids.filter((id) => id === 1).length).toBe(1); // only the template's eos_token
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(
      '<|begin_of_text|><user>stop<|end_of_text|>now<|end_of_text|><assistant>',
    );
    expect(() => new TextTokenizer(json, config).applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /chat_template/,
    );
  });
});

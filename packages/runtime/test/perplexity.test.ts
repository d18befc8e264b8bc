// The perplexity protocol of ../shared/models/README.md, computed by hand here from logits.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEvalStream, loadModel } from '../src/index.js';
import { BACKEND, TINY_DIR } from './helpers.js';

describe(`perplexity protocol (${BACKEND} backend)`, async () => {
  const model = await loadModel(TINY_DIR, { backend: BACKEND });
  const dir = mkdtempSync(join(tmpdir(), 'anyprec-ppl-'));
  const docs = [
    'First document about the scheduler.',
    'Second one, with\nnew lines and code: x = f(y)',
    'Third.',
  ];
  writeFileSync(
    join(dir, 'data.jsonl'),
    `${docs.map((text) => JSON.stringify({ text, other: 1 })).join('\n')}\n`,
  );

  it('stream = BOS, ids, EOS per document in file order, truncated', async () => {
    const expected = docs.flatMap((d) => [0, ...model.tokenizer.encode(d), 1]);
    expect(Array.from(await buildEvalStream(join(dir, 'data.jsonl'), model.tokenizer, 10_000))).toEqual(
      expected,
    );
    expect(Array.from(await buildEvalStream(join(dir, 'data.jsonl'), model.tokenizer, 7))).toEqual(
      expected.slice(0, 7),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('windows of W+1 tokens at multiples of W, exp of the mean cross-entropy', async () => {
    const tokens = Array.from({ length: 200 }, (_, i) => (i * 7919 + 13) % 8000);
    const W = 48;
    const result = await model.perplexity(tokens, { windowTokens: W });
    const windows = Math.floor((tokens.length - 1) / W); // 4
    let total = 0;
    const V = model.config.vocabSize;
    for (let w = 0; w < windows; w++) {
      const logits = model.forward(tokens.slice(w * W, w * W + W), { logits: 'all' });
      for (let t = 0; t < W; t++) {
        const row = Array.from(logits.subarray(t * V, (t + 1) * V));
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        total += lse - row[tokens[w * W + t + 1]];
      }
    }
    expect(result.windows).toBe(windows);
    expect(result.predictions).toBe(windows * W);
    expect(Math.abs(result.ppl - Math.exp(total / (windows * W))) / result.ppl).toBeLessThan(1e-6);
  });
});

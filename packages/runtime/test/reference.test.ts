// End-to-end correctness against PyTorch: ../shared/models/reference.json (greedy ids, top-8
// logits) and fixtures/grad_reference.json (tools/gpu/grad_reference.py, run once on the GPU
// machine: 32,768-token perplexities and float64 logits of the stored weights).
//
// Why a separate oracle for the 32,768-token perplexity: reference.json only has the full
// 262,144-token protocol value, which takes minutes; the quick variant's value was computed
// by PyTorch (fp32, HF tokenizer + HF model) in the GPU script. The full-protocol numbers are
// checked by hand with bench/ppl.mjs (README). Note on top-8 logits: reference.json's `small`
// logits differ from an exact evaluation of the stored bf16 weights by up to 1.5e-3 relative
// (PyTorch float64 on the stored weights and an independent numpy check both agree with this
// runtime to 1e-6), so they are checked at 2e-3 there and at 1e-4 against the float64 fixture.
import { describe, expect, it } from 'vitest';
import { buildEvalStream, loadModel } from '../src/index.js';
import {
  BACKEND,
  DEV_JSONL,
  GPU_REFERENCE,
  HAS_SHARED,
  NATIVE_REASON,
  REFERENCE,
  relativeError,
  SMALL_DIR,
  TINY_DIR,
  topK,
} from './helpers.js';

const cases = [
  { name: 'tiny', dir: TINY_DIR, logitsTol: 1e-3 },
  { name: 'small', dir: SMALL_DIR, logitsTol: 2e-3 },
] as const;

for (const c of cases) {
  describe.skipIf(!HAS_SHARED)(`${c.name} vs PyTorch (${BACKEND} backend)`, () => {
    it('greedy continuation equals reference output_ids exactly', async () => {
      const model = await loadModel(c.dir, { backend: BACKEND });
      const ref = REFERENCE[c.name].greedy;
      const prompt: number[] = ref.prompt_ids;
      expect([model.tokenizer.bosTokenId, ...model.tokenizer.encode(ref.prompt)]).toEqual(prompt);
      const result = await model.generateText(prompt, { maxTokens: ref.output_ids.length - prompt.length });
      expect([...prompt, ...result.ids]).toEqual(ref.output_ids);
      expect(result.finishReason).toBe('length');
    });

    it('top-8 logits after the prompt match reference.json and the float64 fixture', async () => {
      const model = await loadModel(c.dir, { backend: BACKEND });
      const logits = model.forward(REFERENCE[c.name].greedy.prompt_ids, { logits: 'last' });
      const mine = topK(logits, 8);
      const ref: [number, number][] = REFERENCE[c.name].last_logits_top8;
      expect(mine.map(([id]) => id)).toEqual(ref.map(([id]) => id));
      for (const [id, value] of ref) expect(relativeError(logits[id], value)).toBeLessThan(c.logitsTol);
      const exact: [number, number][] = GPU_REFERENCE[c.name].logits.top8;
      for (const [id, value] of exact) expect(relativeError(logits[id], value)).toBeLessThan(1e-4);
    });

    it.skipIf(NATIVE_REASON !== null)(
      'dev perplexity over the first 32,768 tokens matches PyTorch',
      async () => {
        const model = await loadModel(c.dir, { backend: BACKEND });
        const ref = GPU_REFERENCE[c.name].ppl32k;
        const stream = await buildEvalStream(DEV_JSONL, model.tokenizer, 32768);
        // the token stream itself equals the Rust tokenizers' one
        expect(stream.length).toBe(ref.tokens);
        expect(stream.reduce((s, t) => s + t, 0)).toBe(ref.stream_sum);
        expect(Array.from(stream.subarray(0, 16))).toEqual(ref.stream_head);
        expect(Array.from(stream.subarray(stream.length - 16))).toEqual(ref.stream_tail);
        const result = await model.perplexity(stream, { windowTokens: 512 });
        expect(result.predictions).toBe(ref.predictions);
        expect(result.windows).toBe(63);
        expect(relativeError(result.ppl, ref.ppl)).toBeLessThan(1e-4);
      },
    );
  });
}

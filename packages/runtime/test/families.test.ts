// Llama-3 (llama3 rope_scaling, untied lm_head, f32), Qwen2 (q/k/v biases, tied head, bf16) and
// Mistral (GQA 4/1, explicit head_dim != hidden/heads, f16) against PyTorch float64 logits of
// small random checkpoints (fixtures/families, written by tools/gpu/family_reference.py).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/index.js';
import { BACKEND, TINY_DIR } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/families', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The fixture checkpoint plus a tokenizer (the runtime always loads one; ids here are < 128). */
function withTokenizer(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `anyprec-family-${name}-`));
  dirs.push(dir);
  for (const f of readdirSync(join(FIXTURES, name))) copyFileSync(join(FIXTURES, name, f), join(dir, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TINY_DIR, f), join(dir, f));
  return dir;
}

describe(`model families vs PyTorch (${BACKEND} backend)`, () => {
  for (const name of ['llama3', 'qwen2', 'mistral']) {
    it(`${name}: logits of every position within 1e-4 relative`, async () => {
      const expected = JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8'));
      for (const backend of new Set([BACKEND, 'ts' as const])) {
        const model = await loadModel(withTokenizer(name), { backend });
        const ids: number[] = expected.input_ids;
        const V = model.config.vocabSize;
        // prefill in uneven chunks then decode step by step: the KV cache path must agree too
        const cache = model.newCache(4);
        const logits = new Float32Array(ids.length * V);
        logits.set(model.forward(ids.slice(0, 20), { cache, logits: 'all', chunkTokens: 7 }));
        for (let t = 20; t < ids.length; t++)
          logits.set(model.decodeBatch([{ token: ids[t], cache }]), t * V);
        let worst = 0;
        let scale = 0;
        for (let t = 0; t < ids.length; t++) {
          for (let v = 0; v < V; v++) {
            worst = Math.max(worst, Math.abs(logits[t * V + v] - expected.logits[t][v]));
            scale = Math.max(scale, Math.abs(expected.logits[t][v]));
          }
        }
        expect(worst / scale).toBeLessThan(1e-4);
      }
    });
  }
});

describe(`Mistral sliding window (${BACKEND} backend)`, () => {
  it('a one-layer model with window W sees exactly the last W tokens (oracle: full attention on them)', async () => {
    const { LlamaModel } = await import('../src/index.js');
    const full = await loadModel(withTokenizer('mistral'), { backend: BACKEND });
    const W = 6;
    const oneLayer = (window: number | null) =>
      new LlamaModel(
        { ...full.config, numLayers: 1, slidingWindow: window },
        { ...full.weights, layers: [full.weights.layers[0]] },
        full.backend,
        [16],
      );
    const windowed = oneLayer(W);
    const plain = oneLayer(null);
    const ids = Array.from({ length: 17 }, (_, i) => ((i * 29 + 5) % 120) + 2);
    const V = full.config.vocabSize;
    // prefill across the window boundary, then cached decode
    const cache = windowed.newCache();
    const logits = new Float32Array(ids.length * V);
    logits.set(windowed.forward(ids.slice(0, 11), { cache, logits: 'all', chunkTokens: 4 }));
    for (let t = 11; t < ids.length; t++) logits.set(windowed.decodeBatch([{ token: ids[t], cache }]), t * V);
    for (let p = 0; p < ids.length; p++) {
      // RoPE makes attention depend on relative positions only, so one layer over the window
      // at positions 0..W-1 gives the same logits
      const expected = plain.forward(ids.slice(Math.max(0, p - W + 1), p + 1), { logits: 'last' });
      let worst = 0;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[p * V + v] - expected[v]));
      expect(worst).toBeLessThan(1e-4);
    }
    // and the window matters: full attention differs once the sequence is longer than W
    const unwindowed = plain.forward(ids, { logits: 'last' });
    let diff = 0;
    for (let v = 0; v < V; v++)
      diff = Math.max(diff, Math.abs(unwindowed[v] - logits[(ids.length - 1) * V + v]));
    expect(diff).toBeGreaterThan(1e-2);
  });
});

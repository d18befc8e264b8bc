// Weight gradients: the Fisher diagonal of models/tiny over fixtures/grad_sequences.json against
// PyTorch float64 (fixtures/grad_reference.json, tools/gpu/grad_reference.py), and single
// sequence gradients against central finite differences of the loss.
import { describe, expect, it } from 'vitest';
import { crossEntropy, fisherDiagonal, loadModel, sequenceGradients } from '../src/index.js';
import { BACKEND, GPU_REFERENCE, GRAD_SEQUENCES, TINY_DIR } from './helpers.js';

describe(`gradients (${BACKEND} backend)`, () => {
  it('Fisher sums match PyTorch within 1e-3 relative (totals and chosen rows)', async () => {
    const model = await loadModel(TINY_DIR, { backend: BACKEND });
    const progress: number[] = [];
    const fisher = fisherDiagonal(model, GRAD_SEQUENCES, { onProgress: (done) => progress.push(done) });
    expect(progress).toEqual(GRAD_SEQUENCES.map((_, i) => i + 1));
    const ref = GPU_REFERENCE.tiny.fisher;
    expect([...fisher.keys()].sort()).toEqual(Object.keys(ref.total).sort());
    for (const [name, total] of Object.entries(ref.total) as [string, number][]) {
      const mine = fisher.get(name)!.reduce((s, v) => s + v, 0);
      expect(Math.abs(mine - total) / total).toBeLessThan(1e-3);
    }
    for (const [name, rows] of Object.entries(ref.row_values) as [string, Record<string, number[]>][]) {
      const { cols } = model.getLinear(name);
      for (const [row, values] of Object.entries(rows)) {
        const mine = fisher.get(name)!.subarray(Number(row) * cols, (Number(row) + 1) * cols);
        const sumRef = values.reduce((s, v) => s + v, 0);
        expect(Math.abs(mine.reduce((s, v) => s + v, 0) - sumRef) / sumRef).toBeLessThan(1e-3);
        const scale = Math.max(...values);
        for (let i = 0; i < cols; i++) expect(Math.abs(mine[i] - values[i])).toBeLessThan(1e-3 * scale);
      }
    }
  });

  it('directional derivatives equal central finite differences of the mean loss', async () => {
    const model = await loadModel(TINY_DIR, { backend: BACKEND });
    const tokens = GRAD_SEQUENCES[1].slice(0, 24);
    const V = model.config.vocabSize;
    const loss = () => {
      const logits = model.forward(tokens, { logits: 'all' });
      let s = 0;
      for (let t = 0; t < tokens.length - 1; t++) s += crossEntropy(logits, t * V, V, tokens[t + 1]);
      return s / (tokens.length - 1);
    };
    const linears = new Map(model.linearNames().map((n) => [n, model.linearWeightF32(n)]));
    const grads = sequenceGradients(model, tokens, linears, model.linearWeightF32('lm_head'));
    let seed = 3;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647 - 0.5;
    };
    for (const name of [
      'model.layers.0.self_attn.q_proj',
      'model.layers.2.self_attn.k_proj',
      'model.layers.1.self_attn.v_proj',
      'model.layers.3.self_attn.o_proj',
      'model.layers.0.mlp.gate_proj',
      'model.layers.2.mlp.up_proj',
      'model.layers.3.mlp.down_proj',
    ]) {
      const w = linears.get(name)!;
      const u = Float32Array.from(w, () => random());
      const g = grads.get(name)!;
      let analytic = 0;
      for (let i = 0; i < w.length; i++) analytic += g[i] * u[i];
      const eps = 4e-3;
      model.setLinearWeights(
        name,
        w.map((v, i) => v + eps * u[i]),
      );
      const plus = loss();
      model.setLinearWeights(
        name,
        w.map((v, i) => v - eps * u[i]),
      );
      const minus = loss();
      model.setLinearWeights(name, null);
      const numeric = (plus - minus) / (2 * eps);
      // f32 forward passes limit finite differences to about three digits
      expect(Math.abs(analytic - numeric)).toBeLessThan(1e-2 * Math.abs(numeric) + 1e-4);
    }
  });
});

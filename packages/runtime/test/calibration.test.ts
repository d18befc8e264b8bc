// Calibration hooks and block-wise execution, checked against the model's own full forward
// pass (hooks must see exactly what the layers compute) and against a direct linear formula.
import { describe, expect, it } from 'vitest';
import { linearName, loadModel, RuntimeArgumentError } from '../src/index.js';
import { BACKEND, TINY_DIR } from './helpers.js';

const tokens = [0, 660, 817, 7536, 3432, 6178, 710, 1820, 318, 673, 313];

describe(`calibration hooks (${BACKEND} backend)`, () => {
  it('onLinearInput sees every linear once with [tokens, cols]; block hooks chain inputs to outputs', async () => {
    const model = await loadModel(TINY_DIR, { backend: BACKEND });
    const { hiddenSize: D, intermediateSize: F, numLayers: L, numHeads: H, headDim: hd } = model.config;
    const seen = new Map<string, { x: Float32Array; tokens: number; cols: number }>();
    const inputs: Float32Array[] = [];
    const outputs: Float32Array[] = [];
    model.forward(tokens, {
      onLinearInput: (name, x, n, cols) => seen.set(name, { x: x.slice(0, n * cols), tokens: n, cols }),
      onBlockInput: (l, h, n) => (inputs[l] = h.slice(0, n * D)),
      onBlockOutput: (l, h, n) => (outputs[l] = h.slice(0, n * D)),
    });
    expect([...seen.keys()].sort()).toEqual(model.linearNames().sort());
    expect(seen.get(linearName(0, 'q'))!.cols).toBe(D);
    expect(seen.get(linearName(0, 'o'))!.cols).toBe(H * hd);
    expect(seen.get(linearName(0, 'down'))!.cols).toBe(F);
    for (const v of seen.values()) expect(v.tokens).toBe(tokens.length);
    // the embedding enters layer 0; each block's output is the next block's input
    expect(inputs[0]).toEqual(model.embed(tokens));
    for (let l = 1; l < L; l++) expect(inputs[l]).toEqual(outputs[l - 1]);
    // q_proj's input is input_layernorm(x): q = x·Wqᵀ reproduces the block's own q projection
    const x = seen.get(linearName(0, 'gate'))!.x;
    const w = model.linearWeightF32(linearName(0, 'gate'));
    const out = new Float32Array(tokens.length * F);
    model.linear(out, x, model.getLinear(linearName(0, 'gate')), tokens.length, 16);
    let s = 0;
    for (let k = 0; k < D; k++) s += x[3 * D + k] * w[5 * D + k];
    expect(Math.abs(out[3 * F + 5] - s)).toBeLessThan(1e-4);

    // runBlock alone on a block input reproduces that block's output
    for (let l = 0; l < L; l++) {
      const y = model.runBlock(l, inputs[l], tokens.length);
      let worst = 0;
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - outputs[l][i]));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('runBlock with replaced weights equals setLinearWeights, and leaves the model unchanged', async () => {
    const model = await loadModel(TINY_DIR, { backend: BACKEND });
    const D = model.config.hiddenSize;
    let input!: Float32Array;
    model.forward(tokens, {
      onBlockInput: (l, h, n) => {
        if (l === 2) input = h.slice(0, n * D);
      },
    });
    const name = linearName(2, 'up');
    const w = model.linearWeightF32(name).map((v, i) => v * (1 + 0.1 * Math.sin(i)));
    const replaced = model.runBlock(2, input, tokens.length, { linearWeights: new Map([[name, w]]) });
    const original = model.runBlock(2, input, tokens.length);
    model.setLinearWeights(name, w);
    const viaSet = model.runBlock(2, input, tokens.length);
    model.setLinearWeights(name, null);
    expect(replaced).toEqual(viaSet);
    expect(replaced).not.toEqual(original);
    expect(model.runBlock(2, input, tokens.length)).toEqual(original);
    expect(() => model.runBlock(1, input, tokens.length, { linearWeights: new Map([[name, w]]) })).toThrow(
      RuntimeArgumentError,
    );
    expect(() => model.setLinearWeights(name, new Float32Array(3))).toThrow(RuntimeArgumentError);
  });
});

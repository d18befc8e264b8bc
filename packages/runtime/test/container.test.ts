// Containers: a tiny anyprec (LUT) and AnyBCQ container are written with @anyprec/format from
// models/tiny with a simple round-to-nearest quantizer defined here; the runtime must run every
// served precision from the planes, equal to the HF model whose weights are replaced by the
// dequantized weights computed here (an independent oracle of layout v1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f16ToF32, f32ToF16, packPlanes } from '@anyprec/format';
import { openModel, writeContainerDir } from '@anyprec/format/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fisherDiagonal, loadModel, type Model, PrecisionError } from '../src/index.js';
import { BACKEND, GRAD_SEQUENCES, TINY_DIR } from './helpers.js';

const P = 4;
const PRECISIONS = [2, 3, 4];
const GROUP = 64;
interface Quantized {
  indices: Uint8Array;
  rows: number;
  cols: number;
  luts: Map<number, Uint16Array>; // anyprec
  scales: Map<number, Uint16Array>; // anybcq
  offsets: Map<number, Uint16Array>;
}

/** Per-row RTN: parent index in [0, 2^P); width-b value = centre of the b-bit bucket. */
function quantize(w: Float32Array, rows: number, cols: number): Quantized {
  const indices = new Uint8Array(rows * cols);
  const luts = new Map<number, Uint16Array>();
  const scales = new Map<number, Uint16Array>();
  const offsets = new Map<number, Uint16Array>();
  const groups = Math.ceil(cols / GROUP);
  const lo = new Float32Array(rows);
  const hi = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let min = Infinity;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) {
      min = Math.min(min, w[r * cols + c]);
      max = Math.max(max, w[r * cols + c]);
    }
    lo[r] = min;
    hi[r] = max;
    for (let c = 0; c < cols; c++) {
      indices[r * cols + c] = Math.min(
        2 ** P - 1,
        Math.floor(((w[r * cols + c] - min) / (max - min)) * 2 ** P),
      );
    }
  }
  for (const b of PRECISIONS) {
    const lut = new Float32Array(rows * 2 ** b);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < 2 ** b; j++) lut[r * 2 ** b + j] = lo[r] + ((j + 0.5) * (hi[r] - lo[r])) / 2 ** b;
    luts.set(b, f32ToF16(lut));
    // BCQ with the same bits: plane i contributes ± step·2^(b-1-i)/2; offset = bucket-grid centre
    const sc = new Float32Array(rows * groups * b);
    const off = new Float32Array(rows * groups);
    for (let r = 0; r < rows; r++) {
      const step = (hi[r] - lo[r]) / 2 ** b;
      for (let g = 0; g < groups; g++) {
        off[r * groups + g] = (lo[r] + hi[r]) / 2 + g * 1e-3;
        for (let i = 0; i < b; i++) sc[(r * groups + g) * b + i] = (step * 2 ** (b - 1 - i)) / 2;
      }
    }
    scales.set(b, f32ToF16(sc));
    offsets.set(b, f32ToF16(off));
  }
  return { indices, rows, cols, luts, scales, offsets };
}

/** Oracle dequantization written from docs/architecture.md. */
function dequant(q: Quantized, method: 'anyprec' | 'anybcq', b: number): Float32Array {
  const { rows, cols, indices } = q;
  const out = new Float32Array(rows * cols);
  const lut = f16ToF32(q.luts.get(b)!);
  const scales = f16ToF32(q.scales.get(b)!);
  const offsets = f16ToF32(q.offsets.get(b)!);
  const groups = Math.ceil(cols / GROUP);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const index = indices[r * cols + c] >> (P - b);
      if (method === 'anyprec') out[r * cols + c] = lut[r * 2 ** b + index];
      else {
        const g = Math.floor(c / GROUP);
        let v = offsets[r * groups + g];
        for (let i = 0; i < b; i++)
          v += ((index >> (b - 1 - i)) & 1 ? 1 : -1) * scales[(r * groups + g) * b + i];
        out[r * cols + c] = v;
      }
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'anyprec-runtime-'));
const quantized = new Map<string, Quantized>();
let hf: Model;

beforeAll(async () => {
  hf = await loadModel(TINY_DIR, { backend: BACKEND });
  const source = await openModel(TINY_DIR);
  const layers = [];
  for (const name of hf.linearNames()) {
    const { rows, cols } = hf.getLinear(name);
    quantized.set(name, quantize(await source.readTensorF32(`${name}.weight`), rows, cols));
    layers.push({ base: name, rows, cols });
  }
  await source.close();
  for (const method of ['anyprec', 'anybcq'] as const) {
    await writeContainerDir({
      outDir: join(dir, method),
      sourceDir: TINY_DIR,
      method,
      parentBits: P,
      precisions: PRECISIONS,
      ...(method === 'anybcq' ? { groupSize: GROUP, offsets: true } : { seedBits: 2 }),
      layers,
      getData: (name) => {
        const m = /^(.*)\.(planes|lut|scales|offsets)(\d*)$/.exec(name);
        if (!m) return undefined;
        const q = quantized.get(m[1])!;
        if (m[2] === 'planes') return packPlanes(q.indices, q.rows, q.cols, P);
        return (m[2] === 'lut' ? q.luts : m[2] === 'scales' ? q.scales : q.offsets).get(Number(m[3]));
      },
    });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const method of ['anyprec', 'anybcq'] as const) {
  describe(`${method} container (${BACKEND} backend)`, () => {
    it('serves the manifest precisions and rejects others', async () => {
      const model = await loadModel(join(dir, method), { backend: BACKEND });
      expect(model.precisions).toEqual(PRECISIONS);
      expect(model.defaultPrecision).toBe(4);
      expect(model.getLinear('model.layers.0.mlp.up_proj').kind).toBe(method === 'anyprec' ? 'lut' : 'bcq');
      expect(() => model.forward([0, 5], { precision: 16 })).toThrow(PrecisionError);
      expect(() => model.forward([0, 5], { precision: 5 })).toThrow(PrecisionError);
    });

    it('every precision equals the HF model with the dequantized weights swapped in', async () => {
      const model = await loadModel(join(dir, method), { backend: BACKEND });
      const planes = (model.getLinear('model.layers.1.self_attn.q_proj') as { planes: Uint32Array }).planes;
      const tokens = [0, 660, 817, 7536, 3432, 6178, 710, 1820, 318, 673];
      for (const b of PRECISIONS) {
        for (const [name, q] of quantized) hf.setLinearWeights(name, dequant(q, method, b));
        const expected = hf.forward(tokens, { logits: 'all' });
        const actual = model.forward(tokens, { logits: 'all', precision: b });
        let worst = 0;
        for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        expect(worst).toBeLessThan(1e-3);
        // and the weights never moved: the same planes array serves every width
        expect((model.getLinear('model.layers.1.self_attn.q_proj') as { planes: Uint32Array }).planes).toBe(
          planes,
        );
      }
      for (const name of quantized.keys()) hf.setLinearWeights(name, null);
    });

    it('fisherDiagonal at a precision differentiates the dequantized weights of that width', async () => {
      const model = await loadModel(join(dir, method), { backend: BACKEND });
      const sequences = [GRAD_SEQUENCES[0].slice(0, 24), GRAD_SEQUENCES[2].slice(0, 17)];
      const fromPlanes = fisherDiagonal(model, sequences, { precision: 3 });
      for (const [name, q] of quantized) hf.setLinearWeights(name, dequant(q, method, 3));
      const fromDense = fisherDiagonal(hf, sequences);
      for (const name of quantized.keys()) hf.setLinearWeights(name, null);
      for (const [name, expected] of fromDense) {
        const actual = fromPlanes.get(name)!;
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < expected.length; i++) {
          worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
          scale = Math.max(scale, expected[i]);
        }
        expect(worst).toBeLessThanOrEqual(1e-4 * scale);
      }
    });

    it('batched decode with a different precision per sequence equals decoding each alone', async () => {
      const model = await loadModel(join(dir, method), { backend: BACKEND });
      const prompts = [
        [0, 660, 817],
        [0, 1820, 318, 673, 313],
        [0, 200],
      ];
      const precisions = [2, 4, 3];
      const V = model.config.vocabSize;
      const batchCaches = prompts.map((p, i) => {
        const cache = model.newCache();
        model.forward(p, { cache, precision: precisions[i] });
        return cache;
      });
      const batched = model.decodeBatch(
        prompts.map((_, i) => ({ token: 42 + i, cache: batchCaches[i], precision: precisions[i] })),
      );
      for (let i = 0; i < prompts.length; i++) {
        const alone = model.forward([...prompts[i], 42 + i], { precision: precisions[i] });
        const row = batched.subarray(i * V, (i + 1) * V);
        let worst = 0;
        for (let j = 0; j < V; j++) worst = Math.max(worst, Math.abs(row[j] - alone[j]));
        expect(worst).toBeLessThan(1e-4);
      }
    });
  });
}

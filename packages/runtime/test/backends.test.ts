// Backends against independent oracles: the TypeScript backend against formulas written
// here from docs/architecture.md (layout v1), and the native backend against the TypeScript one.
import { describe, expect, it } from 'vitest';
import { CpuBackend, loadModel, TsBackend } from '../src/index.js';
import { NATIVE_REASON, TINY_DIR } from './helpers.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}
const randomF32 = (n: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
};

/** f32 -> f16 bits (round to nearest even; normal range only, enough for test data). */
function toF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  let mant = x & 0x7fffff;
  let h = sign | (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && h & 1)) h++;
  return h;
}
function fromF16(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const v = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
  return h & 0x8000 ? -v : v;
}

/** Random parent indices [rows, cols] packed into layout v1 planes [P, rows, cols/32] (plane 0 = MSB). */
function packPlanes(indices: Uint8Array, P: number, rows: number, cols: number): Uint32Array {
  const words = cols / 32;
  const planes = new Uint32Array(P * rows * words);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const index = indices[r * cols + c];
      for (let p = 0; p < P; p++) {
        if ((index >> (P - 1 - p)) & 1) planes[p * rows * words + r * words + (c >> 5)] |= 1 << (c & 31);
      }
    }
  }
  return planes;
}

const ts = new TsBackend();
const rows = 24;
const cols = 96;
const P = 4;
const r = rng(7);
const indices = Uint8Array.from({ length: rows * cols }, () => Math.floor((r() + 0.5) * 2 ** P) % 2 ** P);
const planes = packPlanes(indices, P, rows, cols);

/** LUT oracle: weight(r, c) at width b = lut_b[r, index >> (P - b)]. */
function lutWeights(lut: Uint16Array, bits: number): Float32Array {
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let c = 0; c < cols; c++)
      w[i * cols + c] = fromF16(lut[i * 2 ** bits + (indices[i * cols + c] >> (P - bits))]);
  return w;
}
const luts = new Map<number, Uint16Array>();
for (let b = 1; b <= P; b++)
  luts.set(
    b,
    Uint16Array.from({ length: rows * 2 ** b }, () => toF16(r())),
  );

/** BCQ oracle: weight = offset + Σ_i scale_i · (bit_i ? 1 : -1), groups of `groupSize` columns. */
function bcqWeights(
  scales: Uint16Array,
  offsets: Uint16Array | null,
  bits: number,
  groupSize: number,
): Float32Array {
  const groups = Math.ceil(cols / groupSize);
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / groupSize);
      let v = offsets ? fromF16(offsets[i * groups + g]) : 0;
      for (let p = 0; p < bits; p++) {
        const bit = (indices[i * cols + c] >> (P - 1 - p)) & 1;
        v += (bit ? 1 : -1) * fromF16(scales[(i * groups + g) * bits + p]);
      }
      w[i * cols + c] = v;
    }
  }
  return w;
}

function naiveMatmul(x: Float32Array, w: Float32Array, tokens: number, n: number, k: number): Float64Array {
  const out = new Float64Array(tokens * n);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) out[t * n + i] += x[t * k + c] * w[i * k + c];
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('TypeScript backend vs formulas of docs/architecture.md', () => {
  it("dequantLut / matmulLut read the top `bits` planes and that width's LUT", () => {
    for (let bits = 1; bits <= P; bits++) {
      const expected = lutWeights(luts.get(bits)!, bits);
      const out = new Float32Array(rows * cols);
      ts.dequantLut(out, planes, luts.get(bits)!, rows, cols, bits);
      expectClose(out, expected, 0);
      const x = randomF32(3 * cols, bits);
      const y = new Float32Array(3 * rows);
      ts.matmulLut(y, x, planes, luts.get(bits)!, 3, rows, cols, bits);
      expectClose(y, naiveMatmul(x, expected, 3, rows, cols), 1e-5);
    }
  });

  it('dequantBcq / matmulBcq: offset + signed scales per group, short last group, with and without offsets', () => {
    for (const [bits, groupSize, withOffsets] of [
      [3, 32, true],
      [2, 40, false],
      [4, 96, true],
    ] as const) {
      const groups = Math.ceil(cols / groupSize);
      const scales = Uint16Array.from({ length: rows * groups * bits }, () => toF16(Math.abs(r())));
      const offsets = withOffsets ? Uint16Array.from({ length: rows * groups }, () => toF16(r())) : null;
      const expected = bcqWeights(scales, offsets, bits, groupSize);
      const out = new Float32Array(rows * cols);
      ts.dequantBcq(out, planes, scales, offsets, rows, cols, bits, groupSize);
      expectClose(out, expected, 1e-6);
      const x = randomF32(5 * cols, bits + 10);
      const y = new Float32Array(5 * rows);
      ts.matmulBcq(y, x, planes, scales, offsets, 5, rows, cols, bits, groupSize);
      expectClose(y, naiveMatmul(x, expected, 5, rows, cols), 1e-5);
    }
  });

  it('sgemm handles all transpose combinations, strides, alpha and beta', () => {
    const [m, n, k] = [5, 7, 9];
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const lda = (transA ? m : k) + 2;
        const ldb = (transB ? k : n) + 1;
        const a = randomF32((transA ? k : m) * lda, 1);
        const b = randomF32((transB ? n : k) * ldb, 2);
        const c = randomF32(m * (n + 3), 3);
        const expected = Float64Array.from(c);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++)
              s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
            expected[i * (n + 3) + j] = 0.5 * s + 2 * c[i * (n + 3) + j];
          }
        }
        ts.sgemm(transA, transB, m, n, k, 0.5, a, lda, b, ldb, 2, c, n + 3);
        expectClose(c, expected, 1e-6);
      }
    }
  });
});

describe.skipIf(NATIVE_REASON !== null)(
  `native CPU backend vs TypeScript backend${NATIVE_REASON ? ` (skipped: ${NATIVE_REASON})` : ''}`,
  () => {
    const cpu = NATIVE_REASON === null ? new CpuBackend() : (null as unknown as CpuBackend);

    it('matmul with f32, bf16 and f16 weights, 1 and many tokens, accumulate', () => {
      const [n, k] = [40, 64];
      const w = randomF32(n * k, 11);
      const half = Uint16Array.from(w, (v) => toF16(v));
      const bf = Uint16Array.from(w, (v) => new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16);
      for (const tokens of [1, 3, 37]) {
        const x = randomF32(tokens * k, tokens);
        for (const [weight, dtype] of [
          [w, 'f32'],
          [half, 'f16'],
          [bf, 'bf16'],
        ] as const) {
          const a = randomF32(tokens * n, 5);
          const b = a.slice();
          ts.matmul(a, x, weight, dtype, tokens, n, k, true);
          cpu.matmul(b, x, weight, dtype, tokens, n, k, true);
          expectClose(b, a, 1e-5);
        }
      }
    });

    it('bit-plane matmuls and dequantization agree', () => {
      for (const tokens of [1, 2, 19]) {
        const x = randomF32(tokens * cols, 100 + tokens);
        for (let bits = 1; bits <= P; bits++) {
          const a = new Float32Array(tokens * rows);
          const b = new Float32Array(tokens * rows);
          ts.matmulLut(a, x, planes, luts.get(bits)!, tokens, rows, cols, bits);
          cpu.matmulLut(b, x, planes, luts.get(bits)!, tokens, rows, cols, bits);
          expectClose(b, a, 1e-5);
          const groups = Math.ceil(cols / 40);
          const scales = Uint16Array.from({ length: rows * groups * bits }, () => toF16(Math.abs(r())));
          const offsets = Uint16Array.from({ length: rows * groups }, () => toF16(r()));
          ts.matmulBcq(a, x, planes, scales, offsets, tokens, rows, cols, bits, 40);
          cpu.matmulBcq(b, x, planes, scales, offsets, tokens, rows, cols, bits, 40);
          expectClose(b, a, 1e-5);
        }
      }
      const a = new Float32Array(rows * cols);
      const b = new Float32Array(rows * cols);
      ts.dequantLut(a, planes, luts.get(3)!, rows, cols, 3);
      cpu.dequantLut(b, planes, luts.get(3)!, rows, cols, 3);
      expectClose(b, a, 0);
    });

    it('attention with GQA and a position offset', () => {
      const [heads, kvHeads, hd, kvLen, tokens] = [4, 2, 16, 29, 5];
      const q = randomF32(tokens * heads * hd, 1);
      const k = randomF32(kvLen * kvHeads * hd, 2);
      const v = randomF32(kvLen * kvHeads * hd, 3);
      const a = new Float32Array(q.length);
      const b = new Float32Array(q.length);
      ts.attention(a, q, k, v, tokens, kvLen, heads, kvHeads, hd, kvLen - tokens, 0.25);
      cpu.attention(b, q, k, v, tokens, kvLen, heads, kvHeads, hd, kvLen - tokens, 0.25);
      expectClose(b, a, 1e-5);
    });

    it('whole model: prefill and a few decode steps give the same logits on both backends', async () => {
      const native = await loadModel(TINY_DIR, { backend: 'cpu' });
      const plain = await loadModel(TINY_DIR, { backend: 'ts' });
      const prompt = [0, 660, 817, 7536, 3432, 6178, 710, 1820];
      const c1 = native.newCache();
      const c2 = plain.newCache();
      let l1 = native.forward(prompt, { cache: c1 });
      let l2 = plain.forward(prompt, { cache: c2 });
      for (const token of [318, 673, 313]) {
        expectClose(l1, l2, 1e-4);
        l1 = native.decodeBatch([{ token, cache: c1 }]);
        l2 = plain.decodeBatch([{ token, cache: c2 }]);
      }
      expectClose(l1, l2, 1e-4);
    });
  },
);

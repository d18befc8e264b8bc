// Causal GQA attention against a float64 reference written from the definition.
import { afterAll, describe, expect, it } from 'vitest';
import { attention, type CpuIsa, cpuInfo, setIsa, setThreads } from '../src/index.js';
import { mismatches, randomF32, rng } from './helpers.js';

const info = cpuInfo();
const order = ['scalar', 'avx2', 'avx512'];
const isas = (['avx512', 'scalar'] as CpuIsa[]).filter(
  (isa) => order.indexOf(isa) <= order.indexOf(info.bestIsa ?? 'scalar'),
);
afterAll(() => {
  setIsa('best');
  setThreads(info.hardwareThreads ?? 1);
});

interface Case {
  tokens: number;
  kvLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  posOffset: number;
}

// out[t, h, :] = sum_j softmax_j(scale * q_t·k_j) v_j over j <= posOffset + t, in float64,
// with an f32 error bound: score errors (gamma_headDim * scale * sum|q k|, plus exp rounding)
// move the output by at most 2·max|Δs|·max|v|; the weighted sum adds gamma_n·max|v|.
function reference(c: Case, q: Float32Array, k: Float32Array, v: Float32Array, scale: number) {
  const { tokens, heads, kvHeads, headDim: hd, posOffset } = c;
  const value = new Float64Array(tokens * heads * hd);
  const bound = new Float64Array(tokens * heads * hd);
  const u = 2 ** -24;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / (heads / kvHeads));
      const n = posOffset + t + 1;
      const s = new Float64Array(n);
      let maxErr = 0;
      let maxV = 0;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        let abs = 0;
        for (let d = 0; d < hd; d++) {
          const p = q[(t * heads + h) * hd + d] * k[(j * kvHeads + kvh) * hd + d];
          dot += p;
          abs += Math.abs(p);
        }
        s[j] = dot * scale;
        maxErr = Math.max(maxErr, (hd + 2) * u * abs * Math.abs(scale) + 4 * u);
        for (let d = 0; d < hd; d++) maxV = Math.max(maxV, Math.abs(v[(j * kvHeads + kvh) * hd + d]));
      }
      const m = Math.max(...s);
      let sum = 0;
      for (let j = 0; j < n; j++) {
        s[j] = Math.exp(s[j] - m);
        sum += s[j];
      }
      for (let d = 0; d < hd; d++) {
        let o = 0;
        for (let j = 0; j < n; j++) o += s[j] * v[(j * kvHeads + kvh) * hd + d];
        value[(t * heads + h) * hd + d] = o / sum;
        bound[(t * heads + h) * hd + d] = (2 * maxErr + (n + 4) * u) * maxV * 1.01;
      }
    }
  }
  return { value, bound };
}

const cases: Case[] = [
  // prefill: query blocks of 16 with a partial last block, GQA 4:2, 64-dim heads
  { tokens: 37, kvLen: 37, heads: 4, kvHeads: 2, headDim: 64, posOffset: 0 },
  // prefill continuing a cache (posOffset), cache longer than needed, odd head size > 64
  { tokens: 21, kvLen: 60, heads: 3, kvHeads: 1, headDim: 80, posOffset: 9 },
  // small head size, MHA
  { tokens: 9, kvLen: 9, heads: 2, kvHeads: 2, headDim: 8, posOffset: 0 },
  // decode: one token at the end of a long cache; and a few tokens (direct path)
  { tokens: 1, kvLen: 300, heads: 8, kvHeads: 4, headDim: 64, posOffset: 299 },
  { tokens: 3, kvLen: 140, heads: 4, kvHeads: 1, headDim: 40, posOffset: 100 },
  // decode with 6 query heads per kv head (groups processed 4 heads at a time)
  { tokens: 2, kvLen: 33, heads: 12, kvHeads: 2, headDim: 24, posOffset: 31 },
];

describe.runIf(info.available)('attention', () => {
  for (const isa of isas) {
    it(`matches the float64 reference (${isa})`, () => {
      setIsa(isa);
      const rand = rng(31);
      for (const c of cases) {
        const q = randomF32(c.tokens * c.heads * c.headDim, rand, 2);
        const k = randomF32(c.kvLen * c.kvHeads * c.headDim, rand, 2);
        const v = randomF32(c.kvLen * c.kvHeads * c.headDim, rand);
        const scale = 1 / Math.sqrt(c.headDim);
        const out = new Float32Array(q.length + 5).fill(99);
        attention(out, q, k, v, c.tokens, c.kvLen, c.heads, c.kvHeads, c.headDim, c.posOffset, scale);
        const ref = reference(c, q, k, v, scale);
        expect(mismatches(out, ref.value, ref.bound, q.length), JSON.stringify(c)).toEqual([]);
        expect(Array.from(out.subarray(q.length))).toEqual([99, 99, 99, 99, 99]);
      }
    });
  }

  it('is causal: cache entries after posOffset + t do not change query t', () => {
    const rand = rng(32);
    const c = { tokens: 20, kvLen: 50, heads: 2, kvHeads: 1, headDim: 32, posOffset: 10 };
    const q = randomF32(c.tokens * c.heads * c.headDim, rand);
    const k = randomF32(c.kvLen * c.kvHeads * c.headDim, rand);
    const v = randomF32(c.kvLen * c.kvHeads * c.headDim, rand);
    const a = new Float32Array(q.length);
    attention(a, q, k, v, c.tokens, c.kvLen, c.heads, c.kvHeads, c.headDim, c.posOffset, 0.2);
    // poison every cache position a query must not see (>= posOffset + tokens) and re-run
    k.fill(Number.NaN, (c.posOffset + c.tokens) * c.kvHeads * c.headDim);
    v.fill(Number.NaN, (c.posOffset + c.tokens) * c.kvHeads * c.headDim);
    const b = new Float32Array(q.length);
    attention(b, q, k, v, c.tokens, c.kvLen, c.heads, c.kvHeads, c.headDim, c.posOffset, 0.2);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('handles large score magnitudes without overflow (max subtraction)', () => {
    const c = { tokens: 20, kvLen: 20, heads: 1, kvHeads: 1, headDim: 16, posOffset: 0 };
    const rand = rng(33);
    const q = randomF32(c.tokens * c.headDim, rand, 30);
    const k = randomF32(c.kvLen * c.headDim, rand, 30);
    const v = randomF32(c.kvLen * c.headDim, rand);
    const out = new Float32Array(q.length);
    attention(out, q, k, v, c.tokens, c.kvLen, 1, 1, c.headDim, 0, 1);
    const ref = reference(c, q, k, v, 1);
    expect(mismatches(out, ref.value, ref.bound)).toEqual([]);
  });

  it('threads 1 and 2 agree bitwise', () => {
    const rand = rng(34);
    const c = { tokens: 64, kvLen: 64, heads: 4, kvHeads: 2, headDim: 64, posOffset: 0 };
    const q = randomF32(c.tokens * c.heads * c.headDim, rand);
    const k = randomF32(c.kvLen * c.kvHeads * c.headDim, rand);
    const v = randomF32(c.kvLen * c.kvHeads * c.headDim, rand);
    const a = new Float32Array(q.length);
    const b = new Float32Array(q.length);
    setThreads(1);
    attention(a, q, k, v, c.tokens, c.kvLen, c.heads, c.kvHeads, c.headDim, 0, 0.125);
    setThreads(2);
    attention(b, q, k, v, c.tokens, c.kvLen, c.heads, c.kvHeads, c.headDim, 0, 0.125);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });
});

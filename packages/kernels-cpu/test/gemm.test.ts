// Dense kernels against float64 references: matmul (f32/bf16/f16 weights, GEMV and GEMM
// paths, odd shapes, accumulate) and sgemm (every transpose, strides, alpha/beta).
import { afterAll, describe, expect, it } from 'vitest';
import { type CpuIsa, cpuInfo, matmul, setIsa, setThreads, sgemm, type WeightDtype } from '../src/index.js';
import {
  bf16ToNumber,
  decodeAll,
  dotBound,
  f16ToNumber,
  mismatches,
  randomBf16Bits,
  randomF16Bits,
  randomF32,
  refMatmul,
  rng,
} from './helpers.js';

const info = cpuInfo();
const isas: CpuIsa[] = (['avx512', 'avx2', 'scalar'] as const).filter(
  (isa) =>
    ['scalar', 'avx2', 'avx512'].indexOf(isa) <=
    ['scalar', 'avx2', 'avx512'].indexOf(info.bestIsa ?? 'scalar'),
);
const hw = info.hardwareThreads ?? 1;

afterAll(() => {
  setIsa('best');
  setThreads(hw);
});

function weights(dtype: WeightDtype, n: number, rand: () => number) {
  if (dtype === 'f32') {
    const w = randomF32(n, rand);
    return { w, values: w as ArrayLike<number> };
  }
  const w = dtype === 'bf16' ? randomBf16Bits(n, rand) : randomF16Bits(n, rand, 0, 15);
  return { w, values: decodeAll(w, dtype === 'bf16' ? bf16ToNumber : f16ToNumber) };
}

// tokens <= 24 take the GEMV path, more the packed GEMM; sizes straddle the 14x32 tiles,
// the 16x16 packing transposes and the 256-deep k blocks.
const shapes: [number, number, number][] = [
  [1, 37, 51],
  [2, 64, 100],
  [3, 33, 17],
  [4, 131, 260],
  [5, 45, 300],
  [17, 70, 513],
  [24, 9, 40],
  [25, 70, 513],
  [40, 100, 260],
  [64, 33, 17],
  [29, 1, 1],
  [3, 5, 0],
  [30, 4, 0],
];

describe.runIf(info.available)('matmul', () => {
  for (const isa of isas) {
    for (const dtype of ['f32', 'bf16', 'f16'] as WeightDtype[]) {
      it(`${dtype} weights match the float64 reference (${isa})`, () => {
        setIsa(isa);
        const rand = rng(11);
        for (const [tokens, rows, cols] of shapes) {
          const x = randomF32(tokens * cols, rand);
          const { w, values } = weights(dtype, rows * cols, rand);
          const out = new Float32Array(tokens * rows + 7).fill(12345);
          matmul(out, x, w, dtype, tokens, rows, cols);
          const ref = refMatmul(x, values, tokens, rows, cols);
          expect(mismatches(out, ref.value, ref.bound), `${tokens}x${rows}x${cols}`).toEqual([]);
          // nothing past tokens*rows is written
          expect(Array.from(out.subarray(tokens * rows))).toEqual(new Array(7).fill(12345));
        }
      });
    }
  }

  it('accumulate adds to out, for the GEMV and GEMM paths', () => {
    const rand = rng(12);
    for (const [tokens, rows, cols] of [
      [2, 50, 70],
      [40, 50, 70],
    ]) {
      for (const dtype of ['f32', 'bf16'] as WeightDtype[]) {
        const x = randomF32(tokens * cols, rand);
        const { w, values } = weights(dtype, rows * cols, rand);
        const prev = randomF32(tokens * rows, rand, 3);
        const out = prev.slice();
        matmul(out, x, w, dtype, tokens, rows, cols, true);
        const ref = refMatmul(x, values, tokens, rows, cols);
        const want = ref.value.map((v, i) => v + prev[i]);
        const bound = ref.bound.map((b, i) => b + 2 * 2 ** -24 * (Math.abs(prev[i]) + Math.abs(want[i])));
        expect(mismatches(out, want, bound)).toEqual([]);
      }
    }
  });

  it('gives bitwise identical results on 1 and 2 threads', () => {
    const rand = rng(13);
    for (const [tokens, rows, cols] of [
      [1, 300, 200],
      [64, 300, 200],
    ]) {
      const x = randomF32(tokens * cols, rand);
      const { w } = weights('bf16', rows * cols, rand);
      const a = new Float32Array(tokens * rows);
      const b = new Float32Array(tokens * rows);
      setThreads(1);
      matmul(a, x, w, 'bf16', tokens, rows, cols);
      setThreads(2);
      matmul(b, x, w, 'bf16', tokens, rows, cols);
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    }
    setThreads(hw);
  });

  it('reads subarray views at their byte offset', () => {
    const rand = rng(14);
    const [tokens, rows, cols] = [6, 20, 40];
    const xBig = randomF32(tokens * cols + 3, rand);
    const x = xBig.subarray(3);
    const { w, values } = weights('f16', rows * cols + 5, rand);
    const wView = (w as Uint16Array).subarray(5);
    const out = new Float32Array(tokens * rows + 1).subarray(1);
    matmul(out, x, wView, 'f16', tokens, rows, cols);
    const ref = refMatmul(x, Array.from(values).slice(5), tokens, rows, cols);
    expect(mismatches(out, ref.value, ref.bound)).toEqual([]);
  });
});

function refSgemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) {
  const want = new Float64Array(c.length);
  const bound = new Float64Array(c.length);
  want.set(c);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let abs = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * lda + i] : a[i * lda + p];
        const bv = transB ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
        abs += Math.abs(av * bv);
      }
      const old = beta === 0 ? 0 : beta * c[i * ldc + j];
      want[i * ldc + j] = alpha * s + old;
      bound[i * ldc + j] = dotBound(k + 2, Math.abs(alpha) * abs + Math.abs(old));
    }
  }
  return { want, bound };
}

describe.runIf(info.available)('sgemm', () => {
  for (const isa of isas) {
    it(`matches the float64 reference for every transpose, stride, alpha and beta (${isa})`, () => {
      setIsa(isa);
      const rand = rng(21);
      // [m, n, k]: the second splits over rows of C (one column panel), the fourth is tiny.
      for (const [m, n, k] of [
        [23, 41, 37],
        [70, 9, 300],
        [600, 40, 20], // more than one 518-row block of A
        [3, 2, 1],
        [33, 70, 0],
      ]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [alpha, beta] of [
              [1, 0],
              [0.75, 1],
              [-1.5, -0.5],
            ]) {
              const lda = (transA ? m : k) + 3;
              const ldb = (transB ? k : n) + 1;
              const ldc = n + 2;
              const a = randomF32((transA ? k : m) * lda, rand);
              const b = randomF32((transB ? n : k) * ldb, rand);
              const c = randomF32(m * ldc, rand);
              if (beta === 0) c.fill(Number.NaN); // beta = 0 must ignore C entirely
              const ref = refSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
              sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
              const tag = `m${m} n${n} k${k} tA${transA} tB${transB} a${alpha} b${beta}`;
              // padding columns of C (j >= n) must be untouched
              for (let i = 0; i < m; i++) {
                for (let j = n; j < ldc; j++) {
                  ref.bound[i * ldc + j] = 0;
                  if (beta === 0) ref.want[i * ldc + j] = Number.NaN;
                }
              }
              const bad = mismatches(c, ref.want, ref.bound).filter((s) => !s.includes('got NaN, want NaN'));
              expect(bad, tag).toEqual([]);
            }
          }
        }
      }
    });
  }
});

// AnyBCQ quantizer kernels (native/bcq.cpp) against float64 references written here:
// the inverse-Hessian factor of GPTQ and the normal equations of the per-row scale refit.
import { describe, expect, it } from 'vitest';
import { bcqInverseCholeskyUpper, bcqNormalEquations, cpuInfo, setThreads, threads } from '../src/index.js';
import { randomF32, rng } from './helpers.js';

const ready = cpuInfo().available;

/** X [tokens, n] with correlated columns, and H = XᵀX (f64). */
function gram(n: number, tokens: number, rand: () => number): Float64Array {
  const x = new Float64Array(tokens * n);
  for (let t = 0; t < tokens; t++) {
    const common = rand() - 0.5;
    for (let c = 0; c < n; c++) x[t * n + c] = (rand() - 0.5) * (1 + (c % 5)) + common * ((c % 3) - 1);
  }
  const h = new Float64Array(n * n);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] += x[t * n + i] * x[t * n + j];
  return h;
}

describe.skipIf(!ready)('bcqInverseCholeskyUpper', () => {
  it('gives an upper-triangular U with UᵀU (H + λI) = I', () => {
    for (const n of [1, 7, 70]) {
      const h = gram(n, 2 * n + 3, rng(n));
      const lam = 0.1;
      const u = new Float64Array(n * n);
      expect(bcqInverseCholeskyUpper(h, n, lam, u)).toBe(true);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
        for (let j = 0; j < n; j++) {
          let v = 0;
          for (let k = 0; k < n; k++) {
            let utu = 0;
            for (let m = 0; m < n; m++) utu += u[m * n + i] * u[m * n + k];
            v += utu * (h[k * n + j] + (k === j ? lam : 0));
          }
          worst = Math.max(worst, Math.abs(v - (i === j ? 1 : 0)));
        }
      }
      expect(worst).toBeLessThan(1e-9);
    }
  });

  it('reports a matrix that is not positive definite and leaves u alone', () => {
    const n = 3;
    const h = new Float64Array([1, 2, 0, 2, 1, 0, 0, 0, 1]); // eigenvalue −1
    const u = new Float64Array(n * n).fill(7);
    expect(bcqInverseCholeskyUpper(h, n, 0, u)).toBe(false);
    expect(u.every((v) => v === 7)).toBe(true);
    expect(() => bcqInverseCholeskyUpper(h, n, 0, new Float64Array(4))).toThrow(/u/);
  });
});

describe.skipIf(!ready)('bcqNormalEquations', () => {
  it('equals A_rᵀ H A_r and A_rᵀ C w_r per row, with and without offsets, for 1 and 2 threads', () => {
    const rows = 5;
    const cols = 150; // groups of 64: the last one partial
    const g = 64;
    const bits = 3;
    const rand = rng(3);
    const h = Float32Array.from(gram(cols, 200, rand));
    const c = Float32Array.from(gram(cols, 200, rand));
    const w = randomF32(rows * cols, rand);
    const signs = Int8Array.from({ length: 4 * rows * cols }, () => (rand() < 0.5 ? -1 : 1));
    const groups = Math.ceil(cols / g);
    for (const withOffset of [false, true]) {
      const per = bits + (withOffset ? 1 : 0);
      const m = groups * per;
      // reference: A_r [cols, m] explicitly
      const want = new Float64Array(rows * m * m);
      const wantY = new Float64Array(rows * m);
      for (let r = 0; r < rows; r++) {
        const a = new Float64Array(cols * m);
        for (let col = 0; col < cols; col++) {
          const gi = Math.floor(col / g);
          for (let i = 0; i < bits; i++) a[col * m + gi * per + i] = signs[(i * rows + r) * cols + col];
          if (withOffset) a[col * m + gi * per + bits] = 1;
        }
        for (let p = 0; p < m; p++) {
          for (let q = 0; q < m; q++) {
            let v = 0;
            for (let i = 0; i < cols; i++) {
              if (a[i * m + p] === 0) continue;
              for (let j = 0; j < cols; j++) v += a[i * m + p] * h[i * cols + j] * a[j * m + q];
            }
            want[r * m * m + p * m + q] = v;
          }
          let y = 0;
          for (let i = 0; i < cols; i++) {
            if (a[i * m + p] === 0) continue;
            let cw = 0;
            for (let j = 0; j < cols; j++) cw += c[i * cols + j] * w[r * cols + j];
            y += a[i * m + p] * cw;
          }
          wantY[r * m + p] = y;
        }
      }
      const before = threads();
      for (const n of [1, 2]) {
        setThreads(n);
        const got = new Float64Array(rows * m * m);
        const gotY = new Float64Array(rows * m);
        bcqNormalEquations(got, gotY, signs, h, c, w, rows, cols, bits, g, withOffset);
        const scale = Math.max(...want.map(Math.abs));
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * scale);
        const scaleY = Math.max(...wantY.map(Math.abs));
        for (let i = 0; i < gotY.length; i++)
          expect(Math.abs(gotY[i] - wantY[i])).toBeLessThan(1e-5 * scaleY);
      }
      setThreads(before);
    }
  });
});

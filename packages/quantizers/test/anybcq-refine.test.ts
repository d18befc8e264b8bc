// Data-aware refits against oracles written here: explicit design matrices X·A_r solved by
// Gaussian elimination, and brute-force XᵀY sums. Needs the native CPU addon.
import { cpuInfo } from '@anyprec/kernels-cpu';
import { describe, expect, it } from 'vitest';
import { fitMatrix } from '../src/anybcq/fit.js';
import {
  dampedF32,
  dequantizeWidth,
  gramAccumulate,
  refitDiag,
  refitOutput,
  widthParams,
} from '../src/anybcq/refine.js';
import { gaussSolve, lcg } from './oracles.js';

const native = cpuInfo().available;

describe.skipIf(!native)('gramAccumulate', () => {
  it('adds aᵀb and aᵀa like a direct triple loop', () => {
    const rnd = lcg(1);
    const tokens = 300; // more than one 256-token chunk, not a multiple of 8
    const na = 13;
    const nb = 7;
    const a = Float32Array.from({ length: tokens * na }, rnd);
    const b = Float32Array.from({ length: tokens * nb }, rnd);
    const out = new Float64Array(na * nb).fill(1); // accumulates onto what is there
    gramAccumulate(out, a, b, tokens, na, nb);
    const sym = new Float64Array(na * na);
    gramAccumulate(sym, a, null, tokens, na, na);
    for (let i = 0; i < na; i++) {
      for (let j = 0; j < nb; j++) {
        let s = 1;
        for (let t = 0; t < tokens; t++) s += a[t * na + i] * b[t * nb + j];
        expect(out[i * nb + j]).toBeCloseTo(s, 4);
      }
      for (let j = 0; j < na; j++) {
        let s = 0;
        for (let t = 0; t < tokens; t++) s += a[t * na + i] * a[t * na + j];
        expect(sym[i * na + j]).toBeCloseTo(s, 4);
      }
    }
  });
});

describe.skipIf(!native)('refitOutput', () => {
  const rows = 3;
  const cols = 200; // groups of 64: 64, 64, 64, 8
  const tokens = 400;
  const rnd = lcg(5);
  const weight = Float32Array.from({ length: rows * cols }, () => rnd() * 0.2);
  // Correlated inputs (a shared component) so that the full H differs from its diagonal.
  const xq = new Float32Array(tokens * cols);
  const xf = new Float32Array(tokens * cols);
  for (let t = 0; t < tokens; t++) {
    const common = rnd();
    for (let c = 0; c < cols; c++) {
      const v = rnd() + common * (c % 3);
      xf[t * cols + c] = v;
      xq[t * cols + c] = v + 0.1 * rnd();
    }
  }

  for (const offsets of [false, true]) {
    it(`solves min ‖X_q Â − X_f w‖ per row like an explicit least squares (offsets=${offsets})`, () => {
      const b = 3;
      const fit = fitMatrix(weight, rows, cols, { bits: 3, baseBits: 2, groupSize: 64, offsets, cycles: 20 });
      const hq = new Float64Array(cols * cols);
      const cqf = new Float64Array(cols * cols);
      gramAccumulate(hq, xq, null, tokens, cols, cols);
      gramAccumulate(cqf, xq, xf, tokens, cols, cols);
      const got = refitOutput(weight, fit, b, dampedF32(hq, cols, 0), dampedF32(cqf, cols, 0));
      const groups = 4;
      const per = b + (offsets ? 1 : 0);
      for (let r = 0; r < rows; r++) {
        // Design matrix D = X_q A_r: one column per (group, plane) and per group offset.
        const design: number[][] = [];
        for (let gi = 0; gi < groups; gi++) {
          for (let i = 0; i < per; i++) {
            const col = new Array(tokens).fill(0);
            for (let t = 0; t < tokens; t++) {
              let s = 0;
              for (let c = gi * 64; c < Math.min(cols, (gi + 1) * 64); c++) {
                const z = i < b ? fit.signs[(i * rows + r) * cols + c] : 1;
                s += xq[t * cols + c] * z;
              }
              col[t] = s;
            }
            design.push(col);
          }
        }
        const target = Array.from({ length: tokens }, (_, t) => {
          let s = 0;
          for (let c = 0; c < cols; c++) s += xf[t * cols + c] * weight[r * cols + c];
          return s;
        });
        const mat = design.map((u) => design.map((v) => u.reduce((s, x, t) => s + x * v[t], 0)));
        const rhs = design.map((u) => u.reduce((s, x, t) => s + x * target[t], 0));
        const x = gaussSolve(mat, rhs);
        for (let gi = 0; gi < groups; gi++) {
          for (let i = 0; i < b; i++) {
            expect(got.scales[(r * groups + gi) * b + i]).toBeCloseTo(x[gi * per + i], 3);
          }
          if (offsets) expect(got.offsets![r * groups + gi]).toBeCloseTo(x[gi * per + b], 3);
        }
      }
    });
  }

  it('lowers the output error below the data-free and the diagonal refit', () => {
    const b = 2;
    const fit = fitMatrix(weight, rows, cols, {
      bits: 2,
      baseBits: 2,
      groupSize: 64,
      offsets: true,
      cycles: 20,
    });
    const h = new Float64Array(cols * cols);
    gramAccumulate(h, xf, null, tokens, cols, cols);
    const diag = Float64Array.from({ length: cols }, (_, i) => h[i * cols + i]);
    const outputError = (wq: Float32Array) => {
      let e = 0;
      for (let r = 0; r < rows; r++)
        for (let t = 0; t < tokens; t++) {
          let s = 0;
          for (let c = 0; c < cols; c++) s += xf[t * cols + c] * (wq[r * cols + c] - weight[r * cols + c]);
          e += s * s;
        }
      return e;
    };
    const e0 = outputError(dequantizeWidth(fit, b, widthParams(fit, b)));
    const e1 = outputError(dequantizeWidth(fit, b, refitDiag(weight, fit, b, diag, 0)));
    const e2 = outputError(dequantizeWidth(fit, b, refitOutput(weight, fit, b, dampedF32(h, cols, 0), null)));
    expect(e2).toBeLessThan(e1);
    expect(e2).toBeLessThan(e0);
  });
});

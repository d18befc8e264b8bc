// GPTQ-style choice of the expansion planes (src/anybcq/gptq.ts) against oracles written here:
// explicit products for the inverse-Hessian factor, brute force over every sign pattern for
// diagonal H, and for a general H the definition GPTQ implements (each column takes the
// nearer of its two values to the conditional optimum given the columns already decided,
// the later columns left free), solved by Gaussian elimination.
import { describe, expect, it } from 'vitest';
import { type BcqFit, fitMatrixTs } from '../src/anybcq/fit.js';
import {
  expandPlane,
  gptqExpand,
  gptqFactor,
  gptqPlane,
  gptqSelect,
  inverseCholeskyUpper,
} from '../src/anybcq/gptq.js';
import { dampedF32, dequantizeWidth, refitOutput, widthParams } from '../src/anybcq/refine.js';
import { gaussSolve, lcg } from './oracles.js';

/** Correlated inputs X [tokens, cols] (a shared component of strength `corr`) and H = XᵀX (f64). */
function correlatedGram(cols: number, tokens: number, rnd: () => number, corr = 1): Float64Array {
  const x = new Float64Array(tokens * cols);
  for (let t = 0; t < tokens; t++) {
    const common = rnd() * corr;
    for (let c = 0; c < cols; c++) x[t * cols + c] = rnd() * (1 + (c % 7)) + common * ((c % 3) - 1);
  }
  const h = new Float64Array(cols * cols);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) h[i * cols + j] += x[t * cols + i] * x[t * cols + j];
  return h;
}

/** Σ_r (w_r − ŵ_r) H (w_r − ŵ_r)ᵀ. */
function weightedError(
  w: Float32Array,
  q: Float32Array,
  h: Float64Array,
  rows: number,
  cols: number,
): number {
  let e = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - q[r * cols + c];
    for (let i = 0; i < cols; i++) {
      let v = 0;
      for (let j = 0; j < cols; j++) v += h[i * cols + j] * d[j];
      e += d[i] * v;
    }
  }
  return e;
}

function randomWeights(rows: number, cols: number, rnd: () => number): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => rnd() * (1 + rnd()));
}

const copyFit = (f: BcqFit): BcqFit => ({
  ...f,
  signs: f.signs.slice(),
  scales: Object.fromEntries(Object.entries(f.scales).map(([k, v]) => [k, v.slice()])),
  offsets: f.offsets ? Object.fromEntries(Object.entries(f.offsets).map(([k, v]) => [k, v.slice()])) : null,
});

/** GPTQ's damping: 1% of the mean diagonal of H. */
function onePercentDamping(h: Float64Array, cols: number): number {
  let mean = 0;
  for (let i = 0; i < cols; i++) mean += h[i * cols + i];
  return (0.01 * mean) / cols;
}

/** A random layer, its data-free 4-bit fit (base 2, groups of 64) and a correlated Gram matrix. */
function layerFixture(rows: number, cols: number, seed: number, tokens: number) {
  const rnd = lcg(seed);
  const w = randomWeights(rows, cols, rnd);
  const o = { bits: 4, baseBits: 2, groupSize: 64, offsets: true, cycles: 10 };
  const fit = fitMatrixTs(w, rows, cols, o);
  const h = correlatedGram(cols, tokens, rnd, 0.5);
  return { rows, cols, w, o, fit, h, lam: onePercentDamping(h, cols) };
}

describe('inverseCholeskyUpper', () => {
  it('is upper triangular with UᵀU = (H + λI)⁻¹', () => {
    const n = 12;
    const h = correlatedGram(n, 40, lcg(1));
    const lam = 0.3;
    const u = inverseCholeskyUpper(h, n, lam);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
    // (UᵀU)(H + λI) = I
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let v = 0;
        for (let k = 0; k < n; k++) {
          let utu = 0;
          for (let m = 0; m < n; m++) utu += u[m * n + i] * u[m * n + k];
          v += utu * (h[k * n + j] + (k === j ? lam : 0));
        }
        expect(v).toBeCloseTo(i === j ? 1 : 0, 8);
      }
    }
  });

  it('raises the damping when H is singular and λ = 0', () => {
    const n = 4;
    const h = new Float64Array(n * n);
    h[0] = 1; // rank one
    const u = inverseCholeskyUpper(h, n, 0);
    expect(u.every(Number.isFinite)).toBe(true);
  });
});

describe('gptqPlane', () => {
  it('with diagonal H equals the brute-force optimum over every sign pattern of the new plane', () => {
    const rows = 6;
    const cols = 8;
    const rnd = lcg(7);
    const w = randomWeights(rows, cols, rnd);
    const o = { bits: 3, baseBits: 2, groupSize: 4, offsets: true, cycles: 5 };
    const fit = fitMatrixTs(w, rows, cols, o);
    const d = Float64Array.from({ length: cols }, () => 0.1 + rnd() + 0.5);
    const h = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) h[i * cols + i] = d[i];
    const g = copyFit(fit);
    gptqPlane(w, g, 3, inverseCholeskyUpper(h, cols, 0));
    // planes 0, 1 untouched
    expect(g.signs.subarray(0, 2 * rows * cols)).toEqual(fit.signs.subarray(0, 2 * rows * cols));
    const p = widthParams(fit, 3);
    for (let r = 0; r < rows; r++) {
      let best = Infinity;
      for (let pat = 0; pat < 1 << cols; pat++) {
        const t = copyFit(fit);
        for (let c = 0; c < cols; c++) t.signs[(2 * rows + r) * cols + c] = pat & (1 << c) ? 1 : -1;
        const q = dequantizeWidth(t, 3, p);
        let e = 0;
        for (let c = 0; c < cols; c++) e += d[c] * (w[r * cols + c] - q[r * cols + c]) ** 2;
        best = Math.min(best, e);
      }
      const q = dequantizeWidth(g, 3, p);
      let e = 0;
      for (let c = 0; c < cols; c++) e += d[c] * (w[r * cols + c] - q[r * cols + c]) ** 2;
      expect(e).toBeCloseTo(best, 5);
    }
  });

  it('with a general H picks, column by column, the value nearer to the conditional optimum', () => {
    const rows = 5;
    const cols = 10;
    const rnd = lcg(11);
    const w = randomWeights(rows, cols, rnd);
    const fit = fitMatrixTs(w, rows, cols, { bits: 3, baseBits: 2, groupSize: 5, offsets: true, cycles: 5 });
    const lam = 0.05;
    const h = correlatedGram(cols, 30, rnd);
    const hl = Array.from({ length: cols }, (_, i) =>
      Array.from({ length: cols }, (_, j) => h[i * cols + j] + (i === j ? lam : 0)),
    );
    const g = copyFit(fit);
    gptqPlane(w, g, 3, inverseCholeskyUpper(h, cols, lam));
    const sc = fit.scales[3];
    const off = fit.offsets![3];
    let flips = 0;
    for (let r = 0; r < rows; r++) {
      const delta: number[] = []; // ŵ − w of decided columns
      for (let j = 0; j < cols; j++) {
        // free columns j..n−1: H_FF δ_F = −H_FD δ_D
        const F = Array.from({ length: cols - j }, (_, i) => j + i);
        const rhs = F.map((i) => -delta.reduce((s, dv, k) => s + hl[i][k] * dv, 0));
        const dF = gaussSolve(
          F.map((i) => F.map((k) => hl[i][k])),
          rhs,
        );
        const target = w[r * cols + j] + dF[0];
        const gi = Math.floor(j / 5);
        const sb = (r * 2 + gi) * 3;
        const base =
          off[r * 2 + gi] + sc[sb] * fit.signs[r * cols + j] + sc[sb + 1] * fit.signs[(rows + r) * cols + j];
        const a = sc[sb + 2];
        const s = Math.abs(target - (base + a)) <= Math.abs(target - (base - a)) ? 1 : -1;
        expect(g.signs[(2 * rows + r) * cols + j]).toBe(s);
        if (s !== fit.signs[(2 * rows + r) * cols + j]) flips++;
        delta.push(base + s * a - w[r * cols + j]);
      }
    }
    expect(flips).toBeGreaterThan(0); // the data-aware choice differs from the residual sign somewhere
  });
});

/**
 * Unblocked GPTQ written directly from the definition, one row at a time in f64: visit the
 * columns in `order`, take the nearest of the 2^(p−first) candidate values, spread the scaled
 * error onto every later column through U (the factor of the permuted H).
 */
function referenceSelect(
  weight: Float32Array,
  fit: BcqFit,
  p: number,
  first: number,
  u: Float64Array,
  order: number[],
): Int8Array {
  const { rows, cols, groupSize: g, groups } = fit;
  const signs = fit.signs.slice();
  const sc = fit.scales[p];
  const off = fit.offsets?.[p];
  for (let r = 0; r < rows; r++) {
    const w = order.map((j) => weight[r * cols + j]);
    for (let t = 0; t < cols; t++) {
      const j = order[t];
      const gi = Math.floor(j / g);
      const sb = (r * groups + gi) * p;
      let base = off ? off[r * groups + gi] : 0;
      for (let i = 0; i < first; i++) base += sc[sb + i] * signs[(i * rows + r) * cols + j];
      let best = Infinity;
      let q = 0;
      let pick = 0;
      for (let pat = 0; pat < 1 << (p - first); pat++) {
        let v = base;
        for (let i = first; i < p; i++) v += (pat & (1 << (i - first)) ? 1 : -1) * sc[sb + i];
        if (Math.abs(w[t] - v) < best) {
          best = Math.abs(w[t] - v);
          q = v;
          pick = pat;
        }
      }
      for (let i = first; i < p; i++) signs[(i * rows + r) * cols + j] = pick & (1 << (i - first)) ? 1 : -1;
      const e = (w[t] - q) / u[t * cols + t];
      for (let k = t + 1; k < cols; k++) w[k] -= e * u[t * cols + k];
    }
  }
  return signs;
}

describe('gptqSelect', () => {
  it('matches unblocked GPTQ over several blocks, for joint planes and act-order', () => {
    const rows = 12;
    const cols = 320; // 3 blocks of 128 (the last partial)
    const rnd = lcg(21);
    const w = randomWeights(rows, cols, rnd);
    const fit = fitMatrixTs(w, rows, cols, { bits: 4, baseBits: 2, groupSize: 64, offsets: true, cycles: 5 });
    const h = correlatedGram(cols, 500, rnd, 0.7);
    const lam = onePercentDamping(h, cols);
    for (const [first, actOrder] of [
      [3, false],
      [2, true],
      [0, true],
    ] as const) {
      const f = gptqFactor(h, cols, lam, actOrder);
      const order = f.perm ? Array.from(f.perm) : Array.from({ length: cols }, (_, i) => i);
      if (actOrder) {
        // visiting order: decreasing diag(H), a permutation of the columns
        expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: cols }, (_, i) => i));
        for (let t = 1; t < cols; t++)
          expect(h[order[t - 1] * cols + order[t - 1]]).toBeGreaterThanOrEqual(h[order[t] * cols + order[t]]);
      }
      const want = referenceSelect(w, fit, 4, first, f.u, order);
      const g = copyFit(fit);
      gptqSelect(w, g, 4, first, f);
      // planes below `first` untouched
      expect(g.signs.subarray(0, first * rows * cols)).toEqual(fit.signs.subarray(0, first * rows * cols));
      // the trailing updates run in f32: allow a rare flip at a near tie
      let same = 0;
      for (let i = 0; i < want.length; i++) if (want[i] === g.signs[i]) same++;
      expect(same / want.length).toBeGreaterThan(0.995);
    }
  });

  it('with diagonal H gives every weight the nearest of the candidate levels', () => {
    const rows = 7;
    const cols = 200;
    const rnd = lcg(3);
    const w = randomWeights(rows, cols, rnd);
    const fit = fitMatrixTs(w, rows, cols, { bits: 4, baseBits: 2, groupSize: 64, offsets: true, cycles: 5 });
    const h = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) h[i * cols + i] = 0.2 + rnd() + 0.5;
    const g = copyFit(fit);
    gptqSelect(w, g, 4, 0, gptqFactor(h, cols, 0, true));
    const q = dequantizeWidth(g, 4, widthParams(g, 4));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const gi = Math.floor(c / 64);
        const sb = (r * fit.groups + gi) * 4;
        let best = Infinity;
        for (let pat = 0; pat < 16; pat++) {
          let v = fit.offsets![4][r * fit.groups + gi];
          for (let i = 0; i < 4; i++) v += (pat & (1 << i) ? 1 : -1) * fit.scales[4][sb + i];
          best = Math.min(best, Math.abs(w[r * cols + c] - v));
        }
        expect(Math.abs(w[r * cols + c] - q[r * cols + c])).toBeCloseTo(best, 6);
      }
    }
  });

  it('rejects a bad plane range or factor', () => {
    const w = randomWeights(2, 64, lcg(1));
    const fit = fitMatrixTs(w, 2, 64, { bits: 3, baseBits: 2, groupSize: 64, offsets: true, cycles: 2 });
    const h = correlatedGram(64, 80, lcg(2));
    expect(() => gptqSelect(w, fit, 3, 3, gptqFactor(h, 64, 0.1))).toThrow(/first/);
    expect(() => gptqSelect(w, fit, 3, 2, gptqFactor(correlatedGram(32, 40, lcg(2)), 32, 0.1))).toThrow(
      /columns/,
    );
  });
});

describe('gptqExpand', () => {
  it('keeps the base width, and lowers the activation-weighted error of the wider widths', () => {
    const { rows, cols, w, o, fit, h, lam } = layerFixture(64, 128, 5, 400);
    const g = copyFit(fit);
    gptqExpand(w, g, h, lam, o.cycles);
    expect(g.signs.subarray(0, 2 * rows * cols)).toEqual(fit.signs.subarray(0, 2 * rows * cols));
    expect(g.scales[2]).toEqual(fit.scales[2]);
    const hd = dampedF32(h, cols, lam);
    let prev = Infinity;
    for (const b of [3, 4]) {
      // baseline: data-free planes with the same output least-squares refit of the scales
      const dataFree = weightedError(
        w,
        dequantizeWidth(fit, b, refitOutput(w, fit, b, hd, null)),
        h,
        rows,
        cols,
      );
      const gptq = weightedError(w, dequantizeWidth(g, b, widthParams(g, b)), h, rows, cols);
      expect(gptq).toBeLessThan(dataFree);
      expect(gptq).toBeLessThan(prev); // still falls with width
      prev = gptq;
    }
  });

  it("'joint' re-chooses the added planes for the widest width: lower error there, base kept", () => {
    const { rows, cols, w, o, fit, h, lam } = layerFixture(48, 256, 17, 600);
    const hd = dampedF32(h, cols, lam);
    const err = (f: BcqFit, b: number) =>
      weightedError(w, dequantizeWidth(f, b, widthParams(f, b)), h, rows, cols);
    const seq = copyFit(fit);
    gptqExpand(w, seq, h, lam, o.cycles, { rounds: 2 });
    for (const actOrder of [false, true]) {
      const joint = copyFit(fit);
      gptqExpand(w, joint, h, lam, o.cycles, {
        rounds: 2,
        planes: 'joint',
        factor: gptqFactor(h, cols, lam, actOrder),
      });
      // base planes and the base width's scales untouched
      expect(joint.signs.subarray(0, 2 * rows * cols)).toEqual(fit.signs.subarray(0, 2 * rows * cols));
      expect(joint.scales[2]).toEqual(fit.scales[2]);
      // the widest width gains over choosing each plane for its own width
      expect(err(joint, 4)).toBeLessThan(err(seq, 4));
      // width 3 keeps output-optimal scales for the final plane 2, and the error still falls with width
      const ref3 = refitOutput(w, joint, 3, hd, null);
      for (let i = 0; i < ref3.scales.length; i++) expect(joint.scales[3][i]).toBeCloseTo(ref3.scales[i], 9);
      expect(err(joint, 4)).toBeLessThan(err(joint, 3));
      expect(err(joint, 3)).toBeLessThan(err(joint, 2));
    }
  });

  it("'all' re-chooses every plane (the base ones too) and refits every width", () => {
    const rows = 16;
    const cols = 128;
    const rnd = lcg(23);
    const w = randomWeights(rows, cols, rnd);
    const o = { bits: 3, baseBits: 2, groupSize: 64, offsets: true, cycles: 10 };
    const fit = fitMatrixTs(w, rows, cols, o);
    const h = correlatedGram(cols, 300, rnd, 0.5);
    const lam = 0.05;
    const g = copyFit(fit);
    gptqExpand(w, g, h, lam, o.cycles, { planes: 'all' });
    let changed = 0;
    for (let i = 0; i < 2 * rows * cols; i++) if (g.signs[i] !== fit.signs[i]) changed++;
    expect(changed).toBeGreaterThan(0);
    const ref2 = refitOutput(w, g, 2, dampedF32(h, cols, lam), null);
    for (let i = 0; i < ref2.scales.length; i++) expect(g.scales[2][i]).toBeCloseTo(ref2.scales[i], 9);
  });

  it('expandPlane restarts a plane from the residual sign and never raises the weight error', () => {
    const rows = 8;
    const cols = 64;
    const rnd = lcg(9);
    const w = randomWeights(rows, cols, rnd);
    const o = { bits: 3, baseBits: 2, groupSize: 64, offsets: true, cycles: 20 };
    const fit = fitMatrixTs(w, rows, cols, o);
    const g = copyFit(fit);
    g.signs.fill(1, 2 * rows * cols); // scramble plane 2
    expandPlane(w, g, 3, o.cycles);
    // same algorithm as the fit's stage B: same plane and scales back
    expect(g.signs).toEqual(fit.signs);
    for (let i = 0; i < g.scales[3].length; i++) expect(g.scales[3][i]).toBeCloseTo(fit.scales[3][i], 9);
  });
});

// AnyBCQ data-free fitting against independent oracles written here: a direct
// least-squares solve (Gaussian elimination with partial pivoting on the normal equations),
// brute force over all 2^b sign patterns, and the synthetic weight-MSE table of
// ../shared/reference/anybcq.md §2.5.

import { bcqNativeAvailable } from '@anyprec/kernels-cpu';
import { describe, expect, it } from 'vitest';
import { assignCodes, fitMatrix, fitMatrixTs, groupError, refitScales } from '../src/anybcq/fit.js';
import { gaussSolve } from './oracles.js';

/** Deterministic normal samples (xorshift + Box-Muller), independent of the code under test. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** Student-t with 4 degrees of freedom from normals. */
function studentT4(seed: number): () => number {
  const g = gaussian(seed);
  return () => {
    let chi = 0;
    for (let i = 0; i < 4; i++) chi += g() ** 2;
    return g() / Math.sqrt(chi / 4);
  };
}

/** Direct weighted least squares: columns = sign planes (+ ones), solved through the normal equations. */
function directLs(w: number[], planes: number[][], withOffset: boolean, d?: number[]): number[] {
  const cols = withOffset ? [...planes, w.map(() => 1)] : planes;
  const mat = cols.map((ci) => cols.map((ck) => ci.reduce((s, v, j) => s + v * ck[j] * (d ? d[j] : 1), 0)));
  const rhs = cols.map((ci) => ci.reduce((s, v, j) => s + v * w[j] * (d ? d[j] : 1), 0));
  return gaussSolve(mat, rhs);
}

describe('refitScales', () => {
  for (const withOffset of [false, true]) {
    for (const weighted of [false, true]) {
      it(`matches a direct least-squares solve (offset=${withOffset}, weighted=${weighted})`, () => {
        const rnd = gaussian(7 + (withOffset ? 1 : 0) + (weighted ? 2 : 0));
        const n = 128;
        const p = 3;
        const w = Array.from({ length: n }, () => rnd());
        const planes = Array.from({ length: p }, () => Array.from({ length: n }, () => (rnd() > 0 ? 1 : -1)));
        const d = weighted ? Array.from({ length: n }, () => 0.1 + rnd() ** 2) : undefined;
        const signs = Int8Array.from(planes.flat());
        const alpha = new Float64Array(p);
        const beta = refitScales(
          Float64Array.from(w),
          n,
          signs,
          n,
          p,
          withOffset,
          alpha,
          d ? Float64Array.from(d) : null,
        );
        const expected = directLs(w, planes, withOffset, d);
        for (let i = 0; i < p; i++) expect(alpha[i]).toBeCloseTo(expected[i], 10);
        if (withOffset) expect(beta).toBeCloseTo(expected[p], 10);
        else expect(beta).toBe(0);
      });
    }
  }

  it('handles duplicated planes (singular normal matrix) with the optimal error', () => {
    const rnd = gaussian(3);
    const n = 64;
    const w = Array.from({ length: n }, () => rnd());
    const p0 = Array.from({ length: n }, () => (rnd() > 0 ? 1 : -1));
    const signs = Int8Array.from([...p0, ...p0]);
    const alpha = new Float64Array(2);
    const beta = refitScales(Float64Array.from(w), n, signs, n, 2, true, alpha);
    const single = directLs(w, [p0], true);
    const err = groupError(Float64Array.from(w), n, signs, n, 2, alpha, beta);
    const ref = w.reduce((s, v, j) => s + (v - single[1] - single[0] * p0[j]) ** 2, 0);
    expect(Number.isFinite(alpha[0]) && Number.isFinite(alpha[1])).toBe(true);
    expect(err).toBeCloseTo(ref, 10);
  });
});

describe('assignCodes', () => {
  for (const q of [1, 2, 3, 4, 5]) {
    it(`picks a nearest level like brute force over all 2^${q} sign patterns`, () => {
      const rnd = gaussian(100 + q);
      const n = 500;
      // Unsorted, arbitrary positive scales: the binary search must not assume an order.
      const alpha = Array.from({ length: q }, () => 0.05 + Math.abs(rnd()));
      const r = Float64Array.from({ length: n }, () => 1.5 * rnd());
      const signs = new Int8Array(q * n);
      assignCodes(r, n, alpha, q, signs, n);
      for (let j = 0; j < n; j++) {
        let best = Number.POSITIVE_INFINITY;
        for (let pat = 0; pat < 1 << q; pat++) {
          let v = 0;
          for (let i = 0; i < q; i++) v += (pat >> i) & 1 ? alpha[i] : -alpha[i];
          best = Math.min(best, Math.abs(r[j] - v));
        }
        let got = 0;
        for (let i = 0; i < q; i++) got += alpha[i] * signs[i * n + j];
        expect(Math.abs(r[j] - got)).toBeCloseTo(best, 12);
      }
    });
  }
});

/** Per-group squared error of width b computed here from the fit's planes and scales. */
function groupErrors(weight: Float32Array, fit: ReturnType<typeof fitMatrixTs>, b: number): number[] {
  const { rows, cols, groupSize: g, groups } = fit;
  const errs: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < groups; gi++) {
      let e = 0;
      for (let c = gi * g; c < Math.min(cols, (gi + 1) * g); c++) {
        let v = fit.offsets ? fit.offsets[b][r * groups + gi] : 0;
        for (let i = 0; i < b; i++)
          v += fit.scales[b][(r * groups + gi) * b + i] * fit.signs[(i * rows + r) * cols + c];
        e += (weight[r * cols + c] - v) ** 2;
      }
      errs.push(e);
    }
  }
  return errs;
}

// Both implementations face the same oracles: the TypeScript reference and the native kernel.
const implementations = [
  { impl: 'typescript', fit: fitMatrixTs, skip: false },
  { impl: 'native', fit: fitMatrix, skip: !bcqNativeAvailable() },
];

describe.each(implementations)('fitMatrix ($impl)', ({ fit: fitMatrix, skip }) => {
  if (skip) {
    it.skip('native addon not built (pnpm --filter @anyprec/kernels-cpu build)', () => {});
    return;
  }
  const rows = 24;
  const cols = 704; // like tiny's down_proj: the last group of 128 holds 64 inputs
  const weight = Float32Array.from({ length: rows * cols }, studentT4(11));

  for (const offsets of [false, true]) {
    it(`reconstruction error of every group is non-increasing with width (offsets=${offsets})`, () => {
      const fit = fitMatrix(weight, rows, cols, {
        bits: 6,
        baseBits: 2,
        groupSize: 128,
        offsets,
        cycles: 20,
      });
      let prev = groupErrors(weight, fit, 2);
      for (let b = 3; b <= 6; b++) {
        const cur = groupErrors(weight, fit, b);
        for (let k = 0; k < cur.length; k++)
          expect(cur[k]).toBeLessThanOrEqual(prev[k] * (1 + 1e-12) + 1e-18);
        // and strictly better on average: a new plane is never useless on continuous data
        expect(cur.reduce((s, v) => s + v, 0)).toBeLessThan(prev.reduce((s, v) => s + v, 0) * 0.9);
        prev = cur;
      }
    });
  }

  it('stores least-squares optimal scales for the final codes at every width', () => {
    const fit = fitMatrix(weight, rows, cols, {
      bits: 4,
      baseBits: 2,
      groupSize: 128,
      offsets: true,
      cycles: 20,
    });
    const { groups } = fit;
    for (const [r, gi] of [
      [0, 0],
      [5, 3],
      [23, 5],
    ]) {
      const c0 = gi * 128;
      const n = Math.min(128, cols - c0);
      const w = Array.from({ length: n }, (_, j) => weight[r * cols + c0 + j]);
      for (let b = 2; b <= 4; b++) {
        const planes = Array.from({ length: b }, (_, i) =>
          Array.from({ length: n }, (_, j) => fit.signs[(i * rows + r) * cols + c0 + j]),
        );
        const x = directLs(w, planes, true);
        for (let i = 0; i < b; i++) expect(fit.scales[b][(r * groups + gi) * b + i]).toBeCloseTo(x[i], 9);
        expect(fit.offsets![b][r * groups + gi]).toBeCloseTo(x[b], 9);
      }
    }
  });

  it('with per-input importance, stores the importance-weighted least-squares scales', () => {
    const d = Float64Array.from({ length: cols }, (_, c) => 0.2 + ((c * 37) % 11) / 5);
    const fit = fitMatrix(
      weight,
      rows,
      cols,
      { bits: 3, baseBits: 2, groupSize: 128, offsets: true, cycles: 20 },
      d,
    );
    const { groups } = fit;
    for (const [r, gi] of [
      [2, 1],
      [17, 5],
    ]) {
      const c0 = gi * 128;
      const n = Math.min(128, cols - c0);
      const w = Array.from({ length: n }, (_, j) => weight[r * cols + c0 + j]);
      const dj = Array.from(d.subarray(c0, c0 + n));
      for (let b = 2; b <= 3; b++) {
        const planes = Array.from({ length: b }, (_, i) =>
          Array.from({ length: n }, (_, j) => fit.signs[(i * rows + r) * cols + c0 + j]),
        );
        const x = directLs(w, planes, true, dj);
        for (let i = 0; i < b; i++) expect(fit.scales[b][(r * groups + gi) * b + i]).toBeCloseTo(x[i], 9);
        expect(fit.offsets![b][r * groups + gi]).toBeCloseTo(x[b], 9);
      }
    }
  });

  it('base-width codes are optimal for the stored base scales (alternating fit converged or stopped at a fixed point)', () => {
    const fit = fitMatrix(weight, rows, cols, {
      bits: 2,
      baseBits: 2,
      groupSize: 128,
      offsets: false,
      cycles: 20,
    });
    const { groups } = fit;
    let worse = 0;
    for (let r = 0; r < rows; r++) {
      for (let gi = 0; gi < groups; gi++) {
        const a = fit.scales[2].subarray((r * groups + gi) * 2, (r * groups + gi) * 2 + 2);
        for (let c = gi * 128; c < Math.min(cols, (gi + 1) * 128); c++) {
          const w = weight[r * cols + c];
          const got = Math.abs(w - a[0] * fit.signs[r * cols + c] - a[1] * fit.signs[(rows + r) * cols + c]);
          const best = Math.min(
            ...[1, -1].flatMap((s0) => [1, -1].map((s1) => Math.abs(w - s0 * a[0] - s1 * a[1]))),
          );
          if (got > best + 1e-9) worse++;
        }
      }
    }
    // After 20 cycles nearly every group sits at a fixed point of (refit, reassign).
    expect(worse / (rows * cols)).toBeLessThan(0.01);
  });

  it('is deterministic', () => {
    const o = { bits: 4, baseBits: 2, groupSize: 64, offsets: true, cycles: 20 };
    const a = fitMatrix(weight, rows, cols, o);
    const b = fitMatrix(weight, rows, cols, o);
    expect(Buffer.from(a.signs.buffer).equals(Buffer.from(b.signs.buffer))).toBe(true);
    for (let w = 2; w <= 4; w++) expect(Array.from(a.scales[w])).toEqual(Array.from(b.scales[w]));
  });

  // Oracle: ../shared/reference/anybcq.md §2.5 (numpy simulation, 4096 groups × 128, i.i.d.
  // weights, T = 20, relative weight-MSE, symmetric BCQ). Same group count; Student-t's heavy
  // tails make the ratio vary by ~1-2% between samples, so allow 5%.
  it('matches the reference synthetic weight-MSE table (Gaussian and Student-t(4), progressive)', () => {
    const cases = [
      { name: 'gaussian', gen: gaussian(21), expected: { 2: 0.114, 3: 0.0383, 4: 0.0151 } },
      { name: 'student-t4', gen: studentT4(22), expected: { 2: 0.182, 3: 0.0824, 4: 0.0361 } },
    ];
    for (const { gen, expected } of cases) {
      const r = 4096;
      const w = Float32Array.from({ length: r * 128 }, gen);
      const fit = fitMatrix(w, r, 128, { bits: 4, baseBits: 2, groupSize: 128, offsets: false, cycles: 20 });
      const energy = w.reduce((s, v) => s + v * v, 0);
      for (const b of [2, 3, 4] as const) {
        const rel = groupErrors(w, fit, b).reduce((s, v) => s + v, 0) / energy;
        expect(Math.abs(rel / expected[b] - 1)).toBeLessThan(0.05);
      }
    }
  });
});

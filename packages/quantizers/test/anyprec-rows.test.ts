// The Any-Precision row quantizer (native hot loop) against independent oracles written
// here: brute-force f16 rounding, brute-force optimal 2-means splits, an exact O(k n^2)
// dynamic program for optimal 1-D k-means, and weighted means recomputed from the indices.
import { cpuInfo, quantizeAnyPrecRows } from '@anyprec/kernels-cpu';
import { describe, expect, it } from 'vitest';

const native = cpuInfo().available;

// --- oracles --------------------------------------------------------------------------

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// every finite f16 value, ascending, with its bits (-0 dropped)
const F16_SORTED: { v: number; h: number }[] = (() => {
  const out: { v: number; h: number }[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = halfToFloat(h);
    if (Number.isFinite(v) && !(v === 0 && h !== 0)) out.push({ v, h });
  }
  return out.sort((a, b) => a.v - b.v);
})();

/** Nearest f16 value (ties to the even mantissa) by binary search over all f16 values. */
function nearestF16(x: number): number {
  let lo = 0;
  let hi = F16_SORTED.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (F16_SORTED[mid].v <= x) lo = mid;
    else hi = mid;
  }
  const a = F16_SORTED[lo];
  const b = F16_SORTED[hi];
  const da = Math.abs(x - a.v);
  const db = Math.abs(b.v - x);
  if (da < db) return a.v;
  if (db < da) return b.v;
  return (a.h & 1) === 0 ? a.v : b.v;
}

/** Weighted SSE of values around their weighted mean (f64, two-pass). */
function sse(xs: number[], ws: number[]): number {
  let w = 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    w += ws[i];
    s += ws[i] * xs[i];
  }
  if (w === 0) return 0;
  const mu = s / w;
  let e = 0;
  for (let i = 0; i < xs.length; i++) e += ws[i] * (xs[i] - mu) ** 2;
  return e;
}

function weightedMean(xs: number[], ws: number[]): number {
  let w = 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    w += ws[i];
    s += ws[i] * xs[i];
  }
  return s / w;
}

/** Distinct sorted values with summed weights. */
function distinct(xs: number[], ws: number[]): { v: number[]; w: number[] } {
  const map = new Map<number, number>();
  for (let i = 0; i < xs.length; i++) map.set(xs[i], (map.get(xs[i]) ?? 0) + ws[i]);
  const v = [...map.keys()].sort((a, b) => a - b);
  return { v, w: v.map((x) => map.get(x)!) };
}

/** Optimal weighted 1-D k-means cost by the exact O(k m^2) dynamic program. */
function optimalKMeansCost(xs: number[], ws: number[], k: number): number {
  const { v, w } = distinct(xs, ws);
  const m = v.length;
  if (m <= k) return 0;
  const cost = (a: number, b: number) => sse(v.slice(a, b), w.slice(a, b));
  const c: number[][] = [];
  for (let a = 0; a < m; a++) {
    c.push([]);
    for (let b = a + 1; b <= m; b++) c[a][b] = cost(a, b);
  }
  let prev = Array.from({ length: m + 1 }, (_, j) => (j === 0 ? 0 : c[0][j]));
  for (let layer = 2; layer <= k; layer++) {
    const cur = new Array(m + 1).fill(Number.POSITIVE_INFINITY);
    cur[0] = 0;
    for (let j = 1; j <= m; j++)
      for (let i = layer - 1; i < j; i++) cur[j] = Math.min(cur[j], prev[i] + c[i][j]);
    prev = cur;
  }
  return prev[m];
}

/** Minimal weighted SSE of splitting sorted distinct values into two contiguous non-empty parts. */
function bestTwoSplitCost(xs: number[], ws: number[]): number {
  const { v, w } = distinct(xs, ws);
  if (v.length < 2) return 0;
  let best = Number.POSITIVE_INFINITY;
  for (let d = 1; d < v.length; d++)
    best = Math.min(best, sse(v.slice(0, d), w.slice(0, d)) + sse(v.slice(d), w.slice(d)));
  return best;
}

// --- helpers ----------------------------------------------------------------------------

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

function gaussianRows(
  rows: number,
  cols: number,
  seed: number,
): { weight: Float32Array; sens: Float32Array } {
  const r = lcg(seed);
  const weight = new Float32Array(rows * cols);
  const sens = new Float32Array(rows * cols);
  for (let i = 0; i < weight.length; i++) {
    weight[i] = 0.05 * Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r());
    sens[i] = r() ** 3;
  }
  return { weight, sens };
}

/** Members (values and weights) of cluster c at width b in one row. */
function members(
  x: Float32Array,
  f: Float32Array,
  idx: Uint8Array,
  row: number,
  cols: number,
  shift: number,
  c: number,
) {
  const xs: number[] = [];
  const ws: number[] = [];
  for (let j = 0; j < cols; j++) {
    if (idx[row * cols + j] >> shift === c) {
      xs.push(x[row * cols + j]);
      ws.push(f[row * cols + j]);
    }
  }
  return { xs, ws };
}

/** Sensitivity-weighted squared reconstruction error of one width over the whole matrix. */
function reconstructionError(
  x: Float32Array,
  f: Float32Array,
  idx: Uint8Array,
  lut: Uint16Array,
  rows: number,
  cols: number,
  shift: number,
  bits: number,
): number {
  let e = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const q = halfToFloat(lut[(r << bits) + (idx[r * cols + j] >> shift)]);
      e += f[r * cols + j] * (x[r * cols + j] - q) ** 2;
    }
  }
  return e;
}

// --- tests --------------------------------------------------------------------------------

describe.skipIf(!native)('quantizeAnyPrecRows (native Any-Precision seed + upscaling)', () => {
  const rows = 12;
  const cols = 96;
  const { weight, sens } = gaussianRows(rows, cols, 7);
  const seedBits = 3;
  const parentBits = 8;
  const q = quantizeAnyPrecRows(weight, sens, rows, cols, { seedBits, parentBits, seed: 1, restarts: 4 });

  it('returns one f16 table per width and parent indices of parentBits bits', () => {
    expect(q.luts.map((l) => l.length)).toEqual([3, 4, 5, 6, 7, 8].map((b) => rows << b));
    expect(q.indices.length).toBe(rows * cols);
  });

  it('stores, at every width, the f16-rounded weighted mean of the members indexed by the top b bits', () => {
    for (let b = seedBits; b <= parentBits; b++) {
      const lut = q.luts[b - seedBits];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < 1 << b; c++) {
          const { xs, ws } = members(weight, sens, q.indices, r, cols, parentBits - b, c);
          if (xs.length === 0) continue;
          // the quantizer adds a 1e-6 * mean-sensitivity floor to every weight (documented)
          const meanF = sens.slice(r * cols, (r + 1) * cols).reduce((a, v) => a + v, 0) / cols;
          const mu = weightedMean(
            xs,
            ws.map((w) => w + 1e-6 * meanF),
          );
          expect(halfToFloat(lut[(r << b) + c])).toBe(nearestF16(mu));
        }
      }
    }
  });

  it('splits every cluster by the optimal weighted 2-means of its own members (contiguous children)', () => {
    for (let b = seedBits; b < parentBits; b++) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < 1 << b; c++) {
          const parent = members(weight, sens, q.indices, r, cols, parentBits - b, c);
          if (new Set(parent.xs).size < 2) continue;
          const lo = members(weight, sens, q.indices, r, cols, parentBits - b - 1, 2 * c);
          const hi = members(weight, sens, q.indices, r, cols, parentBits - b - 1, 2 * c + 1);
          expect(lo.xs.length).toBeGreaterThan(0);
          expect(hi.xs.length).toBeGreaterThan(0);
          expect(Math.max(...lo.xs)).toBeLessThan(Math.min(...hi.xs));
          const got = sse(lo.xs, lo.ws) + sse(hi.xs, hi.ws);
          const best = bestTwoSplitCost(parent.xs, parent.ws);
          expect(got).toBeLessThanOrEqual(best * (1 + 1e-6) + 1e-18);
        }
      }
    }
  });

  it('seeds with a Lloyd fixed point close to the optimal 1-D k-means (exact DP oracle)', () => {
    let ratioSum = 0;
    for (let r = 0; r < rows; r++) {
      const xs = Array.from(weight.slice(r * cols, (r + 1) * cols));
      const ws = Array.from(sens.slice(r * cols, (r + 1) * cols));
      const k = 1 << seedBits;
      const means: number[] = [];
      let cost = 0;
      for (let c = 0; c < k; c++) {
        const m = members(weight, sens, q.indices, r, cols, parentBits - seedBits, c);
        means.push(m.xs.length ? weightedMean(m.xs, m.ws) : Number.NaN);
        cost += sse(m.xs, m.ws);
      }
      // Lloyd fixed point: every weight is at least as close to its own centroid as to any other
      for (let j = 0; j < cols; j++) {
        const own = means[q.indices[r * cols + j] >> (parentBits - seedBits)];
        for (const other of means) {
          if (Number.isNaN(other)) continue;
          expect(Math.abs(xs[j] - own)).toBeLessThanOrEqual(Math.abs(xs[j] - other) + 1e-7);
        }
      }
      const opt = optimalKMeansCost(xs, ws, k);
      expect(cost).toBeGreaterThanOrEqual(opt * (1 - 1e-9));
      ratioSum += cost / opt;
    }
    expect(ratioSum / rows).toBeLessThan(1.05);
  });

  it("seedInit 'optimal' reaches the exact DP optimum on every row", () => {
    const opt = quantizeAnyPrecRows(weight, sens, rows, cols, {
      seedBits,
      parentBits: seedBits,
      seedInit: 'optimal',
    });
    for (let r = 0; r < rows; r++) {
      let cost = 0;
      for (let c = 0; c < 1 << seedBits; c++) {
        const m = members(weight, sens, opt.indices, r, cols, 0, c);
        cost += sse(m.xs, m.ws);
      }
      const best = optimalKMeansCost(
        Array.from(weight.slice(r * cols, (r + 1) * cols)),
        Array.from(sens.slice(r * cols, (r + 1) * cols)),
        1 << seedBits,
      );
      expect(cost).toBeLessThanOrEqual(best * (1 + 1e-6));
    }
  });

  it('lowers the sensitivity-weighted reconstruction error with every extra bit', () => {
    let prev = Number.POSITIVE_INFINITY;
    for (let b = seedBits; b <= parentBits; b++) {
      const e = reconstructionError(
        weight,
        sens,
        q.indices,
        q.luts[b - seedBits],
        rows,
        cols,
        parentBits - b,
        b,
      );
      expect(e).toBeLessThan(prev);
      prev = e;
    }
  });

  it('is deterministic for a seed, independent of the thread count, and the seed matters', () => {
    const again = quantizeAnyPrecRows(weight, sens, rows, cols, {
      seedBits,
      parentBits,
      seed: 1,
      restarts: 4,
      threads: 1,
    });
    expect(again.indices).toEqual(q.indices);
    expect(again.luts).toEqual(q.luts);
    const other = quantizeAnyPrecRows(weight, sens, rows, cols, {
      seedBits,
      parentBits,
      seed: 2,
      restarts: 1,
      threads: 2,
    });
    expect(other.indices).not.toEqual(q.indices);
  });

  it('supports a 2-bit seed', () => {
    const q2 = quantizeAnyPrecRows(weight, sens, rows, cols, { seedBits: 2, parentBits: 8, seed: 0 });
    expect(q2.luts.length).toBe(7);
    const e2 = reconstructionError(weight, sens, q2.indices, q2.luts[0], rows, cols, 6, 2);
    const e3 = reconstructionError(weight, sens, q2.indices, q2.luts[1], rows, cols, 5, 3);
    expect(e3).toBeLessThan(e2);
  });

  describe('edge cases', () => {
    const P = 5;
    const one = (values: number[], f: number[] | null, seed = 3) =>
      quantizeAnyPrecRows(new Float32Array(values), f ? new Float32Array(f) : null, 1, values.length, {
        seedBits: seed,
        parentBits: P,
      });

    it('constant row: every table entry is the constant, every width exact', () => {
      const res = one(new Array(32).fill(0.125), null);
      for (const lut of res.luts) for (const h of lut) expect(halfToFloat(h)).toBe(0.125);
      expect(new Set(res.indices).size).toBe(1);
    });

    it('fewer distinct values than clusters: exact at the seed; empty clusters repeat a used value', () => {
      const values = [0.5, -0.25, 0.5, 1.0, -0.25, 0.5, 1.0, 1.0];
      const res = one(values, null);
      for (let b = 3; b <= P; b++) {
        const lut = res.luts[b - 3];
        for (let j = 0; j < values.length; j++)
          expect(halfToFloat(lut[res.indices[j] >> (P - b)])).toBe(values[j]);
        for (const h of lut) expect(values).toContain(halfToFloat(h));
      }
    });

    it('a single-value cluster splits into two children equal to the parent (empty child)', () => {
      const res = one([1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9], null, 2);
      // width 2 has 4 clusters over 9 distinct values; once a cluster holds one distinct value
      // its children and all descendants repeat that value
      for (let b = 2; b < P; b++) {
        const lut = res.luts[b - 2];
        const next = res.luts[b - 1];
        for (let c = 0; c < 1 << b; c++) {
          const used = [...res.indices].filter((i) => i >> (P - b) === c);
          if (new Set(used.map((i) => i >> (P - b - 1))).size > 1) continue;
          const emptyChild = used.length && (used[0] >> (P - b - 1)) % 2 === 0 ? 2 * c + 1 : 2 * c;
          if (used.length === 0) {
            expect(halfToFloat(next[2 * c])).toBe(halfToFloat(lut[c]));
            expect(halfToFloat(next[2 * c + 1])).toBe(halfToFloat(lut[c]));
          } else {
            expect(halfToFloat(next[emptyChild])).toBe(halfToFloat(lut[c]));
          }
        }
      }
    });

    it('ties: equal weights always share a parent index', () => {
      const r = lcg(3);
      const values = Array.from({ length: 256 }, () => Math.round(r() * 40) / 16);
      const res = one(
        values,
        values.map(() => r()),
      );
      const byValue = new Map<number, number>();
      values.forEach((v, j) => {
        if (byValue.has(v)) expect(res.indices[j]).toBe(byValue.get(v));
        else byValue.set(v, res.indices[j]);
      });
    });

    it('-0 and +0 are one value', () => {
      const res = one([-0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], null);
      expect(res.indices[0]).toBe(res.indices[1]);
    });

    it('all-zero sensitivities give the unweighted quantization', () => {
      const r = lcg(5);
      const values = Array.from({ length: 64 }, () => r() - 0.5);
      const zero = one(values, new Array(64).fill(0));
      const unit = one(values, null);
      expect(zero.indices).toEqual(unit.indices);
      expect(zero.luts).toEqual(unit.luts);
    });

    it('zero-sensitivity weights still get centroids inside their cluster', () => {
      const r = lcg(9);
      const values = Array.from({ length: 64 }, () => r() - 0.5);
      const f = values.map((_, j) => (j % 3 === 0 ? 0 : r()));
      const res = one(values, f);
      const lut = res.luts[P - 3];
      for (let c = 0; c < 1 << P; c++) {
        const xs = values.filter((_, j) => res.indices[j] === c);
        if (!xs.length) continue;
        const v = halfToFloat(lut[c]);
        expect(v).toBeGreaterThanOrEqual(nearestF16(Math.min(...xs)));
        expect(v).toBeLessThanOrEqual(nearestF16(Math.max(...xs)));
      }
    });

    it('rejects bad arguments before touching memory', () => {
      const w = new Float32Array(64);
      expect(() => quantizeAnyPrecRows(w, null, 2, 33, { seedBits: 3, parentBits: 8 })).toThrow(RangeError);
      expect(() =>
        quantizeAnyPrecRows(w, new Float32Array(3), 2, 32, { seedBits: 3, parentBits: 8 }),
      ).toThrow(/sensitivity/);
      expect(() => quantizeAnyPrecRows(w, null, 2, 32, { seedBits: 3, parentBits: 9 })).toThrow(RangeError);
      const bad = new Float32Array(64);
      bad[5] = Number.NaN;
      expect(() => quantizeAnyPrecRows(bad, null, 2, 32, { seedBits: 3, parentBits: 8 })).toThrow(
        /weight\[5\]/,
      );
      const neg = new Float32Array(64);
      neg[7] = -1;
      expect(() => quantizeAnyPrecRows(w, neg, 2, 32, { seedBits: 3, parentBits: 8 })).toThrow(
        /sensitivity\[7\]/,
      );
      expect(() =>
        quantizeAnyPrecRows(w, null, 2, 32, { seedBits: 3, parentBits: 8, sensitivityFloor: 0 }),
      ).toThrow(/floorFraction/);
    });
  });
});

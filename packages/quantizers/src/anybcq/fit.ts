// Data-free AnyBCQ fitting of one weight matrix (Park et al., ICLR 2026; see
// ../shared/reference/anybcq.md §1.2, §2.2-2.3, §2.5).
//
// Every group of `groupSize` consecutive inputs of one output row is approximated as
//   w ≈ offset + Σ_i scale_i · sign_i,  sign_i ∈ {−1, +1}
// with sign planes shared by every width and one scale set (and offset) per width.
//
// Stage A (base width): greedy residual binarisation, then alternating cycles of a joint
// least-squares refit of the scales (and offset) and the optimal code re-assignment for
// those scales (binary search over the sorted 2^b levels), as in Xu et al. 2018.
// Stage B (expansion p−1 → p): planes 0..p−2 frozen; the new plane is the sign of the
// residual under the current scales, then all p scales and the offset are refit, repeated.
// Unlike the released AnyBCQ code we also re-solve the offset in stage B: it is stored per
// width anyway and the larger least-squares problem can only lower the error.
//
// Every step of both stages is a block-coordinate descent step on the group's squared
// error, so the error never rises within a width, and width p starts from a point that
// reproduces width p−1 (new scale 0): reconstruction error is non-increasing with width.

import { bcqFit, bcqNativeAvailable } from '@anyprec/kernels-cpu';

/** Options of the data-free fit. */
export interface BcqFitOptions {
  /** Maximum (parent) width: the number of sign planes, 1..8. */
  bits: number;
  /** Base width fitted by alternating optimisation, 1..bits. */
  baseBits: number;
  /** Inputs per group along a row (the last group of a row may be shorter). */
  groupSize: number;
  /** Whether every group has an offset (asymmetric BCQ). */
  offsets: boolean;
  /** Alternating cycles per stage (AnyBCQ uses 20). */
  cycles: number;
}

/** Result of fitting a [rows, cols] matrix. Scales stay in f64 until the container is written. */
export interface BcqFit {
  rows: number;
  cols: number;
  groupSize: number;
  groups: number;
  bits: number;
  baseBits: number;
  /** Sign planes, plane-major: signs[(p * rows + r) * cols + c] ∈ {−1, +1}. */
  signs: Int8Array;
  /** scales[b] for every width b in baseBits..bits: [rows, groups, b]. */
  scales: Record<number, Float64Array>;
  /** offsets[b]: [rows, groups], or null without offsets. */
  offsets: Record<number, Float64Array> | null;
}

export class BcqFitError extends Error {
  override name = 'BcqFitError';
}

/** Validates fit options, throwing a RangeError that names the offending field. */
export function checkFitOptions(o: BcqFitOptions): void {
  if (!Number.isInteger(o.bits) || o.bits < 1 || o.bits > 8)
    throw new RangeError(`bits must be 1..8, got ${o.bits}`);
  if (!Number.isInteger(o.baseBits) || o.baseBits < 1 || o.baseBits > o.bits) {
    throw new RangeError(`baseBits must be 1..bits (${o.bits}), got ${o.baseBits}`);
  }
  if (!Number.isInteger(o.groupSize) || o.groupSize < 1)
    throw new RangeError(`groupSize must be >= 1, got ${o.groupSize}`);
  if (!Number.isInteger(o.cycles) || o.cycles < 0)
    throw new RangeError(`cycles must be >= 0, got ${o.cycles}`);
}

/**
 * Solves the symmetric positive semi-definite system A x = y (A: m×m row-major) by Cholesky,
 * dropping every column that is (numerically) a combination of earlier ones (its unknown is
 * set to 0). For normal equations this still gives a least-squares optimum: a dependent
 * column adds nothing to the span. A and y are not modified.
 */
export function solveSpd(
  a: Float64Array,
  y: Float64Array,
  m: number,
  x: Float64Array = new Float64Array(m),
): Float64Array {
  const l = new Float64Array(m * m);
  const keep = new Uint8Array(m);
  for (let j = 0; j < m; j++) {
    let d = a[j * m + j];
    for (let k = 0; k < j; k++) d -= l[j * m + k] * l[j * m + k];
    if (!(d > 1e-12 * Math.abs(a[j * m + j])) || !(d > 1e-300)) continue;
    keep[j] = 1;
    const s = Math.sqrt(d);
    l[j * m + j] = s;
    for (let i = j + 1; i < m; i++) {
      let v = a[i * m + j];
      for (let k = 0; k < j; k++) v -= l[i * m + k] * l[j * m + k];
      l[i * m + j] = v / s;
    }
  }
  // L z = y, then Lᵀ x = z, over kept columns only (dropped rows/columns of L are zero).
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    if (!keep[i]) continue;
    let v = y[i];
    for (let k = 0; k < i; k++) v -= l[i * m + k] * z[k];
    z[i] = v / l[i * m + i];
  }
  for (let i = m - 1; i >= 0; i--) {
    if (!keep[i]) {
      x[i] = 0;
      continue;
    }
    let v = z[i];
    for (let k = i + 1; k < m; k++) v -= l[k * m + i] * x[k];
    x[i] = v / l[i * m + i];
  }
  return x;
}

/**
 * Least-squares scales (and offset) of one group for fixed codes:
 *   min Σ_j d_j (w_j − β − Σ_{i<p} α_i s_ij)²     (d_j = 1 when `weights` is null)
 * `signs` holds p planes of length `stride` starting at `start` (plane i at i*stride).
 * Writes α into `alpha[0..p)` and returns β (0 without offset).
 */
export function refitScales(
  w: Float64Array,
  n: number,
  signs: Int8Array,
  stride: number,
  p: number,
  withOffset: boolean,
  alpha: Float64Array,
  weights: Float64Array | null = null,
): number {
  const m = p + (withOffset ? 1 : 0);
  const a = new Float64Array(m * m);
  const y = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    const d = weights ? weights[j] : 1;
    const wj = w[j] * d;
    for (let i = 0; i < p; i++) {
      const si = signs[i * stride + j];
      y[i] += si * wj;
      for (let k = 0; k <= i; k++) a[i * m + k] += si * signs[k * stride + j] * d;
      if (withOffset) a[p * m + i] += si * d;
    }
    if (withOffset) {
      y[p] += wj;
      a[p * m + p] += d;
    }
  }
  for (let i = 0; i < m; i++) for (let k = i + 1; k < m; k++) a[i * m + k] = a[k * m + i];
  const x = solveSpd(a, y, m);
  for (let i = 0; i < p; i++) alpha[i] = x[i];
  return withOffset ? x[p] : 0;
}

/** Sorted levels Σ_i ±α_i of q planes with the sign pattern of each (bit i set = +1 on plane i). */
export function sortedLevels(
  alpha: ArrayLike<number>,
  q: number,
): { levels: Float64Array; patterns: Uint16Array } {
  const count = 1 << q;
  const order: { v: number; pat: number }[] = [];
  for (let pat = 0; pat < count; pat++) {
    let v = 0;
    for (let i = 0; i < q; i++) v += pat & (1 << i) ? alpha[i] : -alpha[i];
    order.push({ v, pat });
  }
  order.sort((x, y) => x.v - y.v || x.pat - y.pat);
  return { levels: Float64Array.from(order, (o) => o.v), patterns: Uint16Array.from(order, (o) => o.pat) };
}

/**
 * Optimal codes for fixed scales: each value r_j (weight minus offset) takes the sign pattern
 * of the nearest level Σ ±α_i, found by binary search over the midpoints of the sorted levels.
 * Writes q planes of length `stride` into `signs`; returns true when any code changed.
 */
export function assignCodes(
  r: Float64Array,
  n: number,
  alpha: ArrayLike<number>,
  q: number,
  signs: Int8Array,
  stride: number,
): boolean {
  const { levels, patterns } = sortedLevels(alpha, q);
  const count = levels.length;
  const mids = new Float64Array(count - 1);
  for (let k = 0; k + 1 < count; k++) mids[k] = 0.5 * (levels[k] + levels[k + 1]);
  let changed = false;
  for (let j = 0; j < n; j++) {
    // Smallest k with r_j < mids[k] (count-1 when none): level index of the nearest level.
    let lo = 0;
    let hi = count - 1;
    const v = r[j];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v < mids[mid]) hi = mid;
      else lo = mid + 1;
    }
    const pat = patterns[lo];
    for (let i = 0; i < q; i++) {
      const s = pat & (1 << i) ? 1 : -1;
      if (signs[i * stride + j] !== s) {
        signs[i * stride + j] = s;
        changed = true;
      }
    }
  }
  return changed;
}

/** Squared error Σ_j (w_j − β − Σ_{i<p} α_i s_ij)² of one group. */
export function groupError(
  w: Float64Array,
  n: number,
  signs: Int8Array,
  stride: number,
  p: number,
  alpha: ArrayLike<number>,
  beta: number,
): number {
  let e = 0;
  for (let j = 0; j < n; j++) {
    let v = w[j] - beta;
    for (let i = 0; i < p; i++) v -= alpha[i] * signs[i * stride + j];
    e += v * v;
  }
  return e;
}

/** Scratch buffers reused across groups (sized for the largest group). */
interface Scratch {
  r: Float64Array;
  alpha: Float64Array;
}

/**
 * Fits one group in place: `signs` receives `bits` planes (stride `stride`), `scales[b]`
 * (length b) and `offsets[b]` receive each width's fit for b = baseBits..bits. With
 * `importance` (per input, > 0) every least-squares step (and the greedy initial scales and
 * offset) weighs input j by importance[j]; the code steps are unchanged (a weight never
 * changes which level is nearest), so each width's weighted error is non-increasing.
 */
export function fitGroup(
  w: Float64Array,
  n: number,
  o: BcqFitOptions,
  signs: Int8Array,
  stride: number,
  scales: Float64Array[],
  offsets: Float64Array,
  scratch?: Scratch,
  importance: Float64Array | null = null,
): void {
  const s = scratch ?? { r: new Float64Array(n), alpha: new Float64Array(8) };
  const { r, alpha } = s;
  const q = o.baseBits;

  // Stage A, greedy: plane i = sign of the residual, scale = mean |residual|.
  const d = importance;
  let dSum = 0;
  for (let j = 0; j < n; j++) dSum += d ? d[j] : 1;
  let beta = 0;
  if (o.offsets) {
    for (let j = 0; j < n; j++) beta += (d ? d[j] : 1) * w[j];
    beta /= dSum;
  }
  for (let j = 0; j < n; j++) r[j] = w[j] - beta;
  for (let i = 0; i < q; i++) {
    let m = 0;
    for (let j = 0; j < n; j++) {
      const sg = r[j] >= 0 ? 1 : -1;
      signs[i * stride + j] = sg;
      m += (d ? d[j] : 1) * Math.abs(r[j]);
    }
    m /= dSum;
    alpha[i] = m;
    for (let j = 0; j < n; j++) r[j] -= m * signs[i * stride + j];
  }

  // Stage A, alternating: least-squares refit, then optimal codes for those scales. Scales
  // are made positive and sorted descending (the level set is unchanged by both), so plane 0
  // carries the largest scale; a final refit makes the stored scales optimal for the codes.
  for (let t = 0; t < o.cycles; t++) {
    beta = refitScales(w, n, signs, stride, q, o.offsets, alpha, d);
    const mags = Array.from(alpha.subarray(0, q), Math.abs).sort((x, y) => y - x);
    for (let i = 0; i < q; i++) alpha[i] = mags[i];
    for (let j = 0; j < n; j++) r[j] = w[j] - beta;
    if (!assignCodes(r, n, alpha, q, signs, stride)) break;
  }
  beta = refitScales(w, n, signs, stride, q, o.offsets, alpha, d);
  scales[q].set(alpha.subarray(0, q));
  offsets[q] = beta;

  // Stage B: expansion p−1 → p with frozen earlier planes.
  for (let p = q + 1; p <= o.bits; p++) {
    const np = p - 1; // index of the new plane
    alpha[np] = 0;
    for (let t = 0; t < Math.max(1, o.cycles); t++) {
      let changed = false;
      for (let j = 0; j < n; j++) {
        let v = w[j] - beta;
        for (let i = 0; i < np; i++) v -= alpha[i] * signs[i * stride + j];
        const sg = v >= 0 ? 1 : -1;
        if (t === 0 || signs[np * stride + j] !== sg) {
          signs[np * stride + j] = sg;
          changed = true;
        }
      }
      if (!changed) break;
      beta = refitScales(w, n, signs, stride, p, o.offsets, alpha, d);
      if (alpha[np] < 0) {
        // Keep the new scale non-negative so that the sign of the residual stays optimal.
        alpha[np] = -alpha[np];
        for (let j = 0; j < n; j++) signs[np * stride + j] = -signs[np * stride + j];
      }
    }
    scales[p].set(alpha.subarray(0, p));
    offsets[p] = beta;
  }
}

/**
 * Fits a row-major [rows, cols] matrix group by group (data-free, weights only), with the
 * native kernel when it is built (same algorithm, multithreaded), else {@link fitMatrixTs}.
 */
export function fitMatrix(
  weight: Float32Array,
  rows: number,
  cols: number,
  o: BcqFitOptions,
  importance: Float64Array | null = null,
): BcqFit {
  if (!bcqNativeAvailable()) return fitMatrixTs(weight, rows, cols, o, importance);
  if (importance && importance.length !== cols)
    throw new RangeError(`importance has ${importance.length} entries, expected cols = ${cols}`);
  checkFitOptions(o);
  if (weight.length !== rows * cols) {
    throw new RangeError(`weight has ${weight.length} elements, expected rows*cols = ${rows}*${cols}`);
  }
  const groups = Math.ceil(cols / o.groupSize);
  const widths = o.bits - o.baseBits + 1;
  let count = 0;
  for (let b = o.baseBits; b <= o.bits; b++) count += rows * groups * b;
  const signs = new Int8Array(o.bits * rows * cols);
  const allScales = new Float64Array(count);
  const allOffsets = o.offsets ? new Float64Array(widths * rows * groups) : null;
  bcqFit(
    weight,
    rows,
    cols,
    o.bits,
    o.baseBits,
    o.groupSize,
    o.offsets,
    o.cycles,
    signs,
    allScales,
    allOffsets,
    importance,
  );
  const scales: Record<number, Float64Array> = {};
  const offsets: Record<number, Float64Array> | null = allOffsets ? {} : null;
  for (let b = o.baseBits, at = 0; b <= o.bits; at += rows * groups * b, b++) {
    scales[b] = allScales.subarray(at, at + rows * groups * b);
    if (offsets && allOffsets)
      offsets[b] = allOffsets.subarray(
        (b - o.baseBits) * rows * groups,
        (b - o.baseBits + 1) * rows * groups,
      );
  }
  return {
    rows,
    cols,
    groupSize: o.groupSize,
    groups,
    bits: o.bits,
    baseBits: o.baseBits,
    signs,
    scales,
    offsets,
  };
}

/** The TypeScript fit (reference for the native kernel; used when the addon is not built). */
export function fitMatrixTs(
  weight: Float32Array,
  rows: number,
  cols: number,
  o: BcqFitOptions,
  importance: Float64Array | null = null,
): BcqFit {
  checkFitOptions(o);
  if (importance && importance.length !== cols)
    throw new RangeError(`importance has ${importance.length} entries, expected cols = ${cols}`);
  if (weight.length !== rows * cols) {
    throw new RangeError(`weight has ${weight.length} elements, expected rows*cols = ${rows}*${cols}`);
  }
  const g = o.groupSize;
  const groups = Math.ceil(cols / g);
  const signs = new Int8Array(o.bits * rows * cols);
  const scales: Record<number, Float64Array> = {};
  const offsets: Record<number, Float64Array> | null = o.offsets ? {} : null;
  for (let b = o.baseBits; b <= o.bits; b++) {
    scales[b] = new Float64Array(rows * groups * b);
    if (offsets) offsets[b] = new Float64Array(rows * groups);
  }
  const w = new Float64Array(g);
  const local = new Int8Array(o.bits * g);
  const gScales: Float64Array[] = [];
  for (let b = 0; b <= o.bits; b++) gScales.push(new Float64Array(b));
  const gOffsets = new Float64Array(o.bits + 1);
  const scratch: Scratch = { r: new Float64Array(g), alpha: new Float64Array(8) };
  const planeStride = rows * cols;
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < groups; gi++) {
      const c0 = gi * g;
      const n = Math.min(g, cols - c0);
      for (let j = 0; j < n; j++) w[j] = weight[r * cols + c0 + j];
      fitGroup(
        w,
        n,
        o,
        local,
        g,
        gScales,
        gOffsets,
        scratch,
        importance ? importance.subarray(c0, c0 + n) : null,
      );
      for (let p = 0; p < o.bits; p++) {
        const dst = p * planeStride + r * cols + c0;
        for (let j = 0; j < n; j++) signs[dst + j] = local[p * g + j];
      }
      for (let b = o.baseBits; b <= o.bits; b++) {
        scales[b].set(gScales[b], (r * groups + gi) * b);
        if (offsets) offsets[b][r * groups + gi] = gOffsets[b];
      }
    }
  }
  return { rows, cols, groupSize: g, groups, bits: o.bits, baseBits: o.baseBits, signs, scales, offsets };
}

/** Dequantizes width b of a fit into a [rows, cols] f32 matrix (f64 scales, no fp16 rounding). */
export function dequantizeFit(fit: BcqFit, b: number): Float32Array {
  const { rows, cols, groupSize: g, groups, signs } = fit;
  const out = new Float32Array(rows * cols);
  const sc = fit.scales[b];
  if (!sc) throw new RangeError(`width ${b} is not served by this fit (${fit.baseBits}..${fit.bits})`);
  const off = fit.offsets?.[b];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const gi = Math.floor(c / g);
      let v = off ? off[r * groups + gi] : 0;
      for (let i = 0; i < b; i++) v += sc[(r * groups + gi) * b + i] * signs[(i * rows + r) * cols + c];
      out[r * cols + c] = v;
    }
  }
  return out;
}

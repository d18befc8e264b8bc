// Data-aware choice of AnyBCQ's sign planes (codeSelection 'gptq', the default with calibration).
//
// Expansion p−1 → p freezes planes 0..p−2; the new plane only decides, per weight, between
// the two values base_j ± α_new (base_j = offset + Σ_{i<p−1} α_i s_ij with width p's scales).
// The data-free fit takes the sign of the weight residual. Here the signs are chosen column
// by column GPTQ-style (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", ICLR 2023): each column takes the nearest value its
// free planes allow for the *updated* weights, and its error is spread onto the columns not
// yet decided through the upper Cholesky factor U of (H + λI)⁻¹ (H = XᵀX of the linear's
// calibration inputs), which greedily minimises the activation-weighted error
// (W − Ŵ) H (W − Ŵ)ᵀ instead of ‖W − Ŵ‖². Width p's scales and offset are then refit for the
// new planes (least squares on the output error, see refine.ts), and the two steps repeat.
// `gptqSelect` frees any trailing run of planes at once (the nearest of their 2^k sums), so
// gptqExpand can also re-choose all added planes jointly for the widest width ('joint') or
// every plane ('all'); columns may be visited in act-order (decreasing diag H). Except with
// 'all', the base width's planes stay data-free, so its result does not change.
import { bcqInverseCholeskyUpper, bcqNativeAvailable, sgemm } from '@anyprec/kernels-cpu';
import { type BcqFit, refitScales } from './fit.js';
import { dampedF32, refitOutput } from './refine.js';

/**
 * Upper-triangular U ([n, n] row-major) with (H + λI)⁻¹ = UᵀU: H + λI = R Rᵀ by a Cholesky
 * factorisation run from the last index (R upper), then U = R⁻¹. If a pivot is not positive
 * the damping is raised tenfold and the factorisation repeated.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number, lambda: number): Float64Array {
  if (h.length !== n * n) throw new RangeError(`h has ${h.length} entries, expected n*n = ${n * n}`);
  const attempt = bcqNativeAvailable() ? bcqInverseCholeskyUpper : inverseCholeskyUpperTs;
  const u = new Float64Array(n * n);
  let lam = lambda;
  for (let tries = 0; !attempt(h, n, lam, u); tries++) {
    if (tries > 20) throw new RangeError('H + λI is not positive definite even with large damping');
    let mean = 0;
    for (let i = 0; i < n; i++) mean += Math.abs(h[i * n + i]);
    lam = Math.max(lam * 10, (mean / n) * 1e-6, 1e-12);
  }
  return u;
}

/**
 * TypeScript version of the native `bcqInverseCholeskyUpper` (used when the addon is not
 * built): one attempt at damping `lam`, false if a pivot is not positive.
 */
function inverseCholeskyUpperTs(h: Float64Array, n: number, lam: number, u: Float64Array): boolean {
  const r = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    let d = h[j * n + j] + lam;
    for (let k = j + 1; k < n; k++) d -= r[j * n + k] * r[j * n + k];
    if (!(d > 0)) return false;
    const s = Math.sqrt(d);
    r[j * n + j] = s;
    for (let i = 0; i < j; i++) {
      let v = h[i * n + j];
      for (let k = j + 1; k < n; k++) v -= r[i * n + k] * r[j * n + k];
      r[i * n + j] = v / s;
    }
  }
  // U = R⁻¹ (upper), column by column.
  u.fill(0);
  for (let j = 0; j < n; j++) {
    u[j * n + j] = 1 / r[j * n + j];
    for (let i = j - 1; i >= 0; i--) {
      let v = 0;
      for (let k = i + 1; k <= j; k++) v += r[i * n + k] * u[k * n + j];
      u[i * n + j] = -v / r[i * n + i];
    }
  }
  return true;
}

/**
 * GPTQ factor of one linear's inputs: U with (H + λI)⁻¹ = UᵀU for H with its columns in the
 * order GPTQ visits them (`perm[t]` = column visited t-th; null = natural order), in f64 for
 * the in-block updates and f32 for the native trailing updates.
 */
export interface GptqFactor {
  n: number;
  u: Float64Array;
  uf: Float32Array;
  perm: Int32Array | null;
}

/**
 * Builds the {@link GptqFactor} of H + λI. With `actOrder`, columns are visited by decreasing
 * diag(H) (GPTQ's act-order: the most active inputs are decided first, while the most
 * columns are left to absorb their error); ties keep the natural order.
 */
export function gptqFactor(h: Float64Array, n: number, lambda: number, actOrder = false): GptqFactor {
  if (h.length !== n * n) throw new RangeError(`h has ${h.length} entries, expected n*n = ${n * n}`);
  let perm: Int32Array | null = null;
  let hp = h;
  if (actOrder) {
    perm = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => h[b * n + b] - h[a * n + a] || a - b);
    hp = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) hp[i * n + j] = h[perm[i] * n + perm[j]];
  }
  const u = inverseCholeskyUpper(hp, n, lambda);
  return { n, u, uf: Float32Array.from(u), perm };
}

/** Columns decided between two native trailing updates. */
const GPTQ_BLOCK = 128;

/**
 * Chooses planes first..p−1 of `fit` jointly (p = width, 0 ≤ first < p) in place, GPTQ-style,
 * with width p's current scales and offsets held fixed; planes 0..first−1 are not touched.
 * Column by column (in the factor's order), every weight takes the nearest of the 2^(p−first)
 * values base ± α_first ± … ± α_{p−1} (base = offset + the fixed planes) for the
 * error-updated weights, and the scaled error is spread onto the columns not yet decided.
 * The updates inside a block of columns run here in f64, those onto later blocks as one
 * native GEMM per block (the "lazy batch" form of GPTQ, which gives the same result).
 */
export function gptqSelect(weight: Float32Array, fit: BcqFit, p: number, first: number, f: GptqFactor): void {
  const { rows, cols, groupSize: g, groups, signs } = fit;
  if (p < 1 || p > fit.bits || !fit.scales[p])
    throw new RangeError(`width ${p} is not served by this fit (${fit.baseBits}..${fit.bits})`);
  if (!Number.isInteger(first) || first < 0 || first >= p)
    throw new RangeError(`first must be an integer in 0..${p - 1}, got ${first}`);
  if (f.n !== cols || f.u.length !== cols * cols)
    throw new RangeError(`factor is for ${f.n} columns, expected cols = ${cols}`);
  const { u, uf, perm } = f;
  const sc = fit.scales[p];
  const off = fit.offsets?.[p] ?? null;
  const plane = rows * cols;
  const nf = p - first;
  const ncand = 1 << nf;
  // working weights, columns in visiting order
  const w = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let t = 0; t < cols; t++) w[r * cols + t] = weight[r * cols + (perm ? perm[t] : t)];
  const B = Math.min(GPTQ_BLOCK, cols);
  const err = new Float32Array(rows * B);
  const cand = new Float64Array(ncand);
  for (let t0 = 0; t0 < cols; t0 += B) {
    const t1 = Math.min(cols, t0 + B);
    for (let t = t0; t < t1; t++) {
      const j = perm ? perm[t] : t;
      const gi = Math.floor(j / g);
      const ut = t * cols;
      const ujj = u[ut + t];
      for (let r = 0; r < rows; r++) {
        const sb = (r * groups + gi) * p;
        let base = off ? off[r * groups + gi] : 0;
        for (let i = 0; i < first; i++) base += sc[sb + i] * signs[(i * rows + r) * cols + j];
        const x = w[r * cols + t] - base;
        let q: number;
        if (nf === 1) {
          // nearer of base ± a (ties → +1, as the data-free fit's sign of the residual)
          const a = sc[sb + first];
          const s = x * a >= 0 ? 1 : -1;
          signs[first * plane + r * cols + j] = s;
          q = s * a;
        } else {
          // nearest of the 2^nf sums ±α (bit i of the pattern set = +1 on plane first+i)
          let best = 0;
          let bestD = Infinity;
          for (let pat = 0; pat < ncand; pat++) {
            let v = 0;
            for (let i = 0; i < nf; i++) v += pat & (1 << i) ? sc[sb + first + i] : -sc[sb + first + i];
            cand[pat] = v;
            const d = Math.abs(x - v);
            if (d < bestD) {
              bestD = d;
              best = pat;
            }
          }
          for (let i = 0; i < nf; i++) signs[(first + i) * plane + r * cols + j] = best & (1 << i) ? 1 : -1;
          q = cand[best];
        }
        const e = (x - q) / ujj;
        err[r * B + (t - t0)] = e;
        const wr = r * cols;
        for (let k = t + 1; k < t1; k++) w[wr + k] -= e * u[ut + k];
      }
    }
    const rest = cols - t1;
    if (rest > 0) {
      // w[:, t1:] −= err[:, :nb] · U[t0:t1, t1:]
      const tmp = new Float32Array(rows * rest);
      sgemm(false, false, rows, rest, t1 - t0, 1, err, B, uf.subarray(t0 * cols + t1), cols, 0, tmp, rest);
      for (let r = 0; r < rows; r++) {
        const wr = r * cols + t1;
        const tr = r * rest;
        for (let k = 0; k < rest; k++) w[wr + k] -= tmp[tr + k];
      }
    }
  }
}

/**
 * Chooses plane p−1 of `fit` (p = width, p−1 ≥ 1) in place, GPTQ-style, with width p's
 * current scales and offsets held fixed; planes 0..p−2 are not touched. `u` from
 * {@link inverseCholeskyUpper} for the linear's inputs (natural column order).
 */
export function gptqPlane(weight: Float32Array, fit: BcqFit, p: number, u: Float64Array): void {
  const { cols } = fit;
  if (u.length !== cols * cols)
    throw new RangeError(`u has ${u.length} entries, expected cols² = ${cols * cols}`);
  gptqSelect(weight, fit, p, p - 1, { n: cols, u, uf: Float32Array.from(u), perm: null });
}

/**
 * Data-free expansion of one plane (the fit's stage B) for width p: plane p−1 = sign of the
 * residual under width p−1's reconstruction, then alternating least-squares refit of all p
 * scales (and offset) and new-plane re-assignment, `cycles` times. Used to restart plane p−1
 * after plane p−2 was changed by {@link gptqPlane}.
 */
export function expandPlane(weight: Float32Array, fit: BcqFit, p: number, cycles: number): void {
  const { rows, cols, groupSize: g, groups, signs } = fit;
  const np = p - 1;
  const withOffset = fit.offsets !== null;
  const w = new Float64Array(g);
  const local = new Int8Array(p * g);
  const alpha = new Float64Array(p);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < groups; gi++) {
      const c0 = gi * g;
      const n = Math.min(g, cols - c0);
      for (let j = 0; j < n; j++) {
        w[j] = weight[r * cols + c0 + j];
        for (let i = 0; i < np; i++) local[i * g + j] = signs[(i * rows + r) * cols + c0 + j];
      }
      // start from width p−1 (new scale 0)
      const prev = fit.scales[np];
      for (let i = 0; i < np; i++) alpha[i] = prev ? prev[(r * groups + gi) * np + i] : 0;
      let beta = prev && fit.offsets?.[np] ? fit.offsets[np][r * groups + gi] : 0;
      if (!prev) beta = refitScales(w, n, local, g, np, withOffset, alpha);
      alpha[np] = 0;
      for (let t = 0; t < Math.max(1, cycles); t++) {
        let changed = false;
        for (let j = 0; j < n; j++) {
          let v = w[j] - beta;
          for (let i = 0; i < np; i++) v -= alpha[i] * local[i * g + j];
          const sg = v >= 0 ? 1 : -1;
          if (t === 0 || local[np * g + j] !== sg) {
            local[np * g + j] = sg;
            changed = true;
          }
        }
        if (!changed) break;
        beta = refitScales(w, n, local, g, p, withOffset, alpha);
        if (alpha[np] < 0) {
          alpha[np] = -alpha[np];
          for (let j = 0; j < n; j++) local[np * g + j] = -local[np * g + j];
        }
      }
      for (let j = 0; j < n; j++) signs[(np * rows + r) * cols + c0 + j] = local[np * g + j];
      fit.scales[p].set(alpha.subarray(0, p), (r * groups + gi) * p);
      if (fit.offsets) fit.offsets[p][r * groups + gi] = beta;
    }
  }
}

/** How {@link gptqExpand} re-chooses planes (see AnyBcqOptions.gptqPlanes). */
export type GptqPlanes = 'expansion' | 'joint' | 'all';

export interface GptqExpandOptions {
  /** Factor of H + λI (computed from `h` and `lambda` when absent). */
  factor?: GptqFactor;
  /** Sign choice + scale refit repeated this often per stage (default 1). */
  rounds?: number;
  /**
   * 'expansion' (default): each added plane alone, for its own width, one width after the
   * other. 'joint': then all added planes again, jointly, for the widest width. 'all': then
   * every plane (the base ones too) jointly for the widest width.
   */
  planes?: GptqPlanes;
}

/**
 * Re-chooses planes of `fit` in place, GPTQ-style (see {@link GptqExpandOptions}): for each
 * width p in baseBits+1..bits in turn
 * (after a changed plane below it, plane p−1 is first re-expanded data-free on top), GPTQ-style
 * signs for plane p−1, then width p's scales/offsets refit by output least squares with H + λI;
 * with `planes` 'joint' or 'all', finally the added (or all) planes jointly for the widest
 * width, after which every narrower width's scales are refit for the final planes.
 * `h`: XᵀX [cols, cols] of the linear's inputs (f64); `lambda`: the damping added to its diagonal.
 */
export function gptqExpand(
  weight: Float32Array,
  fit: BcqFit,
  h: Float64Array,
  lambda: number,
  cycles: number,
  options: GptqExpandOptions = {},
): void {
  const rounds = options.rounds ?? 1;
  const planes = options.planes ?? 'expansion';
  const f = options.factor ?? gptqFactor(h, fit.cols, lambda);
  const hd = dampedF32(h, fit.cols, lambda);
  const refit = (p: number) => {
    const ref = refitOutput(weight, fit, p, hd, null);
    fit.scales[p].set(ref.scales);
    if (fit.offsets && ref.offsets) fit.offsets[p].set(ref.offsets);
  };
  const stage = (p: number, first: number) => {
    for (let t = 0; t < rounds; t++) {
      gptqSelect(weight, fit, p, first, f);
      refit(p);
    }
  };
  for (let p = fit.baseBits + 1; p <= fit.bits; p++) {
    if (p > fit.baseBits + 1) expandPlane(weight, fit, p, cycles);
    stage(p, p - 1);
  }
  if (planes !== 'expansion' && fit.bits > fit.baseBits) {
    stage(fit.bits, planes === 'all' ? 0 : fit.baseBits);
    for (let p = planes === 'all' ? fit.baseBits : fit.baseBits + 1; p < fit.bits; p++) refit(p);
  }
}

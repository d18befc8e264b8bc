// Data-aware choice of the sign planes added by AnyBCQ's expansion (codeSelection 'gptq').
//
// Expansion p−1 → p freezes planes 0..p−2; the new plane only decides, per weight, between
// the two values base_j ± α_new (base_j = offset + Σ_{i<p−1} α_i s_ij with width p's scales).
// The data-free fit takes the sign of the weight residual. Here the signs are chosen column
// by column GPTQ-style (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", ICLR 2023): each column takes the nearer of its two
// values for the *updated* weights, and its error is spread onto the columns not yet decided
// through the upper Cholesky factor U of (H + λI)⁻¹ (H = XᵀX of the linear's calibration
// inputs), which greedily minimises the activation-weighted error (W − Ŵ) H (W − Ŵ)ᵀ instead
// of ‖W − Ŵ‖². Width p's scales and offset are then refit for the new plane (least squares on
// the output error, see refine.ts) before the next plane is chosen the same way. Planes of
// the base width are kept data-free, so the base width's result does not change.
import { type BcqFit, refitScales } from './fit.js';
import { dampedF32, refitOutput } from './refine.js';

/**
 * Upper-triangular U ([n, n] row-major) with (H + λI)⁻¹ = UᵀU: H + λI = R Rᵀ by a Cholesky
 * factorisation run from the last index (R upper), then U = R⁻¹. If a pivot is not positive
 * the damping is raised tenfold and the factorisation repeated.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number, lambda: number): Float64Array {
  if (h.length !== n * n) throw new RangeError(`h has ${h.length} entries, expected n*n = ${n * n}`);
  let lam = lambda;
  const r = new Float64Array(n * n);
  for (let attempt = 0; ; attempt++) {
    r.fill(0);
    let ok = true;
    for (let j = n - 1; j >= 0 && ok; j--) {
      let d = h[j * n + j] + lam;
      for (let k = j + 1; k < n; k++) d -= r[j * n + k] * r[j * n + k];
      if (!(d > 0)) {
        ok = false;
        break;
      }
      const s = Math.sqrt(d);
      r[j * n + j] = s;
      for (let i = 0; i < j; i++) {
        let v = h[i * n + j];
        for (let k = j + 1; k < n; k++) v -= r[i * n + k] * r[j * n + k];
        r[i * n + j] = v / s;
      }
    }
    if (ok) break;
    if (attempt > 20) throw new RangeError('H + λI is not positive definite even with large damping');
    let mean = 0;
    for (let i = 0; i < n; i++) mean += Math.abs(h[i * n + i]);
    lam = Math.max(lam * 10, (mean / n) * 1e-6, 1e-12);
  }
  // U = R⁻¹ (upper), column by column.
  const u = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    u[j * n + j] = 1 / r[j * n + j];
    for (let i = j - 1; i >= 0; i--) {
      let v = 0;
      for (let k = i + 1; k <= j; k++) v += r[i * n + k] * u[k * n + j];
      u[i * n + j] = -v / r[i * n + i];
    }
  }
  return u;
}

/**
 * Chooses plane p−1 of `fit` (p = width, p−1 ≥ 1) in place, GPTQ-style, with width p's
 * current scales and offsets held fixed; planes 0..p−2 are not touched. `u` from
 * {@link inverseCholeskyUpper} for the linear's inputs.
 */
export function gptqPlane(weight: Float32Array, fit: BcqFit, p: number, u: Float64Array): void {
  const { rows, cols, groupSize: g, groups, signs } = fit;
  if (p < 1 || p > fit.bits || !fit.scales[p])
    throw new RangeError(`width ${p} is not served by this fit (${fit.baseBits}..${fit.bits})`);
  if (u.length !== cols * cols)
    throw new RangeError(`u has ${u.length} entries, expected cols² = ${cols * cols}`);
  const np = p - 1;
  const sc = fit.scales[p];
  const off = fit.offsets?.[p] ?? null;
  const plane = rows * cols;
  const w = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) w[c] = weight[r * cols + c];
    for (let j = 0; j < cols; j++) {
      const gi = Math.floor(j / g);
      const sb = (r * groups + gi) * p;
      let base = off ? off[r * groups + gi] : 0;
      for (let i = 0; i < np; i++) base += sc[sb + i] * signs[(i * rows + r) * cols + j];
      const a = sc[sb + np];
      // nearer of base ± a (ties → +1, as the data-free fit's sign of the residual)
      const s = (w[j] - base) * a >= 0 ? 1 : -1;
      signs[np * plane + r * cols + j] = s;
      const e = (w[j] - base - s * a) / u[j * cols + j];
      const ur = j * cols;
      for (let k = j + 1; k < cols; k++) w[k] -= e * u[ur + k];
    }
  }
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

/**
 * Re-chooses the planes of widths baseBits+1..bits of `fit` in place: for each such width p
 * in turn (after the first, the plane is first re-expanded data-free on top of the new
 * planes), GPTQ-style signs for plane p−1, then width p's scales/offsets refit by output
 * least squares with H + λI. `h`: XᵀX [cols, cols] of the linear's inputs (f64); `lambda`:
 * the damping added to its diagonal; `u` may be passed when already computed for these inputs;
 * `rounds` repeats sign choice + refit with the refit scales.
 */
export function gptqExpand(
  weight: Float32Array,
  fit: BcqFit,
  h: Float64Array,
  lambda: number,
  cycles: number,
  u: Float64Array = inverseCholeskyUpper(h, fit.cols, lambda),
  rounds = 1,
): void {
  const hd = dampedF32(h, fit.cols, lambda);
  for (let p = fit.baseBits + 1; p <= fit.bits; p++) {
    if (p > fit.baseBits + 1) expandPlane(weight, fit, p, cycles);
    for (let t = 0; t < rounds; t++) {
      gptqPlane(weight, fit, p, u);
      const ref = refitOutput(weight, fit, p, hd, null);
      fit.scales[p].set(ref.scales);
      if (fit.offsets && ref.offsets) fit.offsets[p].set(ref.offsets);
    }
  }
}

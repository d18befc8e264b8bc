// Data-aware refit of AnyBCQ scales and offsets with the sign planes frozen
// (../shared/reference/anybcq.md §2.4: only scales are tuned, codes never).
//
// (a) `refitDiag`: activation-weighted least squares per group with the diagonal of XᵀX
//     (each input's mean squared activation), i.e. min Σ_j d_j (w_j − ŵ_j)² per group.
// (b) `refitOutput`: output reconstruction per row, min ‖X_q ŵ_r − X_f w_r‖², with the full
//     H = X_qᵀX_q and C = X_qᵀX_f of the layer's calibration inputs. With X_q the inputs of
//     the partially quantized model (earlier blocks and earlier linears of this block already
//     at this width) and X_f the full-precision inputs, this is block-wise reconstruction in
//     closed form: each linear also absorbs the error that reaches it from upstream. The
//     paper tunes the same parameters with Adam on the block's MSE; with the codes frozen a
//     linear layer's output error is quadratic in its scales, so one exact solve per row
//     replaces thousands of gradient steps.
import { bcqNormalEquations, sgemm } from '@anyprec/kernels-cpu';
import { type BcqFit, refitScales, solveSpd } from './fit.js';

/** Scales [rows, groups, b] and offsets [rows, groups] (null without offsets) of one width. */
export interface WidthParams {
  scales: Float64Array;
  offsets: Float64Array | null;
}

/** Copies width b's data-free parameters out of a fit. */
export function widthParams(fit: BcqFit, b: number): WidthParams {
  return {
    scales: Float64Array.from(fit.scales[b]),
    offsets: fit.offsets ? Float64Array.from(fit.offsets[b]) : null,
  };
}

/**
 * (a) Per-group weighted least squares with per-input weights `d` (length cols, e.g. the
 * diagonal of XᵀX). `damp` adds damp·mean(d) to every weight so that inputs never seen in
 * calibration still count (and the problem stays well posed).
 */
export function refitDiag(
  weight: Float32Array,
  fit: BcqFit,
  b: number,
  d: Float64Array,
  damp = 0.01,
): WidthParams {
  const { rows, cols, groupSize: g, groups } = fit;
  if (d.length !== cols) throw new RangeError(`diagonal has ${d.length} entries, expected cols = ${cols}`);
  let mean = 0;
  for (let j = 0; j < cols; j++) mean += d[j];
  mean /= cols;
  const lam = damp * mean + 1e-30;
  const out: WidthParams = {
    scales: new Float64Array(rows * groups * b),
    offsets: fit.offsets ? new Float64Array(rows * groups) : null,
  };
  const w = new Float64Array(g);
  const dw = new Float64Array(g);
  const local = new Int8Array(b * g);
  const alpha = new Float64Array(b);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < groups; gi++) {
      const c0 = gi * g;
      const n = Math.min(g, cols - c0);
      for (let j = 0; j < n; j++) {
        w[j] = weight[r * cols + c0 + j];
        dw[j] = d[c0 + j] + lam;
        for (let i = 0; i < b; i++) local[i * g + j] = fit.signs[(i * rows + r) * cols + c0 + j];
      }
      const beta = refitScales(w, n, local, g, b, out.offsets !== null, alpha, dw);
      out.scales.set(alpha, (r * groups + gi) * b);
      if (out.offsets) out.offsets[r * groups + gi] = beta;
    }
  }
  return out;
}

/**
 * out[i, j] += Σ_t a[t, i]·b[t, j] (a: [tokens, na], b: [tokens, nb] or null for b = a;
 * out [na, nb] f64). Each call's sum is formed in f32 by the native GEMM (one calibration
 * batch, a few thousand tokens) and added into f64, so long runs keep their precision.
 */
export function gramAccumulate(
  out: Float64Array,
  a: Float32Array,
  b: Float32Array | null,
  tokens: number,
  na: number,
  nb: number,
): void {
  if (out.length !== na * nb)
    throw new RangeError(`out has ${out.length} entries, expected na*nb = ${na * nb}`);
  const tmp = new Float32Array(na * nb);
  sgemm(true, false, na, nb, tokens, 1, a, na, b ?? a, nb, 0, tmp, nb);
  for (let i = 0; i < tmp.length; i++) out[i] += tmp[i];
}

/** H (and C) as f32 with damp·mean(diag H) added to their diagonals. */
export function dampedF32(m: Float64Array, n: number, lambda: number): Float32Array {
  const out = Float32Array.from(m);
  for (let i = 0; i < n; i++) out[i * n + i] += lambda;
  return out;
}

/** damp · mean(diag(h)) (plus a tiny floor for all-zero inputs). */
export function dampingOf(h: Float64Array, n: number, damp: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += h[i * n + i];
  return (damp * s) / n + 1e-12;
}

/**
 * (b) Output reconstruction: per row r, θ_r = argmin ‖X_q A_r θ − X_f w_r‖² given
 * h = X_qᵀX_q and c = X_qᵀX_f ([cols, cols] f32, damping already on both diagonals, which
 * adds λ‖ŵ_r − w_r‖² to the objective); c null means X_f = X_q.
 */
export function refitOutput(
  weight: Float32Array,
  fit: BcqFit,
  b: number,
  h: Float32Array,
  c: Float32Array | null,
): WidthParams {
  const { rows, cols, groups } = fit;
  const withOffset = fit.offsets !== null;
  const per = b + (withOffset ? 1 : 0);
  const m = groups * per;
  const out: WidthParams = {
    scales: new Float64Array(rows * groups * b),
    offsets: withOffset ? new Float64Array(rows * groups) : null,
  };
  // Rows in chunks so that g stays small (down_proj of a 7B model: m = 344 → 1 MB per row).
  const chunk = Math.max(1, Math.min(rows, Math.floor(64e6 / (m * m * 8))));
  const planeStride = rows * cols;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const rc = Math.min(chunk, rows - r0);
    const signs = new Int8Array(b * rc * cols);
    for (let i = 0; i < b; i++)
      signs.set(
        fit.signs.subarray(i * planeStride + r0 * cols, i * planeStride + (r0 + rc) * cols),
        i * rc * cols,
      );
    const g = new Float64Array(rc * m * m);
    const y = new Float64Array(rc * m);
    bcqNormalEquations(
      g,
      y,
      signs,
      h,
      c,
      weight.subarray(r0 * cols, (r0 + rc) * cols),
      rc,
      cols,
      b,
      fit.groupSize,
      withOffset,
    );
    const x = new Float64Array(m);
    for (let rr = 0; rr < rc; rr++) {
      solveSpd(g.subarray(rr * m * m, (rr + 1) * m * m), y.subarray(rr * m, (rr + 1) * m), m, x);
      const r = r0 + rr;
      for (let gi = 0; gi < groups; gi++) {
        for (let i = 0; i < b; i++) out.scales[(r * groups + gi) * b + i] = x[gi * per + i];
        if (out.offsets) out.offsets[r * groups + gi] = x[gi * per + b];
      }
    }
  }
  return out;
}

/** Dequantizes one width of a fit with the given parameters into a [rows, cols] f32 matrix. */
export function dequantizeWidth(fit: BcqFit, b: number, params: WidthParams): Float32Array {
  const { rows, cols, groupSize: g, groups, signs } = fit;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < groups; gi++) {
      const base = (r * groups + gi) * b;
      const off = params.offsets ? params.offsets[r * groups + gi] : 0;
      for (let c = gi * g; c < Math.min(cols, (gi + 1) * g); c++) {
        let v = off;
        for (let i = 0; i < b; i++) v += params.scales[base + i] * signs[(i * rows + r) * cols + c];
        out[r * cols + c] = v;
      }
    }
  }
  return out;
}

// AnyBCQ quantizer hot loops (native, see native/bcq.cpp).
import { loadNative } from './native.js';

// The addon's functions have exactly the signatures of the wrappers below.
interface BcqAddon {
  bcqFit: typeof bcqFit;
  bcqNormalEquations: typeof bcqNormalEquations;
  bcqInverseCholeskyUpper: typeof bcqInverseCholeskyUpper;
}

let addon: BcqAddon | undefined;
function native(): BcqAddon {
  if (addon) return addon;
  const loaded = loadNative<BcqAddon>();
  if (!loaded.addon) throw new Error(loaded.error);
  addon = loaded.addon;
  return addon;
}

/** Whether the native AnyBCQ kernels are loaded (false before `build:native`). */
export function bcqNativeAvailable(): boolean {
  const loaded = loadNative<Partial<BcqAddon>>();
  return (
    typeof loaded.addon?.bcqFit === 'function' && typeof loaded.addon?.bcqInverseCholeskyUpper === 'function'
  );
}

/**
 * Data-free AnyBCQ fit of a [rows, cols] matrix (algorithm of
 * packages/quantizers/src/anybcq/fit.ts): writes `bits` sign planes [bits, rows, cols] (±1),
 * the scales of every width b = baseBits..bits concatenated (each [rows, groups, b]) and,
 * with `offsets`, the offsets [widths, rows, groups]. `importance` [cols] (optional) weighs
 * every least-squares step per input. Multithreaded over rows.
 */
export function bcqFit(
  weight: Float32Array,
  rows: number,
  cols: number,
  bits: number,
  baseBits: number,
  groupSize: number,
  offsets: boolean,
  cycles: number,
  signs: Int8Array,
  scales: Float64Array,
  offsetsOut: Float64Array | null,
  importance: Float64Array | null = null,
): void {
  native().bcqFit(
    weight,
    rows,
    cols,
    bits,
    baseBits,
    groupSize,
    offsets,
    cycles,
    signs,
    scales,
    offsetsOut,
    importance,
  );
}

/**
 * Normal equations of the per-row scale refit with frozen sign planes (see native/bcq.cpp):
 * for every row r, `g[r]` = A_rᵀ H A_r ([m, m]) and `y[r]` = A_rᵀ C w_r ([m]) with
 * m = groups·(bits + (withOffset ? 1 : 0)), unknowns ordered (group, plane…, offset).
 * `signs` is [P >= bits, rows, cols] of ±1; `h`, `c` are [cols, cols] (c null: c = h).
 */
export function bcqNormalEquations(
  g: Float64Array,
  y: Float64Array,
  signs: Int8Array,
  h: Float32Array,
  c: Float32Array | null,
  w: Float32Array,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
  withOffset: boolean,
): void {
  native().bcqNormalEquations(g, y, signs, h, c, w, rows, cols, bits, groupSize, withOffset);
}

/**
 * Upper-triangular U ([n, n] row-major, f64) with (H + λI)⁻¹ = UᵀU, the factor GPTQ spreads
 * its errors with (see native/bcq.cpp). Returns false, leaving `u` as it was, when H + λI is
 * not numerically positive definite (the caller raises λ).
 */
export function bcqInverseCholeskyUpper(
  h: Float64Array,
  n: number,
  lambda: number,
  u: Float64Array,
): boolean {
  return native().bcqInverseCholeskyUpper(h, n, lambda, u);
}

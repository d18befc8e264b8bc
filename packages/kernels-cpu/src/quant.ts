// Any-Precision quantizer hot loops (native, see native/quant.cpp).
import { loadNative } from './native.js';

interface QuantAddon {
  quantizeAnyPrec(
    weight: Float32Array,
    sensitivity: Float32Array | null,
    rows: number,
    cols: number,
    seedBits: number,
    parentBits: number,
    seed: number,
    indices: Uint8Array,
    luts: Uint16Array[],
    restarts: number,
    maxIter: number,
    threads: number,
    optimalSeed: boolean,
    floorFraction: number,
  ): void;
}

export interface AnyPrecRowsOptions {
  /** Seed width (1..8, 2 or 3 in practice). */
  seedBits: number;
  /** Parent width (seedBits..8). */
  parentBits: number;
  /** Seed of the k-means++ sampling; results do not depend on `threads`. */
  seed?: number;
  /** k-means++ + Lloyd restarts per row; the lowest weighted error wins (default 1). */
  restarts?: number;
  /** Lloyd iteration cap (default 100; Lloyd usually converges far earlier). */
  maxIter?: number;
  /** Worker threads (default: hardware threads). */
  threads?: number;
  /**
   * Seed clustering: `'kmeans++'` (default; k-means++ initialisation + Lloyd, best of
   * `restarts`) or `'optimal'` (the globally optimal weighted 1-D k-means by dynamic programming).
   */
  seedInit?: 'kmeans++' | 'optimal';
  /**
   * Every weight's sensitivity is raised by this fraction of its row's mean sensitivity
   * (default 1e-6: only keeps zero-sensitivity clusters defined; larger values regularise a
   * noisy Fisher estimate toward plain k-means).
   */
  sensitivityFloor?: number;
}

export interface AnyPrecRows {
  /** Parent index of every weight, [rows, cols]. The b-bit index is `index >> (parentBits - b)`. */
  indices: Uint8Array;
  /** f16 tables `[rows, 2^b]` for b = seedBits..parentBits (luts[b - seedBits]), ascending per row. */
  luts: Uint16Array[];
}

let addon: QuantAddon | undefined;
function native(): QuantAddon {
  if (addon) return addon;
  const loaded = loadNative<QuantAddon>();
  if (!loaded.addon) throw new Error(loaded.error);
  addon = loaded.addon;
  return addon;
}

/**
 * Any-Precision LLM quantization of a [rows, cols] weight matrix, one codebook per row:
 * sensitivity-weighted 1-D k-means seed at `seedBits`, then exact 2-means splits of every
 * cluster up to `parentBits` (see native/quant.cpp). `sensitivity` null means unit weights.
 */
export function quantizeAnyPrecRows(
  weight: Float32Array,
  sensitivity: Float32Array | null,
  rows: number,
  cols: number,
  options: AnyPrecRowsOptions,
): AnyPrecRows {
  const { seedBits, parentBits } = options;
  if (!Number.isInteger(seedBits) || seedBits < 1 || seedBits > 8)
    throw new RangeError(`seedBits must be in 1..8, got ${seedBits}`);
  if (!Number.isInteger(parentBits) || parentBits < seedBits || parentBits > 8) {
    throw new RangeError(`parentBits must be in ${seedBits}..8, got ${parentBits}`);
  }
  const indices = new Uint8Array(rows * cols);
  const luts: Uint16Array[] = [];
  for (let b = seedBits; b <= parentBits; b++) luts.push(new Uint16Array(rows << b));
  const threads = options.threads ?? defaultThreads();
  native().quantizeAnyPrec(
    weight,
    sensitivity,
    rows,
    cols,
    seedBits,
    parentBits,
    options.seed ?? 0,
    indices,
    luts,
    options.restarts ?? 1,
    options.maxIter ?? 100,
    threads,
    options.seedInit === 'optimal',
    options.sensitivityFloor ?? 1e-6,
  );
  return { indices, luts };
}

function defaultThreads(): number {
  const info = loadNative<{ info(): { hardwareThreads?: number } }>().addon?.info();
  return Math.max(1, info?.hardwareThreads ?? 1);
}

// Layout v1 helpers and the host-side validation every launch runs before it reaches the
// native addon (which checks buffer sizes again). Pure functions: they work without a GPU.
import { KernelArgumentError, KernelDtypeError } from './errors.js';

export type DeviceDtype = 'U32' | 'F16' | 'F32';

/** Shape and dtype of a tensor argument (a DeviceTensor, or any look-alike in tests). */
export interface TensorMeta {
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** Token counts up to this run the fused tensor-core kernel; more go through prefill. */
export const FUSED_MAX_TOKENS = 16;

// Mirrors native/bitplane.cu: 64 rows per CTA, 512-column segments, clusters of <= 8 CTAs
// and 227 KiB of shared memory per CTA for the plane ring (at least one slot: 8 warps x 8 KiB
// at 8 bits), the activation slice, the partial tile and (Any-Precision >= 5 bits) the row tables.
const SEG_COLS = 512;
const MAX_CLUSTER = 8;
const SMEM_BUDGET = 227 * 1024;
const RING_MIN_BYTES = 64 * 1024;
const ROWS_PER_CTA = 64;

export function dtypeBytes(dtype: DeviceDtype): number {
  return dtype === 'F16' ? 2 : 4;
}

/** 32-column words per plane row: `cols / 32` (layout v1 requires `cols % 32 == 0`). */
export function planeWords(cols: number): number {
  if (!Number.isInteger(cols) || cols < 32 || cols % 32 !== 0)
    throw new KernelArgumentError('cols', `must be a positive multiple of 32 (layout v1), got ${cols}`);
  return cols / 32;
}

/** Shape of `<base>.planes` for parent precision P: `[P, rows, cols / 32]`. */
export function planesShape(parentBits: number, rows: number, cols: number): [number, number, number] {
  return [parentBits, rows, planeWords(cols)];
}

/** Bytes a launch at `bits` reads from the planes: the contiguous prefix of planes 0..bits-1. */
export function planesPrefixBytes(bits: number, rows: number, cols: number): number {
  return bits * rows * planeWords(cols) * 4;
}

/** AnyBCQ groups per row: `ceil(cols / groupSize)`. */
export function bcqGroups(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

/** Bytes of the fp16 scratch the prefill path (tokens > 16) dequantises into: `rows * cols * 2`. */
export function prefillScratchBytes(rows: number, cols: number): number {
  return rows * cols * 2;
}

/** Widest `cols` the fused kernel takes at this token count (its activation slice must fit shared memory). */
export function fusedMaxCols(tokens: number): number {
  const ntok = tokens > 8 ? 16 : 8;
  const fixedBytes = RING_MIN_BYTES + ntok * ROWS_PER_CTA * 4 + ROWS_PER_CTA * 256 * 2;
  const maxSegs = Math.floor((SMEM_BUDGET - fixedBytes) / (1024 * ntok));
  return maxSegs * MAX_CLUSTER * SEG_COLS;
}

function int(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new KernelArgumentError(name, `must be an integer in [${lo}, ${hi}], got ${v}`);
}

function dtype(name: string, t: TensorMeta, want: DeviceDtype): void {
  if (t.dtype !== want) throw new KernelDtypeError(name, want, t.dtype);
}

function shape(name: string, t: TensorMeta, want: readonly number[], what: string): void {
  const s = t.shape;
  if (s.length !== want.length || s.some((d, i) => d !== want[i]))
    throw new KernelArgumentError(
      name,
      `shape must be [${want.join(', ')}] (${what}), got [${s.join(', ')}]`,
    );
}

function tokensShape(name: string, t: TensorMeta, tokens: number, width: number, what: string): void {
  const s = t.shape;
  if (s.length !== 2 || s[1] !== width || !(s[0] >= tokens))
    throw new KernelArgumentError(
      name,
      `shape must be [>= ${tokens}, ${width}] (${what}), got [${s.join(', ')}]`,
    );
}

interface WeightArgs {
  planes: TensorMeta;
  rows: number;
  cols: number;
  bits: number;
}

function validateWeight(a: WeightArgs, minBits: number): void {
  int('rows', a.rows, 1, 1 << 24);
  int('cols', a.cols, 32, 1 << 24);
  const words = planeWords(a.cols);
  int('bits', a.bits, minBits, 8);
  dtype('planes', a.planes, 'U32');
  const s = a.planes.shape;
  if (s.length !== 3 || s[1] !== a.rows || s[2] !== words || !(s[0] >= a.bits && s[0] <= 8))
    throw new KernelArgumentError(
      'planes',
      `shape must be [P, ${a.rows}, ${words}] with ${a.bits} <= P <= 8 (layout v1), got [${s.join(', ')}]`,
    );
}

function validateActivations(a: {
  out: TensorMeta;
  x: TensorMeta;
  tokens: number;
  rows: number;
  cols: number;
  scratch?: TensorMeta | null;
  colocate?: Colocate;
}): void {
  int('tokens', a.tokens, 1, 1 << 20);
  colocateCode(a.colocate);
  dtype('x', a.x, 'F16');
  tokensShape('x', a.x, a.tokens, a.cols, 'tokens x cols');
  dtype('out', a.out, 'F32');
  tokensShape('out', a.out, a.tokens, a.rows, 'tokens x rows');
  if (a.scratch) {
    dtype('scratch', a.scratch, 'F16');
    const n = a.scratch.shape.reduce((p, d) => p * d, 1);
    if (n < a.rows * a.cols)
      throw new KernelArgumentError(
        'scratch',
        `needs >= ${a.rows * a.cols} F16 elements (rows x cols), has ${n}`,
      );
  } else if (a.cols > fusedMaxCols(Math.min(a.tokens, FUSED_MAX_TOKENS))) {
    throw new KernelArgumentError(
      'cols',
      `${a.cols} exceeds the fused kernel's limit of ${fusedMaxCols(a.tokens)}`,
    );
  }
}

export interface LutWeights extends WeightArgs {
  /** `<base>.lut<bits>`: F16 [rows, 2^bits]. */
  lut: TensorMeta;
}

export interface BcqWeights extends WeightArgs {
  /** `<base>.scales<bits>`: F16 [rows, groups, bits]. */
  scales: TensorMeta;
  /** `<base>.offsets<bits>`: F16 [rows, groups], or null when the manifest says `offsets: false`. */
  offsets?: TensorMeta | null;
  groupSize: number;
}

export interface Activations {
  /** F32 [>= tokens, rows], overwritten. */
  out: TensorMeta;
  /** F16 [>= tokens, cols]. */
  x: TensorMeta;
  tokens: number;
  /** F16 with >= rows*cols elements: lets tokens > 16 dequantise once and call cuBLAS. */
  scratch?: TensorMeta | null;
  /**
   * Grid choice of the fused kernel (README, "Colocation"). `'auto'` (default) applies the
   * measured rules, which assume the launch before on the stream is this same matmul (a
   * repeated launch) and then overlap the two; pass `'never'` when a different kernel came
   * just before, as in a decoder layer (q, k, v, o, gate, up, down): on an H100 such a layer
   * measured up to 24% faster at one token and 24-31% at 8 tokens (README, "Decoder layer"). Results are bit-identical for the same arguments either way, not between the two.
   */
  colocate?: Colocate;
}

export type Colocate = 'auto' | 'never';
const COLOCATE_MODES: readonly Colocate[] = ['auto', 'never'];

/** The addon's code for a colocation mode (0 auto, 1 never); throws on anything else. */
export function colocateCode(mode: Colocate | undefined): number {
  if (mode === undefined) return 0;
  const i = COLOCATE_MODES.indexOf(mode);
  if (i < 0)
    throw new KernelArgumentError('colocate', `must be 'auto' or 'never', got ${JSON.stringify(mode)}`);
  return i;
}

export function validateLutWeights(a: LutWeights): void {
  validateWeight(a, 2);
  dtype('lut', a.lut, 'F16');
  shape('lut', a.lut, [a.rows, 2 ** a.bits], 'rows x 2^bits');
}

export function validateBcqWeights(a: BcqWeights): void {
  validateWeight(a, 1);
  int('groupSize', a.groupSize, 32, 1 << 24);
  if (a.groupSize % 32 !== 0)
    throw new KernelArgumentError(
      'groupSize',
      `must be a multiple of 32 for the CUDA kernels, got ${a.groupSize}`,
    );
  const groups = bcqGroups(a.cols, a.groupSize);
  dtype('scales', a.scales, 'F16');
  shape('scales', a.scales, [a.rows, groups, a.bits], 'rows x groups x bits');
  if (a.offsets) {
    dtype('offsets', a.offsets, 'F16');
    shape('offsets', a.offsets, [a.rows, groups], 'rows x groups');
  }
}

export function validateLutMatmul(a: LutWeights & Activations): void {
  validateLutWeights(a);
  validateActivations(a);
}

export function validateBcqMatmul(a: BcqWeights & Activations): void {
  validateBcqWeights(a);
  validateActivations(a);
}

/** Dequantised weights: F16 [rows, cols]. */
export function validateDequantOut(out: TensorMeta, rows: number, cols: number): void {
  dtype('out', out, 'F16');
  shape('out', out, [rows, cols], 'rows x cols');
}

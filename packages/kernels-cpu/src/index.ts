// Typed wrappers over the native CPU kernels (API fixed in docs/architecture.md, "Native CPU
// kernels"). Every wrapper validates types and lengths here, so mistakes surface as a
// TypeError/RangeError naming the argument; the addon repeats the checks before touching memory.
import { loadNative } from './native.js';

export type WeightDtype = 'f32' | 'bf16' | 'f16';
export type CpuIsa = 'avx512' | 'avx2' | 'scalar';

export interface CpuInfo {
  available: boolean;
  /** Why the addon is unavailable (only when `available` is false). */
  reason?: string;
  hardwareThreads?: number;
  /** Threads the kernels use now (setThreads). */
  threads?: number;
  /** Instruction set the kernels use now, and the best this CPU supports. */
  isa?: CpuIsa;
  bestIsa?: CpuIsa;
  avx2?: boolean;
  fma?: boolean;
  avx512f?: boolean;
  avx512bw?: boolean;
  avx512vl?: boolean;
  avx512bf16?: boolean;
  avx512vnni?: boolean;
}

/** Thrown by every kernel when the native addon is not built or failed to load. */
export class NativeUnavailableError extends Error {
  constructor(reason: string) {
    super(`@anyprec/kernels-cpu: ${reason}`);
    this.name = 'NativeUnavailableError';
  }
}

type U16 = Uint16Array;
interface CpuAddon {
  info(): Omit<CpuInfo, 'available'>;
  setThreads(n: number): void;
  threads(): number;
  setIsa(isa: string): CpuIsa;
  matmul(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array | U16,
    weightDtype: WeightDtype,
    tokens: number,
    rows: number,
    cols: number,
    accumulate: boolean,
  ): void;
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  matmulLut(
    out: Float32Array,
    x: Float32Array,
    planes: Uint32Array,
    lut: U16,
    tokens: number,
    rows: number,
    cols: number,
    bits: number,
  ): void;
  matmulBcq(
    out: Float32Array,
    x: Float32Array,
    planes: Uint32Array,
    scales: U16,
    offsets: U16 | null,
    tokens: number,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
  ): void;
  dequantLut(
    out: Float32Array,
    planes: Uint32Array,
    lut: U16,
    rows: number,
    cols: number,
    bits: number,
  ): void;
  dequantBcq(
    out: Float32Array,
    planes: Uint32Array,
    scales: U16,
    offsets: U16 | null,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
  ): void;
  attention(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    tokens: number,
    kvLen: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    posOffset: number,
    scale: number,
  ): void;
}

const loaded = loadNative<CpuAddon>();

function native(): CpuAddon {
  if (!loaded.addon) throw new NativeUnavailableError(loaded.error);
  return loaded.addon;
}

/** Whether the native CPU kernels loaded (`reason` says why not) and what they run on. Never throws. */
export function cpuInfo(): CpuInfo {
  if (!loaded.addon) return { available: false, reason: loaded.error };
  return { available: true, ...loaded.addon.info() };
}

/** Threads used by every kernel (a persistent pool; default: hardware threads or $ANYPREC_THREADS). */
export function setThreads(n: number): void {
  dim('n', n, 1);
  if (n > 256) throw new RangeError(`n must be at most 256, got ${n}`);
  native().setThreads(n);
}

export function threads(): number {
  return native().threads();
}

/**
 * Forces a lower instruction set (for tests and benchmarks of the fallbacks); `'best'`
 * restores the default. Returns the instruction set now in use (never above the CPU's).
 */
export function setIsa(isa: CpuIsa | 'best'): CpuIsa {
  if (isa !== 'avx512' && isa !== 'avx2' && isa !== 'scalar' && isa !== 'best') {
    throw new TypeError(`isa must be 'avx512', 'avx2', 'scalar' or 'best', got '${String(isa)}'`);
  }
  return native().setIsa(isa);
}

// ------------------------------------------------------------------------ validation ----
function dim(name: string, v: unknown, min = 0): asserts v is number {
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isInteger(v) || v < min || v > 2147483647) {
    throw new RangeError(`${name} must be an integer in [${min}, 2^31), got ${v}`);
  }
}
function f32(name: string, v: unknown): asserts v is Float32Array {
  if (!(v instanceof Float32Array)) throw new TypeError(`${name} must be a Float32Array`);
}
function u16(name: string, v: unknown): asserts v is Uint16Array {
  if (!(v instanceof Uint16Array)) throw new TypeError(`${name} must be a Uint16Array`);
}
function u32(name: string, v: unknown): asserts v is Uint32Array {
  if (!(v instanceof Uint32Array)) throw new TypeError(`${name} must be a Uint32Array`);
}
// `shape` is a function so the message is only built on failure (these run on every call).
function atLeast(name: string, arr: ArrayLike<unknown>, need: number, shape: () => string): void {
  if (arr.length < need) {
    throw new RangeError(`${name} has ${arr.length} elements, needs at least ${need} (${shape()})`);
  }
}
function exactly(name: string, arr: ArrayLike<unknown>, need: number, shape: () => string): void {
  if (arr.length !== need) {
    throw new RangeError(`${name} has ${arr.length} elements, expected ${need} (${shape()})`);
  }
}
function planesCheck(
  planes: unknown,
  rows: number,
  cols: number,
  bits: number,
): asserts planes is Uint32Array {
  u32('planes', planes);
  if (cols % 32 !== 0) throw new RangeError(`cols (${cols}) must be a multiple of 32 (bit-plane words)`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) {
    throw new RangeError(`bits must be an integer in [1, 8], got ${bits}`);
  }
  const planeWords = rows * (cols / 32);
  if (planeWords > 0) {
    if (planes.length === 0 || planes.length % planeWords !== 0) {
      throw new RangeError(
        `planes has ${planes.length} elements, not a positive multiple of rows*cols/32 = ${planeWords} (layout [P, rows, cols/32])`,
      );
    }
    const parentBits = planes.length / planeWords;
    if (bits > parentBits) {
      throw new RangeError(`bits (${bits}) exceeds the planes tensor's parent bits P = ${parentBits}`);
    }
  }
}
function bcqCheck(
  planes: unknown,
  scales: unknown,
  offsets: unknown,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
): void {
  planesCheck(planes, rows, cols, bits);
  u16('scales', scales);
  const groups = Math.ceil(cols / groupSize);
  exactly('scales', scales, rows * groups * bits, () => `rows*groups*bits = ${rows}*${groups}*${bits}`);
  if (offsets !== null && offsets !== undefined) {
    u16('offsets (or null)', offsets);
    exactly('offsets', offsets, rows * groups, () => `rows*groups = ${rows}*${groups}`);
  }
}

// --------------------------------------------------------------------------- kernels ----
/**
 * out[t, r] (+)= sum_k x[t, k] * W[r, k]: HF Linear x·Wᵀ with x [tokens, cols], W [rows, cols]
 * (f32 as Float32Array, bf16/f16 as Uint16Array bits), out [tokens, rows]. Up to 24 tokens the
 * weights stream once (GEMV, halves converted in registers); beyond, a packed GEMM.
 */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array | Uint16Array,
  weightDtype: WeightDtype,
  tokens: number,
  rows: number,
  cols: number,
  accumulate = false,
): void {
  f32('out', out);
  f32('x', x);
  if (weightDtype === 'f32') f32(`weight (weightDtype 'f32')`, weight);
  else if (weightDtype === 'bf16' || weightDtype === 'f16')
    u16(`weight (weightDtype '${weightDtype}')`, weight);
  else throw new TypeError(`weightDtype must be 'f32', 'bf16' or 'f16', got '${String(weightDtype)}'`);
  dim('tokens', tokens);
  dim('rows', rows);
  dim('cols', cols);
  if (typeof accumulate !== 'boolean') throw new TypeError('accumulate must be a boolean');
  atLeast('out', out, tokens * rows, () => `tokens*rows = ${tokens}*${rows}`);
  atLeast('x', x, tokens * cols, () => `tokens*cols = ${tokens}*${cols}`);
  exactly('weight', weight, rows * cols, () => `rows*cols = ${rows}*${cols}`);
  native().matmul(out, x, weight, weightDtype, tokens, rows, cols, accumulate);
}

/**
 * General f32 GEMM (row-major, BLAS semantics): C = alpha·op(A)·op(B) + beta·C with
 * op(A) [m, k] (A stored [k, m] when transA), op(B) [k, n] (B stored [n, k] when transB),
 * C [m, n]; lda/ldb/ldc are the stored row strides. beta = 0 ignores C's old contents.
 */
export function sgemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  if (typeof transA !== 'boolean') throw new TypeError('transA must be a boolean');
  if (typeof transB !== 'boolean') throw new TypeError('transB must be a boolean');
  dim('m', m);
  dim('n', n);
  dim('k', k);
  if (typeof alpha !== 'number') throw new TypeError('alpha must be a number');
  f32('a', a);
  dim('lda', lda);
  f32('b', b);
  dim('ldb', ldb);
  if (typeof beta !== 'number') throw new TypeError('beta must be a number');
  f32('c', c);
  dim('ldc', ldc);
  const aRows = transA ? k : m;
  const aCols = transA ? m : k;
  const bRows = transB ? n : k;
  const bCols = transB ? k : n;
  if (lda < Math.max(1, aCols)) {
    throw new RangeError(
      `lda (${lda}) must be at least ${Math.max(1, aCols)}${transA ? ' (m, as transA)' : ' (k)'}`,
    );
  }
  if (ldb < Math.max(1, bCols)) {
    throw new RangeError(
      `ldb (${ldb}) must be at least ${Math.max(1, bCols)}${transB ? ' (k, as transB)' : ' (n)'}`,
    );
  }
  if (ldc < Math.max(1, n)) throw new RangeError(`ldc (${ldc}) must be at least ${Math.max(1, n)} (n)`);
  const span = (r: number, c: number, ld: number) => (r === 0 || c === 0 ? 0 : (r - 1) * ld + c);
  atLeast('a', a, span(aRows, aCols, lda), () => `${aRows} rows of stride lda ${lda}`);
  atLeast('b', b, span(bRows, bCols, ldb), () => `${bRows} rows of stride ldb ${ldb}`);
  atLeast('c', c, span(m, n, ldc), () => `${m} rows of stride ldc ${ldc}`);
  native().sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/**
 * Any-Precision bit-plane matmul out[t, r] = sum_k x[t, k] * lut[r, idx(r, k)] at width
 * `bits`, reading layout v1 directly: `planes` is the whole [P, rows, cols/32] tensor
 * (bits <= P), `lut` the f16 table [rows, 2^bits] of that width.
 */
export function matmulLut(
  out: Float32Array,
  x: Float32Array,
  planes: Uint32Array,
  lut: Uint16Array,
  tokens: number,
  rows: number,
  cols: number,
  bits: number,
): void {
  f32('out', out);
  f32('x', x);
  u16('lut', lut);
  dim('tokens', tokens);
  dim('rows', rows);
  dim('cols', cols);
  dim('bits', bits);
  planesCheck(planes, rows, cols, bits);
  exactly('lut', lut, rows * 2 ** bits, () => `rows*2^bits = ${rows}*${2 ** bits}`);
  atLeast('out', out, tokens * rows, () => `tokens*rows = ${tokens}*${rows}`);
  atLeast('x', x, tokens * cols, () => `tokens*cols = ${tokens}*${cols}`);
  native().matmulLut(out, x, planes, lut, tokens, rows, cols, bits);
}

/**
 * AnyBCQ bit-plane matmul at width `bits`: weight = offset + sum_i scale_i·(bit_i ? +1 : -1)
 * per group of `groupSize` columns (the last group may be shorter). `scales` f16
 * [rows, groups, bits], `offsets` f16 [rows, groups] or null.
 */
export function matmulBcq(
  out: Float32Array,
  x: Float32Array,
  planes: Uint32Array,
  scales: Uint16Array,
  offsets: Uint16Array | null,
  tokens: number,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
): void {
  f32('out', out);
  f32('x', x);
  dim('tokens', tokens);
  dim('rows', rows);
  dim('cols', cols);
  dim('bits', bits);
  dim('groupSize', groupSize, 1);
  bcqCheck(planes, scales, offsets, rows, cols, bits, groupSize);
  atLeast('out', out, tokens * rows, () => `tokens*rows = ${tokens}*${rows}`);
  atLeast('x', x, tokens * cols, () => `tokens*cols = ${tokens}*${cols}`);
  native().matmulBcq(out, x, planes, scales, offsets ?? null, tokens, rows, cols, bits, groupSize);
}

/** Any-Precision weights at width `bits` as f32 [rows, cols] (see matmulLut). */
export function dequantLut(
  out: Float32Array,
  planes: Uint32Array,
  lut: Uint16Array,
  rows: number,
  cols: number,
  bits: number,
): void {
  f32('out', out);
  u16('lut', lut);
  dim('rows', rows);
  dim('cols', cols);
  dim('bits', bits);
  planesCheck(planes, rows, cols, bits);
  exactly('lut', lut, rows * 2 ** bits, () => `rows*2^bits = ${rows}*${2 ** bits}`);
  atLeast('out', out, rows * cols, () => `rows*cols = ${rows}*${cols}`);
  native().dequantLut(out, planes, lut, rows, cols, bits);
}

/** AnyBCQ weights at width `bits` as f32 [rows, cols] (see matmulBcq). */
export function dequantBcq(
  out: Float32Array,
  planes: Uint32Array,
  scales: Uint16Array,
  offsets: Uint16Array | null,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
): void {
  f32('out', out);
  dim('rows', rows);
  dim('cols', cols);
  dim('bits', bits);
  dim('groupSize', groupSize, 1);
  bcqCheck(planes, scales, offsets, rows, cols, bits, groupSize);
  atLeast('out', out, rows * cols, () => `rows*cols = ${rows}*${cols}`);
  native().dequantBcq(out, planes, scales, offsets ?? null, rows, cols, bits, groupSize);
}

/**
 * Causal attention with grouped-query heads: q [tokens, heads, headDim], caches k/v
 * [kvLen, kvHeads, headDim] (positions beyond posOffset + tokens are ignored), out like q.
 * Query t sits at absolute position posOffset + t and sees cache positions 0..posOffset+t;
 * head h reads kv head floor(h / (heads / kvHeads)). Softmax in f32 with max subtraction.
 */
export function attention(
  out: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  tokens: number,
  kvLen: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  posOffset: number,
  scale: number,
): void {
  f32('out', out);
  f32('q', q);
  f32('k', k);
  f32('v', v);
  dim('tokens', tokens);
  dim('kvLen', kvLen);
  dim('heads', heads, 1);
  dim('kvHeads', kvHeads, 1);
  dim('headDim', headDim, 1);
  dim('posOffset', posOffset);
  if (typeof scale !== 'number') throw new TypeError('scale must be a number');
  if (heads % kvHeads !== 0)
    throw new RangeError(`heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  if (posOffset + tokens > kvLen) {
    throw new RangeError(
      `posOffset + tokens (${posOffset} + ${tokens}) exceeds kvLen (${kvLen}): append the new keys/values to the cache first`,
    );
  }
  if (!Number.isFinite(scale)) throw new RangeError('scale must be finite');
  const qShape = () => `tokens*heads*headDim = ${tokens}*${heads}*${headDim}`;
  const kvShape = () => `kvLen*kvHeads*headDim = ${kvLen}*${kvHeads}*${headDim}`;
  atLeast('out', out, tokens * heads * headDim, qShape);
  atLeast('q', q, tokens * heads * headDim, qShape);
  atLeast('k', k, kvLen * kvHeads * headDim, kvShape);
  atLeast('v', v, kvLen * kvHeads * headDim, kvShape);
  native().attention(out, q, k, v, tokens, kvLen, heads, kvHeads, headDim, posOffset, scale);
}

export * from './bcq.js';
export * from './quant.js';

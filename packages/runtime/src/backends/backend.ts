// The compute interface the model code calls. Tensors are host typed arrays in row-major
// order (f16/bf16 as Uint16Array bit patterns); shapes follow docs/architecture.md
// ("Native CPU kernels"), so the native backend is a thin pass-through and the TypeScript
// backend is the readable reference the tests compare it with.

export type WeightDtype = 'f32' | 'bf16' | 'f16';

export interface Backend {
  readonly name: 'ts' | 'cpu';
  /** Threads the backend computes with (1 for TypeScript). */
  readonly threads: number;
  /** out[t, r] (+)= Σ_k x[t, k]·W[r, k]; x: [tokens, cols], W: [rows, cols], out: [tokens, rows]. */
  matmul(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array | Uint16Array,
    weightDtype: WeightDtype,
    tokens: number,
    rows: number,
    cols: number,
    accumulate?: boolean,
  ): void;
  /** Any-Precision bit-plane matmul: planes [P, rows, cols/32] u32, lut f16 [rows, 2^bits]; bits <= P. */
  matmulLut(
    out: Float32Array,
    x: Float32Array,
    planes: Uint32Array,
    lut: Uint16Array,
    tokens: number,
    rows: number,
    cols: number,
    bits: number,
  ): void;
  /** AnyBCQ bit-plane matmul: scales f16 [rows, groups, bits], offsets f16 [rows, groups] or null. */
  matmulBcq(
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
  ): void;
  dequantLut(
    out: Float32Array,
    planes: Uint32Array,
    lut: Uint16Array,
    rows: number,
    cols: number,
    bits: number,
  ): void;
  dequantBcq(
    out: Float32Array,
    planes: Uint32Array,
    scales: Uint16Array,
    offsets: Uint16Array | null,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
  ): void;
  /** C = alpha·op(A)·op(B) + beta·C, row-major with leading dimensions (backward passes). */
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
  /**
   * Causal GQA attention. q: [tokens, heads, headDim]; k, v: [kvLen, kvHeads, headDim]; query t
   * is at absolute position posOffset + t and sees cache positions 0..posOffset + t.
   */
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
  /** out[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + eps) · weight. out may alias x. */
  rmsNorm(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    tokens: number,
    dim: number,
    eps: number,
  ): void;
}

// Plain TypeScript backend: the reference every native/CUDA kernel is compared with, and the
// fallback when the native addon is not built. Straightforward loops; correctness first.
import { decodeHalfRow, f16Lut } from '../numeric.js';
import type { Backend, WeightDtype } from './backend.js';

/** Dot products of `tokens` activation rows with one f32 weight row (4 tokens at a time). */
function rowTimesTokens(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  wOffset: number,
  tokens: number,
  rows: number,
  cols: number,
  r: number,
  accumulate: boolean,
): void {
  let t = 0;
  for (; t + 3 < tokens; t += 4) {
    const x0 = t * cols;
    const x1 = x0 + cols;
    const x2 = x1 + cols;
    const x3 = x2 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let k = 0; k < cols; k++) {
      const wk = w[wOffset + k];
      s0 += x[x0 + k] * wk;
      s1 += x[x1 + k] * wk;
      s2 += x[x2 + k] * wk;
      s3 += x[x3 + k] * wk;
    }
    const o = t * rows + r;
    if (accumulate) {
      out[o] += s0;
      out[o + rows] += s1;
      out[o + 2 * rows] += s2;
      out[o + 3 * rows] += s3;
    } else {
      out[o] = s0;
      out[o + rows] = s1;
      out[o + 2 * rows] = s2;
      out[o + 3 * rows] = s3;
    }
  }
  for (; t < tokens; t++) {
    const x0 = t * cols;
    let s0 = 0;
    let s1 = 0;
    let k = 0;
    for (; k + 1 < cols; k += 2) {
      s0 += x[x0 + k] * w[wOffset + k];
      s1 += x[x0 + k + 1] * w[wOffset + k + 1];
    }
    if (k < cols) s0 += x[x0 + k] * w[wOffset + k];
    const o = t * rows + r;
    out[o] = (accumulate ? out[o] : 0) + s0 + s1;
  }
}

function checkLength(name: string, array: ArrayLike<number>, needed: number): void {
  if (array.length < needed) throw new RangeError(`${name}: length ${array.length} < required ${needed}`);
}

/** f32 value of the weight at (r, c) of a bit-plane LUT layer, for `bits` <= parent bits. */
function dequantLutRow(
  out: Float32Array,
  planes: Uint32Array,
  lut: Uint16Array,
  rows: number,
  cols: number,
  bits: number,
  r: number,
  table: Float32Array,
): void {
  const words = cols >>> 5;
  const planeStride = rows * words;
  const lutRow = r * (1 << bits);
  for (let w = 0; w < words; w++) {
    for (let j = 0; j < 32; j++) {
      let index = 0;
      for (let p = 0; p < bits; p++)
        index = (index << 1) | ((planes[p * planeStride + r * words + w] >>> j) & 1);
      out[w * 32 + j] = table[lut[lutRow + index]];
    }
  }
}

function dequantBcqRow(
  out: Float32Array,
  planes: Uint32Array,
  scales: Uint16Array,
  offsets: Uint16Array | null,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
  r: number,
  table: Float32Array,
): void {
  const words = cols >>> 5;
  const planeStride = rows * words;
  const groups = Math.ceil(cols / groupSize);
  for (let c = 0; c < cols; c++) {
    const g = Math.floor(c / groupSize);
    const w = c >>> 5;
    const j = c & 31;
    let value = offsets ? table[offsets[r * groups + g]] : 0;
    for (let i = 0; i < bits; i++) {
      const bit = (planes[i * planeStride + r * words + w] >>> j) & 1;
      const s = table[scales[(r * groups + g) * bits + i]];
      value += bit ? s : -s;
    }
    out[c] = value;
  }
}

export class TsBackend implements Backend {
  readonly name = 'ts' as const;
  readonly threads = 1;
  private rowScratch = new Float32Array(0);

  private scratch(cols: number): Float32Array {
    if (this.rowScratch.length < cols) this.rowScratch = new Float32Array(cols);
    return this.rowScratch;
  }

  matmul(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array | Uint16Array,
    weightDtype: WeightDtype,
    tokens: number,
    rows: number,
    cols: number,
    accumulate = false,
  ): void {
    checkLength('x', x, tokens * cols);
    checkLength('weight', weight, rows * cols);
    checkLength('out', out, tokens * rows);
    if (weightDtype === 'f32') {
      for (let r = 0; r < rows; r++)
        rowTimesTokens(out, x, weight as Float32Array, r * cols, tokens, rows, cols, r, accumulate);
      return;
    }
    const row = this.scratch(cols);
    for (let r = 0; r < rows; r++) {
      decodeHalfRow(weight as Uint16Array, weightDtype, r * cols, cols, row);
      rowTimesTokens(out, x, row, 0, tokens, rows, cols, r, accumulate);
    }
  }

  matmulLut(
    out: Float32Array,
    x: Float32Array,
    planes: Uint32Array,
    lut: Uint16Array,
    tokens: number,
    rows: number,
    cols: number,
    bits: number,
  ): void {
    checkLength('lut', lut, rows << bits);
    checkLength('planes', planes, (bits * rows * cols) >>> 5);
    const row = this.scratch(cols);
    const table = f16Lut();
    for (let r = 0; r < rows; r++) {
      dequantLutRow(row, planes, lut, rows, cols, bits, r, table);
      rowTimesTokens(out, x, row, 0, tokens, rows, cols, r, false);
    }
  }

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
  ): void {
    const row = this.scratch(cols);
    const table = f16Lut();
    for (let r = 0; r < rows; r++) {
      dequantBcqRow(row, planes, scales, offsets, rows, cols, bits, groupSize, r, table);
      rowTimesTokens(out, x, row, 0, tokens, rows, cols, r, false);
    }
  }

  dequantLut(
    out: Float32Array,
    planes: Uint32Array,
    lut: Uint16Array,
    rows: number,
    cols: number,
    bits: number,
  ): void {
    const table = f16Lut();
    for (let r = 0; r < rows; r++)
      dequantLutRow(out.subarray(r * cols), planes, lut, rows, cols, bits, r, table);
  }

  dequantBcq(
    out: Float32Array,
    planes: Uint32Array,
    scales: Uint16Array,
    offsets: Uint16Array | null,
    rows: number,
    cols: number,
    bits: number,
    groupSize: number,
  ): void {
    const table = f16Lut();
    for (let r = 0; r < rows; r++) {
      dequantBcqRow(out.subarray(r * cols), planes, scales, offsets, rows, cols, bits, groupSize, r, table);
    }
  }

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
  ): void {
    // Materialise op(A) as [m, k] and op(B)ᵀ as [n, k] so the inner loop is a contiguous dot.
    const left = new Float32Array(m * k);
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) left[i * k + p] = transA ? a[p * lda + i] : a[i * lda + p];
    }
    const right = new Float32Array(n * k);
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < k; p++) right[j * k + p] = transB ? b[j * ldb + p] : b[p * ldb + j];
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += left[i * k + p] * right[j * k + p];
        const o = i * ldc + j;
        c[o] = alpha * s + (beta === 0 ? 0 : beta * c[o]);
      }
    }
  }

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
  ): void {
    if (posOffset + tokens > kvLen)
      throw new RangeError(`attention: posOffset + tokens (${posOffset + tokens}) > kvLen (${kvLen})`);
    const group = heads / kvHeads;
    const kvStride = kvHeads * headDim;
    const scores = new Float64Array(kvLen);
    const acc = new Float64Array(headDim);
    for (let t = 0; t < tokens; t++) {
      const visible = posOffset + t + 1;
      for (let h = 0; h < heads; h++) {
        const qo = (t * heads + h) * headDim;
        const kvh = Math.floor(h / group) * headDim;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < visible; j++) {
          const ko = j * kvStride + kvh;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qo + d] * k[ko + d];
          s *= scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j < visible; j++) {
          const e = Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        acc.fill(0);
        for (let j = 0; j < visible; j++) {
          const p = scores[j] / sum;
          const vo = j * kvStride + kvh;
          for (let d = 0; d < headDim; d++) acc[d] += p * v[vo + d];
        }
        for (let d = 0; d < headDim; d++) out[qo + d] = acc[d];
      }
    }
  }

  rmsNorm(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    tokens: number,
    dim: number,
    eps: number,
  ): void {
    rmsNormTs(out, x, weight, tokens, dim, eps);
  }
}

/** RMSNorm in f32 semantics (HF computes it in f32: x · rsqrt(mean(x²) + eps) · w). */
export function rmsNormTs(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  tokens: number,
  dim: number,
  eps: number,
): void {
  for (let t = 0; t < tokens; t++) {
    const o = t * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[o + i] = Math.fround(x[o + i] * inv) * weight[i];
  }
}

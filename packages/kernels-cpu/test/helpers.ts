// Test oracles written from the specs, independent of the kernels: seeded random data,
// half-precision decoders, layout-v1 bit readers and float64 reference kernels.

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomF32(n: number, rand: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/** IEEE binary16 bits -> number (handles subnormals, inf, nan). */
export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits -> number: the top half of an f32. */
export function bf16ToNumber(h: number): number {
  const u = new Uint32Array([h << 16]);
  return new Float32Array(u.buffer)[0];
}

/** Random finite f16 bit patterns with exponent field in [minExp, maxExp] (0 gives subnormals). */
export function randomF16Bits(n: number, rand: () => number, minExp = 0, maxExp = 16): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const exp = minExp + Math.floor(rand() * (maxExp - minExp + 1));
    out[i] = (rand() < 0.5 ? 0x8000 : 0) | (exp << 10) | Math.floor(rand() * 1024);
  }
  return out;
}

/** Random bf16 bit patterns of magnitude ~[2^-6, 2). */
export function randomBf16Bits(n: number, rand: () => number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const exp = 121 + Math.floor(rand() * 7); // 2^-6 .. 2^0
    out[i] = (rand() < 0.5 ? 0x8000 : 0) | (exp << 7) | Math.floor(rand() * 128);
  }
  return out;
}

export function decodeAll(bits: Uint16Array, decode: (h: number) => number): Float64Array {
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = decode(bits[i]);
  return out;
}

/** Unit roundoff of f32. */
export const U32 = 2 ** -24;

/** Rigorous bound for an f32 dot product of length n in any summation order: gamma_n * sum |x_i y_i|. */
export function dotBound(n: number, absSum: number): number {
  const nu = (n + 1) * U32;
  return (nu / (1 - nu)) * absSum + 1e-30;
}

/**
 * Reference x·Wᵀ in float64: x [tokens, cols], w [rows, cols] (as numbers).
 * Returns values and the per-entry error bound for an f32 computation.
 */
export function refMatmul(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  tokens: number,
  rows: number,
  cols: number,
): { value: Float64Array; bound: Float64Array } {
  const value = new Float64Array(tokens * rows);
  const bound = new Float64Array(tokens * rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      let a = 0;
      for (let k = 0; k < cols; k++) {
        const p = x[t * cols + k] * w[r * cols + k];
        s += p;
        a += Math.abs(p);
      }
      value[t * rows + r] = s;
      bound[t * rows + r] = dotBound(cols, a);
    }
  }
  return { value, bound };
}

/** Indices of the entries where |got - want| > bound (+ extra absolute slack), at most 5. */
export function mismatches(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: ArrayLike<number> | number,
  count = want.length,
): string[] {
  const bad: string[] = [];
  for (let i = 0; i < count && bad.length < 5; i++) {
    const b = typeof bound === 'number' ? bound : bound[i];
    const g = got[i];
    if (!(Math.abs(g - want[i]) <= b)) bad.push(`[${i}] got ${g}, want ${want[i]} ± ${b}`);
  }
  return bad;
}

// ---------------------------------------------------------------- layout v1 planes ----
/** Builds a [P, rows, cols/32] plane tensor from parent indices (plane 0 = MSB), per the spec. */
export function packPlanes(indices: Uint8Array, rows: number, cols: number, parentBits: number): Uint32Array {
  const words = cols / 32;
  const planes = new Uint32Array(parentBits * rows * words);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const idx = indices[r * cols + c];
      for (let p = 0; p < parentBits; p++) {
        if ((idx >> (parentBits - 1 - p)) & 1) planes[(p * rows + r) * words + (c >> 5)] |= 1 << (c & 31);
      }
    }
  }
  return planes;
}

/** Bit of plane p for (row, col): bit j of word w is column 32w + j (little-endian u32). */
export function planeBit(
  planes: Uint32Array,
  p: number,
  rows: number,
  cols: number,
  r: number,
  c: number,
): number {
  const words = cols / 32;
  return (planes[(p * rows + r) * words + (c >> 5)] >>> (c & 31)) & 1;
}

/** Any-Precision weights at width `bits` (float64) read from the planes per the spec. */
export function refDequantLut(
  planes: Uint32Array,
  lut: Uint16Array,
  rows: number,
  cols: number,
  bits: number,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let idx = 0;
      for (let p = 0; p < bits; p++) idx += planeBit(planes, p, rows, cols, r, c) << (bits - 1 - p);
      out[r * cols + c] = f16ToNumber(lut[r * 2 ** bits + idx]);
    }
  }
  return out;
}

/** AnyBCQ weights at width `bits`: offset + sum_i scale_i * (bit_i ? +1 : -1), per group. */
export function refDequantBcq(
  planes: Uint32Array,
  scales: Uint16Array,
  offsets: Uint16Array | null,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
): { value: Float64Array; bound: Float64Array } {
  const groups = Math.ceil(cols / groupSize);
  const value = new Float64Array(rows * cols);
  const bound = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / groupSize);
      let v = offsets ? f16ToNumber(offsets[r * groups + g]) : 0;
      let a = Math.abs(v);
      for (let i = 0; i < bits; i++) {
        const s = f16ToNumber(scales[(r * groups + g) * bits + i]);
        v += planeBit(planes, i, rows, cols, r, c) ? s : -s;
        a += Math.abs(s);
      }
      value[r * cols + c] = v;
      bound[r * cols + c] = dotBound(bits + 1, a);
    }
  }
  return { value, bound };
}

export function randomPlanes(n: number, rand: () => number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 4294967296) >>> 0;
  return out;
}

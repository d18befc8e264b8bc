// Independent host reference for the CUDA kernels, written from the layout v1 text in
// docs/architecture.md (not from the kernel code): random container tensors, fp32/fp64
// dequantisation and matmul, and the fp16-rounding tolerance. Plain JS so that the GPU
// suite runs under `node --test` on the GPU machine without any dev tooling.

/** Deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** IEEE binary16 bits -> number. */
export function f16ToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** number -> nearest binary16 bits (ties to even), for values well inside the normal range. */
export function numberToF16(v) {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1; // guard log2 rounding
  if (e < -14) {
    const m = Math.round(a / 2 ** -24); // subnormal; exact ties (rounded up here) do not occur in the tests
    return sign | m;
  }
  const m = a / 2 ** e - 1; // [0, 1)
  const q = m * 1024;
  let qi = Math.floor(q);
  const frac = q - qi;
  if (frac > 0.5 || (frac === 0.5 && qi & 1)) qi += 1;
  if (qi === 1024) {
    qi = 0;
    e += 1;
  }
  return sign | ((e + 15) << 10) | qi;
}

/** Random fp16 array with values uniform in [lo, hi), returned as bits and as numbers. */
export function randomF16(n, lo, hi, next) {
  const bits = new Uint16Array(n);
  const vals = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    bits[i] = numberToF16(lo + (hi - lo) * next());
    vals[i] = f16ToNumber(bits[i]);
  }
  return { bits, vals };
}

/** Random bit-planes [P, rows, cols/32] (every bit pattern is a valid container). */
export function randomPlanes(P, rows, cols, next) {
  const words = new Uint32Array(P * rows * (cols / 32));
  for (let i = 0; i < words.length; i++) words[i] = (next() * 4294967296) >>> 0;
  return words;
}

/** Bit `p` of weight (r, c): bit (c % 32) of word c/32 of row r of plane p (layout v1). */
export function planeBit(planes, rows, cols, p, r, c) {
  const words = cols / 32;
  return (planes[(p * rows + r) * words + (c >>> 5)] >>> (c & 31)) & 1;
}

/** Any-Precision table lut<bits> F16 [rows, 2^bits]: sorted centroids per row, like a real quantizer. */
export function randomLut(rows, bits, next) {
  const E = 2 ** bits;
  const bitsArr = new Uint16Array(rows * E);
  for (let r = 0; r < rows; r++) {
    const scale = 0.01 + 0.05 * next();
    const v = Array.from({ length: E }, () => (next() * 2 - 1) * scale).sort((a, b) => a - b);
    for (let e = 0; e < E; e++) bitsArr[r * E + e] = numberToF16(v[e]);
  }
  return bitsArr;
}

/** AnyBCQ scales<bits> F16 [rows, groups, bits] (positive, halving like residual BCQ) and offsets F16 [rows, groups]. */
export function randomBcq(rows, groups, bits, next, withOffsets = true) {
  const scales = new Uint16Array(rows * groups * bits);
  const offsets = withOffsets ? new Uint16Array(rows * groups) : null;
  for (let i = 0; i < rows * groups; i++) {
    let s = 0.005 + 0.04 * next();
    for (let b = 0; b < bits; b++) {
      scales[i * bits + b] = numberToF16(s * (0.75 + 0.5 * next()));
      s /= 2;
    }
    if (offsets) offsets[i] = numberToF16((next() * 2 - 1) * 0.01);
  }
  return { scales, offsets };
}

/**
 * Dequantise the given rows in float64 (exact fp16 table values, no rounding of the BCQ sum).
 * Returns { w: Float64Array [rowList.length, cols], mag: Float64Array same shape } where mag is
 * the magnitude that fp16 rounding of the weight scales with (|w| for Any-Precision, |offset| +
 * sum |scale| for AnyBCQ, whose kernels may round partial sums of planes).
 */
export function dequantRows(layer, rowList) {
  const { method, planes, rows, cols, bits } = layer;
  const w = new Float64Array(rowList.length * cols);
  const mag = new Float64Array(rowList.length * cols);
  const E = 2 ** bits;
  const groups = method === 'bcq' ? Math.ceil(cols / layer.groupSize) : 0;
  rowList.forEach((r, i) => {
    for (let c = 0; c < cols; c++) {
      let v;
      let m;
      if (method === 'lut') {
        let idx = 0;
        for (let p = 0; p < bits; p++) idx = idx * 2 + planeBit(planes, rows, cols, p, r, c);
        v = f16ToNumber(layer.lut[r * E + idx]);
        m = Math.abs(v);
      } else {
        const g = Math.floor(c / layer.groupSize);
        const off = layer.offsets ? f16ToNumber(layer.offsets[r * groups + g]) : 0;
        v = off;
        m = Math.abs(off);
        for (let p = 0; p < bits; p++) {
          const s = f16ToNumber(layer.scales[(r * groups + g) * bits + p]);
          v += planeBit(planes, rows, cols, p, r, c) ? s : -s;
          m += Math.abs(s);
        }
      }
      w[i * cols + c] = v;
      mag[i * cols + c] = m;
    }
  });
  return { w, mag };
}

/**
 * Reference out[t, rowList[i]] = Σ_k x[t, k] w[i, k] in float64, and the tolerance for each:
 * 2^-10 Σ_k mag[i, k] |x[t, k]|, i.e. one fp16 rounding of each weight (the kernels feed fp16
 * weights to fp32-accumulating tensor cores) plus as much again for fp32 accumulation.
 */
export function referenceMatmul(wRows, x, tokens, cols) {
  const n = wRows.w.length / cols;
  const ref = new Float64Array(tokens * n);
  const tol = new Float64Array(tokens * n);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < n; i++) {
      let s = 0;
      let a = 0;
      const wo = i * cols;
      const xo = t * cols;
      for (let k = 0; k < cols; k++) {
        s += wRows.w[wo + k] * x[xo + k];
        a += wRows.mag[wo + k] * Math.abs(x[xo + k]);
      }
      ref[t * n + i] = s;
      tol[t * n + i] = a * 2 ** -10 + 1e-7;
    }
  return { ref, tol };
}

/** Rows to check on large shapes: the first and last tiles' edges plus a random sample. */
export function sampleRows(rows, count, next) {
  if (rows <= count) return Array.from({ length: rows }, (_, i) => i);
  const set = new Set(
    [0, 1, 15, 16, 63, 64, rows - 1, rows - 2, rows - 17].filter((r) => r >= 0 && r < rows),
  );
  while (set.size < count) set.add(Math.floor(next() * rows));
  return [...set].sort((a, b) => a - b);
}

// Reference pack/unpack/dequantize for bit-plane layout v1 (SPEC.md §4, docs/architecture.md).
// These are the executable definition of the layout: clear loops, not fast kernels.
//
//   planes: U32 [P, rows, cols/32]; bit j of word w of (plane p, row r) is column 32w + j.
//   Any-Precision (anyprec): plane 0 is the MSB of the P-bit index; width b uses planes 0..b-1
//     and index_b = parent_index >> (P - b), looked up in lut<b>[r, index_b].
//   AnyBCQ (anybcq): plane i holds sign_i (bit 1 = +1, 0 = -1);
//     w = offset_b[r, g] + sum_{i<b} scales_b[r, g, i] * sign_i, g = floor(c / groupSize).
import { f16ToF32 } from '../dtype.js';
import { ArgumentError } from '../errors.js';

const where = '(planes)';

function checkDims(rows: number, cols: number, bits: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0)
    throw new ArgumentError(where, `rows must be a non-negative integer, got ${rows}`);
  if (!Number.isSafeInteger(cols) || cols < 0 || cols % 32 !== 0) {
    throw new ArgumentError(
      where,
      `cols must be a non-negative multiple of 32 (layout planes-u32-v1), got ${cols}`,
    );
  }
  if (!Number.isInteger(bits) || bits < 1 || bits > 8)
    throw new ArgumentError(where, `bits must be an integer in 1..8, got ${bits}`);
}

function checkPlanes(planes: Uint32Array, rows: number, cols: number, bits: number): void {
  const need = bits * rows * (cols / 32);
  if (planes.length < need) {
    throw new ArgumentError(
      where,
      `planes holds ${planes.length} words, fewer than bits×rows×cols/32 = ${need}`,
    );
  }
}

/** Floats from a table given as f16 bit patterns (Uint16Array) or already f32. */
function asF32(table: Uint16Array | Float32Array): Float32Array {
  return table instanceof Float32Array ? table : f16ToF32(table);
}

/**
 * Packs b-bit indices (row-major [rows, cols], each < 2^bits) into planes [bits, rows, cols/32],
 * plane 0 = most significant bit.
 */
export function packPlanes(indices: Uint8Array, rows: number, cols: number, bits: number): Uint32Array {
  checkDims(rows, cols, bits);
  if (indices.length !== rows * cols)
    throw new ArgumentError(
      where,
      `indices has ${indices.length} entries, expected rows×cols = ${rows * cols}`,
    );
  const words = cols / 32;
  const planes = new Uint32Array(bits * rows * words);
  const limit = 1 << bits;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const idx = indices[r * cols + c];
      if (idx >= limit)
        throw new ArgumentError(where, `index ${idx} at row ${r}, col ${c} does not fit in ${bits} bits`);
      const w = c >>> 5;
      const bit = 1 << (c & 31);
      for (let p = 0; p < bits; p++) {
        if ((idx >>> (bits - 1 - p)) & 1) planes[(p * rows + r) * words + w] |= bit;
      }
    }
  }
  return planes;
}

/**
 * Reads the b-bit indices from the first `bits` planes of `planes` (which may hold more:
 * the parent's P planes), row-major [rows, cols]. For anyprec this is the width-b index.
 */
export function unpackIndices(planes: Uint32Array, rows: number, cols: number, bits: number): Uint8Array {
  checkDims(rows, cols, bits);
  checkPlanes(planes, rows, cols, bits);
  const words = cols / 32;
  const out = new Uint8Array(rows * cols);
  for (let p = 0; p < bits; p++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const bit = (planes[(p * rows + r) * words + (c >>> 5)] >>> (c & 31)) & 1;
        out[r * cols + c] |= bit << (bits - 1 - p);
      }
    }
  }
  return out;
}

/**
 * Packs BCQ sign planes: `signs` is [bits, rows, cols] (plane-major), a value > 0 means +1
 * (stored bit 1), anything else −1 (bit 0). Returns planes [bits, rows, cols/32].
 */
export function packSigns(
  signs: Int8Array | Uint8Array | Float32Array,
  rows: number,
  cols: number,
  bits: number,
): Uint32Array {
  checkDims(rows, cols, bits);
  if (signs.length !== bits * rows * cols) {
    throw new ArgumentError(
      where,
      `signs has ${signs.length} entries, expected bits×rows×cols = ${bits * rows * cols}`,
    );
  }
  const words = cols / 32;
  const planes = new Uint32Array(bits * rows * words);
  for (let p = 0; p < bits; p++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        if (signs[(p * rows + r) * cols + c] > 0) planes[(p * rows + r) * words + (c >>> 5)] |= 1 << (c & 31);
      }
    }
  }
  return planes;
}

/**
 * Any-Precision dequantization at width `bits`: W[r, c] = lut[r, index_bits(r, c)].
 * `lut` is [rows, 2^bits] as f16 bit patterns or f32. Returns f32 [rows, cols].
 */
export function dequantizeLut(
  planes: Uint32Array,
  lut: Uint16Array | Float32Array,
  rows: number,
  cols: number,
  bits: number,
): Float32Array {
  checkDims(rows, cols, bits);
  checkPlanes(planes, rows, cols, bits);
  const entries = 1 << bits;
  if (lut.length !== rows * entries)
    throw new ArgumentError(where, `lut has ${lut.length} entries, expected rows×2^bits = ${rows * entries}`);
  const table = asF32(lut);
  const idx = unpackIndices(planes, rows, cols, bits);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = table[r * entries + idx[r * cols + c]];
  }
  return out;
}

/**
 * AnyBCQ dequantization at width `bits`: W[r, c] = offset[r, g] + sum_{i<bits} scales[r, g, i] * (bit_i ? +1 : -1)
 * with g = floor(c / groupSize), accumulated in f32 in the order offset, i = 0, 1, ....
 * `scales` is [rows, groups, bits], `offsets` [rows, groups] or null (zero), as f16 bits or f32.
 */
export function dequantizeBcq(
  planes: Uint32Array,
  scales: Uint16Array | Float32Array,
  offsets: Uint16Array | Float32Array | null,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
): Float32Array {
  checkDims(rows, cols, bits);
  checkPlanes(planes, rows, cols, bits);
  if (!Number.isSafeInteger(groupSize) || groupSize < 1)
    throw new ArgumentError(where, `groupSize must be a positive integer, got ${groupSize}`);
  const groups = Math.ceil(cols / groupSize);
  if (scales.length !== rows * groups * bits) {
    throw new ArgumentError(
      where,
      `scales has ${scales.length} entries, expected rows×groups×bits = ${rows * groups * bits}`,
    );
  }
  if (offsets && offsets.length !== rows * groups) {
    throw new ArgumentError(
      where,
      `offsets has ${offsets.length} entries, expected rows×groups = ${rows * groups}`,
    );
  }
  const s = asF32(scales);
  const o = offsets ? asF32(offsets) : null;
  const words = cols / 32;
  const out = new Float32Array(rows * cols);
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / groupSize);
      let acc = o ? o[r * groups + g] : 0;
      for (let i = 0; i < bits; i++) {
        const bit = (planes[(i * rows + r) * words + (c >>> 5)] >>> (c & 31)) & 1;
        const sc = s[(r * groups + g) * bits + i];
        acc = f(acc + (bit ? sc : -sc));
      }
      out[r * cols + c] = acc;
    }
  }
  return out;
}

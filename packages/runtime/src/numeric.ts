// Scalar half-precision decoding for the TypeScript hot loops (the bulk converters live in
// @anyprec/format). One 256 KiB table turns every f16 bit pattern into its f32 value.

let f16Table: Float32Array | null = null;

function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** f16 bit pattern -> f32 value, as a 65536-entry table. */
export function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = decodeF16(h);
  }
  return f16Table;
}

const bf16Scratch = new Uint32Array(1);
const bf16View = new Float32Array(bf16Scratch.buffer);

/** bf16 bit pattern -> f32 value (exact: bf16 is the top half of an f32). */
export function bf16ToNumber(h: number): number {
  bf16Scratch[0] = h << 16;
  return bf16View[0] as number;
}

/** Decodes `count` half-precision values starting at `offset` into `out` (f32). */
export function decodeHalfRow(
  src: Uint16Array,
  dtype: 'bf16' | 'f16',
  offset: number,
  count: number,
  out: Float32Array,
): void {
  if (dtype === 'bf16') {
    const bits = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) bits[i] = (src[offset + i] as number) << 16;
  } else {
    const table = f16Lut();
    for (let i = 0; i < count; i++) out[i] = table[src[offset + i] as number] as number;
  }
}

/** Whole-array half -> f32. */
export function halfToF32(src: Uint16Array, dtype: 'bf16' | 'f16'): Float32Array {
  const out = new Float32Array(src.length);
  decodeHalfRow(src, dtype, 0, src.length, out);
  return out;
}

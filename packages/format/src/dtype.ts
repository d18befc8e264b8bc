// Safetensors dtypes and float conversions. All data are little-endian (the safetensors
// spec); typed-array views assume a little-endian host, which every platform Node and
// browsers run on is.

/** Safetensors dtype names this library reads and writes. */
export type DType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I8'
  | 'U8'
  | 'I16'
  | 'U16'
  | 'I32'
  | 'U32'
  | 'I64'
  | 'U64'
  | 'BOOL';

/** Bytes per element for each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  I16: 2,
  U16: 2,
  I32: 4,
  U32: 4,
  I64: 8,
  U64: 8,
  BOOL: 1,
});

/** True when `name` is a dtype this library knows. */
export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && Object.hasOwn(DTYPE_BYTES, name);
}

/** True for the float dtypes that {@link toF32} converts (F64, F32, F16, BF16). */
export function isFloatDType(dtype: DType): boolean {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

let f16Table: Float32Array | null = null;

function f16Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return sign | 0x7f800000 | (mant << 13); // inf / nan (payload kept)
  if (exp !== 0) return sign | ((exp + 112) << 23) | (mant << 13);
  if (mant === 0) return sign;
  // subnormal half: normalize into an f32 normal
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return sign | (e << 23) | ((m & 0x3ff) << 13);
}

function table(): Float32Array {
  if (f16Table) return f16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = f16Bits(h) >>> 0;
  f16Table = new Float32Array(bits.buffer);
  return f16Table;
}

/** IEEE half (f16 bit patterns) to f32, exactly (every f16 value is an f32 value). */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** bfloat16 bit patterns to f32, exactly (bf16 is the top half of an f32). */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return out;
}

/**
 * f32 to IEEE half bit patterns with round-to-nearest-even; overflow gives ±inf, NaN stays
 * NaN (quiet), values below the smallest subnormal round to ±0.
 */
export function f32ToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // subnormal half (or zero): shift the full 24-bit significand, round to nearest even
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e; // 14..24
      let h = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1) === 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // may carry into exp (→ inf): correct
    out[i] = sign | h;
  }
  return out;
}

/** f32 to bfloat16 bit patterns with round-to-nearest-even; NaN stays NaN (quiet). */
export function f32ToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** A typed view of `bytes` (copied first when its offset is not aligned to the element size). */
export function viewAs<T extends 'u16' | 'u32' | 'f32' | 'f64'>(
  bytes: Uint8Array,
  kind: T,
): T extends 'u16'
  ? Uint16Array
  : T extends 'u32'
    ? Uint32Array
    : T extends 'f32'
      ? Float32Array
      : Float64Array {
  const size = kind === 'u16' ? 2 : kind === 'f64' ? 8 : 4;
  let b = bytes;
  if (b.byteOffset % size !== 0) b = Uint8Array.prototype.slice.call(b); // a copy even for a Node Buffer
  const n = Math.floor(b.byteLength / size);
  // biome-ignore lint/suspicious/noExplicitAny: conditional return type
  const ctor: any =
    kind === 'u16'
      ? Uint16Array
      : kind === 'u32'
        ? Uint32Array
        : kind === 'f32'
          ? Float32Array
          : Float64Array;
  return new ctor(b.buffer, b.byteOffset, n);
}

/**
 * Converts raw little-endian tensor bytes of a float dtype (F64/F32/F16/BF16) to f32.
 * Returns `null` for non-float dtypes.
 */
export function toF32(bytes: Uint8Array, dtype: DType): Float32Array | null {
  switch (dtype) {
    case 'F32':
      return viewAs(bytes, 'f32');
    case 'F16':
      return f16ToF32(viewAs(bytes, 'u16'));
    case 'BF16':
      return bf16ToF32(viewAs(bytes, 'u16'));
    case 'F64':
      return Float32Array.from(viewAs(bytes, 'f64'));
    default:
      return null;
  }
}

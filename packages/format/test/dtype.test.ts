// Float conversions against definitions written here: IEEE binary16 decoded by its formula,
// round-to-nearest-even chosen by exact f64 distance to the neighbouring representable values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, toF32 } from '../src/dtype.js';

function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return e === 0 ? s * 2 ** -14 * (m / 1024) : s * 2 ** (e - 15) * (1 + m / 1024);
}

// all finite non-negative f16 values, ascending (bit patterns 0..0x7bff are ordered)
const positives = Array.from({ length: 0x7c00 }, (_, h) => f16Value(h));

function refF32ToF16(x: number): number {
  if (Number.isNaN(x)) return -1; // checked separately
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65504 + half an ulp (16) rounds to even = inf
  let lo = 0;
  let hi = positives.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positives[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - positives[lo];
  const dh = positives[hi] - a;
  const h = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return sign | h;
}

function refF32ToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  const lo = u & 0xffff0000;
  const f = (bits: number) => new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
  const a = f(lo);
  if ((u & 0xffff) === 0) return lo >>> 16;
  let b = f((lo + 0x10000) >>> 0); // next bf16 away from zero
  // IEEE rounds as if the exponent were unbounded: the neighbour above the largest finite is 2^128
  if (!Number.isFinite(b)) b = Math.sign(b) * 2 ** 128;
  const da = Math.abs(x - a);
  const db = Math.abs(b - x);
  if (da < db) return lo >>> 16;
  if (db < da) return ((lo + 0x10000) >>> 16) & 0xffff;
  return (lo >>> 16) % 2 === 0 ? lo >>> 16 : ((lo + 0x10000) >>> 16) & 0xffff;
}

const f32 = (x: number) => Math.fround(x);

describe('f16', () => {
  it('f16ToF32 matches the binary16 formula for all 65536 bit patterns', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const out = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = f16Value(h);
      if (Number.isNaN(want)) expect(Number.isNaN(out[h])).toBe(true);
      else
        expect(
          Object.is(out[h], want) ||
            (out[h] === 0 && want === 0 && (h & 0x8000 ? Object.is(out[h], -0) : Object.is(out[h], 0))),
        ).toBe(true);
    }
  });

  it('f32ToF16 ∘ f16ToF32 is the identity on every non-NaN pattern', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter(
      (h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0,
    );
    expect(Array.from(f32ToF16(f16ToF32(all)))).toEqual(Array.from(all));
  });

  it('f32ToF16 rounds to nearest even (random f32, exact midpoints, overflow, underflow)', () => {
    const mids: number[] = [];
    for (let h = 0; h < 0x7bff; h += 7) mids.push(f32((positives[h] + positives[h + 1]) / 2));
    const edge = [
      65504,
      65519.996,
      65520,
      1e9,
      2 ** -24,
      2 ** -25,
      2 ** -25 * 1.0000001,
      2 ** -26,
      1e-30,
      0,
      -0,
      -1.5,
      6.1e-5,
    ];
    const values = [...mids, ...mids.map((x) => -x), ...edge, ...edge.map((x) => -x)].map(f32);
    const got = f32ToF16(Float32Array.from(values));
    for (const [i, x] of values.entries()) expect([x, got[i]]).toEqual([x, refF32ToF16(x)]);
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(f32ToF16(Float32Array.of(x))[0]).toBe(refF32ToF16(x));
      }),
      { numRuns: 3000 },
    );
    const nan = f32ToF16(Float32Array.of(Number.NaN))[0];
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });
});

describe('bf16', () => {
  it('bf16ToF32 is the top half of the f32 bit pattern', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = new Uint32Array(bf16ToF32(all).buffer);
    for (let h = 0; h < 65536; h++) expect(got[h]).toBe((h * 65536) >>> 0);
  });

  it('f32ToBf16 rounds to nearest even, NaN stays NaN', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(f32ToBf16(Float32Array.of(x))[0]).toBe(refF32ToBf16(x));
      }),
      { numRuns: 3000 },
    );
    // exact ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 (rounds to 1, even); 1 + 3·2^-8 rounds up to 1 + 2^-6
    expect(Array.from(f32ToBf16(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -0)))).toEqual([
      0x3f80, 0x3f82, 0x7f80, 0x8000,
    ]);
    const nan = f32ToBf16(new Float32Array(new Uint32Array([0x7f800001]).buffer))[0];
    expect(nan & 0x7f80).toBe(0x7f80);
    expect(nan & 0x7f).not.toBe(0);
  });
});

describe('toF32', () => {
  it('converts raw little-endian bytes of F64/F32/F16/BF16, also from unaligned views; null for integers', () => {
    const raw = new Uint8Array(1 + 8 * 2);
    const dv = new DataView(raw.buffer, 1);
    dv.setFloat64(0, 1.5, true);
    dv.setFloat64(8, -2.25, true);
    expect(Array.from(toF32(raw.subarray(1), 'F64')!)).toEqual([1.5, -2.25]);
    dv.setFloat32(0, 3.5, true);
    expect(toF32(raw.subarray(1, 5), 'F32')![0]).toBe(3.5);
    dv.setUint16(0, 0x3c00, true); // f16 1.0
    dv.setUint16(2, 0xc000, true); // f16 -2.0
    expect(Array.from(toF32(raw.subarray(1, 5), 'F16')!)).toEqual([1, -2]);
    dv.setUint16(0, 0x4049, true); // bf16 3.140625
    expect(toF32(raw.subarray(1, 3), 'BF16')![0]).toBe(3.140625);
    expect(toF32(raw, 'I32')).toBeNull();
  });
});

// Bit-plane kernels against readers written from the layout-v1 spec (docs/architecture.md):
// every width 1..8, planes tensors with more parent bits than read, odd row counts, BCQ
// groups that do not divide cols, with and without offsets, GEMV and GEMM paths.
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CpuIsa,
  cpuInfo,
  dequantBcq,
  dequantLut,
  matmulBcq,
  matmulLut,
  setIsa,
  setThreads,
} from '../src/index.js';
import {
  f16ToNumber,
  mismatches,
  packPlanes,
  randomF16Bits,
  randomF32,
  randomPlanes,
  refDequantBcq,
  refDequantLut,
  refMatmul,
  rng,
} from './helpers.js';

const info = cpuInfo();
const order = ['scalar', 'avx2', 'avx512'];
const isas = (['avx512', 'avx2', 'scalar'] as CpuIsa[]).filter(
  (isa) => order.indexOf(isa) <= order.indexOf(info.bestIsa ?? 'scalar'),
);
afterAll(() => {
  setIsa('best');
  setThreads(info.hardwareThreads ?? 1);
});

describe.runIf(info.available)('Any-Precision (lut) planes', () => {
  it('the spec reader agrees with "b-bit index = top b bits of the parent index"', () => {
    const rand = rng(1);
    const [rows, cols, P] = [3, 64, 8];
    const indices = new Uint8Array(rows * cols).map(() => Math.floor(rand() * 256));
    const planes = packPlanes(indices, rows, cols, P);
    for (let b = 1; b <= P; b++) {
      // LUT entry e holds e itself (exact in f16), so dequantisation returns the index.
      const lut = identityLut(rows, b);
      const ref = refDequantLut(planes, lut, rows, cols, b);
      const out = new Float32Array(rows * cols);
      dequantLut(out, planes, lut, rows, cols, b);
      for (let i = 0; i < rows * cols; i++) {
        expect(ref[i]).toBe(indices[i] >> (P - b));
        expect(out[i]).toBe(indices[i] >> (P - b));
      }
    }
  });

  for (const isa of isas) {
    it(`dequantLut is exact for every width 1..8 (${isa})`, () => {
      setIsa(isa);
      const rand = rng(2);
      for (const [rows, cols, P] of [
        [5, 96, 8],
        [13, 64, 6],
        [1, 32, 3],
      ]) {
        const planes = randomPlanes(P * rows * (cols / 32), rand);
        for (let b = 1; b <= P; b++) {
          const lut = randomF16Bits(rows << b, rand, 0, 20);
          const out = new Float32Array(rows * cols + 3).fill(-7);
          dequantLut(out, planes, lut, rows, cols, b);
          const ref = refDequantLut(planes, lut, rows, cols, b);
          expect(mismatches(out, ref, 0), `${rows}x${cols} P${P} b${b}`).toEqual([]);
          expect(Array.from(out.subarray(rows * cols))).toEqual([-7, -7, -7]);
        }
      }
    });

    it(`matmulLut matches x·Wᵀ of the spec-dequantised weights, every width (${isa})`, () => {
      setIsa(isa);
      const rand = rng(3);
      const [rows, cols, P] = [37, 160, 8];
      const planes = randomPlanes(P * rows * (cols / 32), rand);
      for (let b = 1; b <= P; b++) {
        const lut = randomF16Bits(rows << b, rand, 5, 16);
        const w = refDequantLut(planes, lut, rows, cols, b);
        // up to 8 tokens run the GEMV, 11 and more the dequantise-and-GEMM path
        for (const tokens of [1, 3, 8, 11, 17, 40]) {
          const x = randomF32(tokens * cols, rand);
          const out = new Float32Array(tokens * rows);
          matmulLut(out, x, planes, lut, tokens, rows, cols, b);
          const ref = refMatmul(x, w, tokens, rows, cols);
          expect(mismatches(out, ref.value, ref.bound), `b${b} tokens${tokens}`).toEqual([]);
        }
      }
    });
  }

  it('reads only the prefix planes: later planes do not change a lower width', () => {
    const rand = rng(4);
    const [rows, cols, tokens] = [9, 64, 2];
    const a = randomPlanes(8 * rows * (cols / 32), rand);
    const b = a.slice();
    const planeWords = rows * (cols / 32);
    for (let i = 3 * planeWords; i < b.length; i++) b[i] = ~b[i] >>> 0; // flip planes 3..7
    const lut = randomF16Bits(rows << 3, rand, 5, 16);
    const x = randomF32(tokens * cols, rand);
    const outA = new Float32Array(tokens * rows);
    const outB = new Float32Array(tokens * rows);
    matmulLut(outA, x, a, lut, tokens, rows, cols, 3);
    matmulLut(outB, x, b, lut, tokens, rows, cols, 3);
    expect(Array.from(outB)).toEqual(Array.from(outA));
    // and the 3-plane prefix alone is a valid planes tensor for width 3
    const outC = new Float32Array(tokens * rows);
    matmulLut(outC, x, a.subarray(0, 3 * planeWords), lut, tokens, rows, cols, 3);
    expect(Array.from(outC)).toEqual(Array.from(outA));
  });
});

function identityLut(rows: number, b: number): Uint16Array {
  // f16 encodings of the integers 0..255 (exact): e = 2^k * (1 + f) -> bits
  const lut = new Uint16Array(rows << b);
  for (let r = 0; r < rows; r++) {
    for (let e = 0; e < 1 << b; e++) {
      let bits = 0;
      if (e > 0) {
        const k = Math.floor(Math.log2(e));
        bits = ((k + 15) << 10) | Math.round((e / 2 ** k - 1) * 1024);
      }
      lut[(r << b) + e] = bits;
      expect(f16ToNumber(bits)).toBe(e);
    }
  }
  return lut;
}

describe.runIf(info.available)('AnyBCQ (bcq) planes', () => {
  // [rows, cols, groupSize]: cols 704 with groups of 128 leaves a 64-column last group;
  // groupSize 48 does not divide a 16-column vector half; 32 is one word per group.
  const cases: [number, number, number][] = [
    [11, 704, 128],
    [7, 96, 48],
    [5, 128, 32],
    [3, 64, 100],
  ];
  for (const isa of isas) {
    it(`dequantBcq matches offset + Σ scale·sign for every width, with and without offsets (${isa})`, () => {
      setIsa(isa);
      const rand = rng(5);
      for (const [rows, cols, groupSize] of cases) {
        const groups = Math.ceil(cols / groupSize);
        const P = 8;
        const planes = randomPlanes(P * rows * (cols / 32), rand);
        for (let b = 1; b <= P; b++) {
          const scales = randomF16Bits(rows * groups * b, rand, 8, 15);
          for (const offsets of [null, randomF16Bits(rows * groups, rand, 8, 15)]) {
            const out = new Float32Array(rows * cols);
            dequantBcq(out, planes, scales, offsets, rows, cols, b, groupSize);
            const ref = refDequantBcq(planes, scales, offsets, rows, cols, b, groupSize);
            const tag = `${rows}x${cols} g${groupSize} b${b} offsets ${offsets !== null}`;
            expect(mismatches(out, ref.value, ref.bound), tag).toEqual([]);
          }
        }
      }
    });

    it(`matmulBcq matches x·Wᵀ of the spec-dequantised weights (${isa})`, () => {
      setIsa(isa);
      const rand = rng(6);
      for (const [rows, cols, groupSize] of cases) {
        const groups = Math.ceil(cols / groupSize);
        const P = 8;
        const planes = randomPlanes(P * rows * (cols / 32), rand);
        for (let b = 1; b <= P; b++) {
          const scales = randomF16Bits(rows * groups * b, rand, 8, 15);
          const offsets = b % 2 ? randomF16Bits(rows * groups, rand, 8, 15) : null;
          const w = refDequantBcq(planes, scales, offsets, rows, cols, b, groupSize).value;
          for (const tokens of [1, 5, 8, 9, 17, 33]) {
            const x = randomF32(tokens * cols, rand);
            const out = new Float32Array(tokens * rows);
            matmulBcq(out, x, planes, scales, offsets, tokens, rows, cols, b, groupSize);
            const ref = refMatmul(x, w, tokens, rows, cols);
            // the weights themselves carry f32 rounding (bits+1 terms): widen by |x|·that bound
            const tag = `${rows}x${cols} g${groupSize} b${b} tokens${tokens}`;
            expect(
              mismatches(
                out,
                ref.value,
                widen(ref.bound, x, tokens, rows, cols, b, scales, offsets, groupSize),
              ),
              tag,
            ).toEqual([]);
          }
        }
      }
    });
  }

  it('threads 1 and 2 agree bitwise (rows split between threads)', () => {
    const rand = rng(7);
    const [rows, cols, groupSize, b] = [301, 256, 128, 4];
    const groups = cols / groupSize;
    const planes = randomPlanes(4 * rows * (cols / 32), rand);
    const scales = randomF16Bits(rows * groups * b, rand, 8, 15);
    for (const tokens of [1, 20]) {
      const x = randomF32(tokens * cols, rand);
      const a = new Float32Array(tokens * rows);
      const c = new Float32Array(tokens * rows);
      setThreads(1);
      matmulBcq(a, x, planes, scales, null, tokens, rows, cols, b, groupSize);
      setThreads(2);
      matmulBcq(c, x, planes, scales, null, tokens, rows, cols, b, groupSize);
      expect(Buffer.from(c.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    }
  });
});

// Error bound of x·Wᵀ when W itself is the f32 sum of bits+1 terms: add sum_k |x_k| * bound(W_rk).
function widen(
  bound: Float64Array,
  x: Float32Array,
  tokens: number,
  rows: number,
  cols: number,
  bits: number,
  scales: Uint16Array,
  offsets: Uint16Array | null,
  groupSize: number,
): Float64Array {
  const groups = Math.ceil(cols / groupSize);
  const out = bound.slice();
  for (let r = 0; r < rows; r++) {
    const wb = new Float64Array(cols);
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / groupSize);
      let a = offsets ? Math.abs(f16ToNumber(offsets[r * groups + g])) : 0;
      for (let i = 0; i < bits; i++) a += Math.abs(f16ToNumber(scales[(r * groups + g) * bits + i]));
      wb[c] = (bits + 2) * 2 ** -24 * a;
    }
    for (let t = 0; t < tokens; t++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.abs(x[t * cols + c]) * wb[c];
      out[t * rows + r] += s;
    }
  }
  return out;
}

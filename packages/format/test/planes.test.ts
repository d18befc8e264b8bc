// Bit-plane layout v1: the library's pack/unpack/dequantize against the hand-made vectors
// (fixtures/vectors.json, generated without the library) and against a bit-string
// reference implementation written here.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  bufferSource,
  dequantizeBcq,
  dequantizeLut,
  f32ToF16,
  lutName,
  offsetsName,
  openSafetensorsSource,
  packPlanes,
  packSigns,
  parseManifest,
  planesName,
  scalesName,
  unpackIndices,
  validateContainer,
  verifyChecksum,
} from '../src/index.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const vectors = JSON.parse(fixture('vectors.json').toString('utf8')).vectors;
const [AP, BCQ] = vectors;
const words = (hex: string[]) => Uint32Array.from(hex.map((h) => Number.parseInt(h, 16)));

async function open(name: string) {
  const f = await openSafetensorsSource(bufferSource(fixture(name), name));
  const manifest = parseManifest(f.metadata.anyprec, name);
  validateContainer(manifest, f.tensors, name);
  for (const t of f.tensors.values()) verifyChecksum(manifest, t.name, await f.readTensor(t.name), name);
  return { f, manifest };
}
const u32 = (b: Uint8Array) => new Uint32Array(new Uint8Array(b).buffer);
const u16 = (b: Uint8Array) => new Uint16Array(new Uint8Array(b).buffer);

describe('test vectors (fixtures/vectors.json)', () => {
  it('anyprec: packPlanes of the parent codes gives the hand-derived words; every width decodes to the expected weights', async () => {
    const { rows, cols, parentBits } = AP;
    const parent = Uint8Array.from(AP.indices[3]);
    expect(Array.from(packPlanes(parent, rows, cols, parentBits))).toEqual(Array.from(words(AP.planesWords)));
    const { f, manifest } = await open(AP.file);
    expect(manifest).toMatchObject({ method: 'anyprec', parentBits: 3, precisions: [2, 3], seedBits: 2 });
    const planes = u32(await f.readTensor(planesName('layer')));
    expect(Array.from(planes)).toEqual(Array.from(words(AP.planesWords)));
    for (const b of AP.precisions) {
      expect(Array.from(unpackIndices(planes, rows, cols, b))).toEqual(AP.indices[b]);
      const lut = u16(await f.readTensor(lutName('layer', b)));
      expect(Array.from(dequantizeLut(planes, lut, rows, cols, b))).toEqual(AP.expected[b]);
      // the f32 table form gives the same result
      expect(Array.from(dequantizeLut(planes, Float32Array.from(AP.lut[b]), rows, cols, b))).toEqual(
        AP.expected[b],
      );
    }
    // prefix property: width 2 needs only the first 2 planes' bytes
    const prefix = u32(await f.readTensorRange(planesName('layer'), 0, 2 * rows * (cols / 32) * 4));
    const lut2 = u16(await f.readTensor(lutName('layer', 2)));
    expect(Array.from(dequantizeLut(prefix, lut2, rows, cols, 2))).toEqual(AP.expected[2]);
  });

  it('anybcq: packSigns of the sign bits gives the hand-derived words; every width decodes to the expected weights', async () => {
    const { rows, cols, parentBits, groupSize } = BCQ;
    const signs = new Int8Array(parentBits * rows * cols);
    for (let p = 0; p < parentBits; p++) {
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          signs[(p * rows + r) * cols + c] = BCQ.signBits[p][r][c] === '1' ? 1 : -1;
    }
    expect(Array.from(packSigns(signs, rows, cols, parentBits))).toEqual(Array.from(words(BCQ.planesWords)));
    const { f, manifest } = await open(BCQ.file);
    expect(manifest).toMatchObject({ method: 'anybcq', groupSize: 32, offsets: true });
    const planes = u32(await f.readTensor(planesName('layer')));
    for (const b of BCQ.precisions) {
      const scales = u16(await f.readTensor(scalesName('layer', b)));
      const offsets = u16(await f.readTensor(offsetsName('layer', b)));
      expect(Array.from(dequantizeBcq(planes, scales, offsets, rows, cols, b, groupSize))).toEqual(
        BCQ.expected[b],
      );
    }
    // without offsets the result shifts by exactly the offset of each group
    const s2 = Float32Array.from(BCQ.scales[2]);
    const noOff = dequantizeBcq(planes, s2, null, rows, cols, 2, groupSize);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        expect(noOff[r * cols + c] + BCQ.offsetValues[2][r * 2 + Math.floor(c / groupSize)]).toBe(
          BCQ.expected[2][r * cols + c],
        );
      }
    }
  });
});

// reference implementation: a weight's bit for plane p is character p of its code in binary
function refPlanes(codes: number[], rows: number, cols: number, bits: number): number[] {
  const out = new Array(bits * rows * (cols / 32)).fill(0);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = codes[r * cols + c].toString(2).padStart(bits, '0');
      for (let p = 0; p < bits; p++) {
        if (s[p] === '1') {
          const i = (p * rows + r) * (cols / 32) + Math.floor(c / 32);
          out[i] = (out[i] + 2 ** (c % 32)) % 2 ** 32;
        }
      }
    }
  }
  return out;
}

const dims = fc.record({
  rows: fc.integer({ min: 1, max: 5 }),
  words: fc.integer({ min: 1, max: 3 }),
  bits: fc.integer({ min: 1, max: 8 }),
});

describe('pack/unpack properties', () => {
  it('packPlanes matches the bit-string reference; unpack inverts it; width b is the top b bits', () => {
    fc.assert(
      fc.property(
        dims.chain((d) =>
          fc.tuple(
            fc.constant(d),
            fc.array(fc.integer({ min: 0, max: 2 ** d.bits - 1 }), {
              minLength: d.rows * d.words * 32,
              maxLength: d.rows * d.words * 32,
            }),
          ),
        ),
        ([{ rows, words: w, bits }, codes]) => {
          const cols = w * 32;
          const planes = packPlanes(Uint8Array.from(codes), rows, cols, bits);
          expect(Array.from(planes)).toEqual(refPlanes(codes, rows, cols, bits));
          expect(Array.from(unpackIndices(planes, rows, cols, bits))).toEqual(codes);
          for (let b = 1; b <= bits; b++) {
            expect(Array.from(unpackIndices(planes, rows, cols, b))).toEqual(
              codes.map((x) => x >> (bits - b)),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('dequantizeBcq equals offset + Σ ±scale evaluated in f64 (exact dyadic inputs) with a ragged last group', () => {
    fc.assert(
      fc.property(
        dims,
        fc.integer({ min: 1, max: 80 }),
        fc.integer(),
        ({ rows, words: w, bits }, groupSize, seed) => {
          const cols = w * 32;
          const groups = Math.ceil(cols / groupSize);
          let s = seed >>> 0;
          const rnd = () => {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            return s;
          };
          const signs = Int8Array.from({ length: bits * rows * cols }, () => (rnd() & 1 ? 1 : -1));
          // multiples of 1/64 below 4: exact in f16 and every partial sum exact in f32
          const scales = Float32Array.from({ length: rows * groups * bits }, () => (rnd() % 256) / 64);
          const offsets = Float32Array.from({ length: rows * groups }, () => ((rnd() % 256) - 128) / 64);
          const planes = packSigns(signs, rows, cols, bits);
          const got = dequantizeBcq(planes, f32ToF16(scales), f32ToF16(offsets), rows, cols, bits, groupSize);
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) {
              const g = Math.floor(c / groupSize);
              let want = offsets[r * groups + g];
              for (let i = 0; i < bits; i++)
                want += scales[(r * groups + g) * bits + i] * signs[(i * rows + r) * cols + c];
              expect(got[r * cols + c]).toBe(want);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects bad arguments with ArgumentError naming the problem', () => {
    expect(() => packPlanes(new Uint8Array(40), 1, 40, 2)).toThrow(/multiple of 32/);
    expect(() => packPlanes(new Uint8Array(32).fill(4), 1, 32, 2)).toThrow(/does not fit in 2 bits/);
    expect(() => packPlanes(new Uint8Array(31), 1, 32, 2)).toThrow(ArgumentError);
    expect(() => unpackIndices(new Uint32Array(1), 1, 32, 2)).toThrow(/fewer than bits×rows×cols\/32 = 2/);
    expect(() => dequantizeLut(new Uint32Array(2), new Uint16Array(3), 1, 32, 2)).toThrow(
      /lut has 3 entries, expected rows×2\^bits = 4/,
    );
    expect(() => dequantizeBcq(new Uint32Array(2), new Uint16Array(2), null, 1, 32, 2, 0)).toThrow(
      /groupSize must be a positive integer/,
    );
    expect(() => dequantizeBcq(new Uint32Array(2), new Uint16Array(3), null, 1, 32, 2, 32)).toThrow(
      /scales has 3 entries/,
    );
    expect(() => packPlanes(new Uint8Array(32), 1, 32, 9)).toThrow(/bits must be an integer in 1..8/);
  });
});

// Fuzzing the parser (fast-check): truncations, bit flips, random headers and random bytes.
// Every input must either parse into a header that satisfies the format's invariants or
// throw a FormatError subclass: no other exception, no hang, and (checked through a
// recording source) no read or allocation larger than the input itself.
// 10,500 generated cases in total; runs in a few seconds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ByteSource,
  bufferSource,
  DTYPE_BYTES,
  type DType,
  FormatError,
  openSafetensorsSource,
  parseSafetensorsHeader,
  type SafetensorsHeader,
  serializeSafetensorsHeader,
} from '../src/index.js';

const DTYPES = Object.keys(DTYPE_BYTES) as DType[];

const tensorArb = fc.record({
  name: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'),
  dtype: fc.constantFrom(...DTYPES),
  shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
});

/** A valid file from random tensors (unique names) and random metadata. */
const fileArb = fc
  .tuple(
    fc.uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 6 }),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
    fc.integer(),
  )
  .map(([tensors, metadata, seed]) => {
    const { bytes, dataBytes } = serializeSafetensorsHeader(tensors, metadata);
    const file = new Uint8Array(bytes.length + dataBytes);
    file.set(bytes);
    let s = seed >>> 0;
    for (let i = bytes.length; i < file.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      file[i] = s >>> 24;
    }
    return file;
  });

function checkInvariants(h: SafetensorsHeader, size: number): void {
  let cursor = h.dataOffset;
  expect(h.dataOffset).toBe(8 + h.headerBytes);
  for (const t of h.tensors) {
    expect(t.offset).toBe(cursor);
    expect(t.byteLength).toBe(t.shape.reduce((a, d) => a * d, DTYPE_BYTES[t.dtype]));
    cursor += t.byteLength;
  }
  expect(cursor).toBe(size);
}

/** Parses; returns 'ok' or 'error' and fails the property on any non-FormatError exception. */
function tryParse(bytes: Uint8Array): 'ok' | 'error' {
  try {
    checkInvariants(parseSafetensorsHeader(bytes, bytes.length, 'fuzz'), bytes.length);
    return 'ok';
  } catch (err) {
    if (err instanceof FormatError) {
      expect(err.message.startsWith('fuzz: ')).toBe(true);
      return 'error';
    }
    throw err;
  }
}

describe('fuzz', () => {
  it('valid files parse and satisfy the invariants (1,500 cases)', () => {
    fc.assert(
      fc.property(fileArb, (file) => {
        expect(tryParse(file)).toBe('ok');
      }),
      { numRuns: 1500 },
    );
  });

  it('every truncation of a valid file is rejected with a FormatError (3,000 cases)', () => {
    fc.assert(
      fc.property(fileArb, fc.nat(), (file, cut) => {
        const len = cut % file.length; // strictly shorter
        expect(tryParse(file.slice(0, len))).toBe('error');
      }),
      { numRuns: 3000 },
    );
  });

  it('bit flips either parse consistently or raise a FormatError (3,000 cases)', () => {
    fc.assert(
      fc.property(
        fileArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
        (file, flips) => {
          const bytes = file.slice();
          for (const [pos, bit] of flips) bytes[pos % bytes.length] ^= 1 << bit;
          tryParse(bytes);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('random header JSON (tensor-like entries with hostile values) never escapes as another error (2,000 cases)', () => {
    const hostileNumber = fc.oneof(
      fc.integer({ min: -5, max: 200 }),
      fc.constantFrom(2 ** 32, 2 ** 53, 2 ** 64, -1, 1.5, Number.MAX_VALUE),
    );
    const entry = fc.oneof(
      fc.record({
        dtype: fc.oneof(fc.constantFrom(...DTYPES), fc.string({ maxLength: 5 }), fc.integer()),
        shape: fc.oneof(fc.array(hostileNumber, { maxLength: 4 }), fc.string(), fc.constant(null)),
        data_offsets: fc.oneof(fc.array(hostileNumber, { maxLength: 3 }), fc.constant({})),
      }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const header = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__metadata__')), entry, {
      maxKeys: 5,
    });
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 300 }), (h, dataBytes) => {
        const json = new TextEncoder().encode(JSON.stringify(h));
        const bytes = new Uint8Array(8 + json.length + dataBytes);
        new DataView(bytes.buffer).setUint32(0, json.length, true);
        bytes.set(json, 8);
        tryParse(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes, including huge declared header lengths, are read within bounds (1,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.boolean(), async (tail, bigLength) => {
        const bytes = new Uint8Array(8 + tail.length);
        bytes.set(tail, 8);
        const dv = new DataView(bytes.buffer);
        if (bigLength) dv.setUint32(4, 0xffffffff, true);
        else dv.setUint32(0, tail.length, true);
        const inner = bufferSource(bytes, 'fuzz');
        let largest = 0;
        const recording: ByteSource = {
          name: inner.name,
          size: inner.size,
          read(offset, length) {
            largest = Math.max(largest, length);
            return inner.read(offset, length);
          },
          close: () => inner.close(),
        };
        try {
          const f = await openSafetensorsSource(recording);
          for (const name of f.tensors.keys()) await f.readTensor(name);
        } catch (err) {
          if (!(err instanceof FormatError)) throw err;
        }
        expect(largest).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 1000 },
    );
  });
});

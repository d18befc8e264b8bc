// Strict safetensors parsing: one test per error class, asserting class and message, on
// files assembled by hand here (8-byte length + JSON + data), plus the serializer.
import { describe, expect, it } from 'vitest';
import {
  ByteLengthMismatchError,
  blobSource,
  bufferSource,
  FormatError,
  HeaderEncodingError,
  HeaderJsonError,
  HeaderTooLargeError,
  OffsetHoleError,
  OffsetOutOfRangeError,
  OffsetOverlapError,
  openSafetensorsSource,
  parseSafetensorsHeader,
  serializeSafetensorsHeader,
  TensorNotFoundError,
  TruncatedFileError,
  UnsupportedDtypeError,
} from '../src/index.js';

function raw(header: unknown, dataBytes: number, lengthOverride?: bigint): Uint8Array {
  const json =
    typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = i & 0xff;
  return new Uint8Array(Buffer.concat([len, json, data]));
}
const parse = (bytes: Uint8Array) => parseSafetensorsHeader(bytes, bytes.length, 'bad.safetensors');

function expectError(fn: () => unknown, cls: new (...a: never[]) => FormatError, message: RegExp) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'should throw').toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(FormatError);
  expect((err as Error).name).toBe(cls.name);
  expect((err as FormatError).file).toBe('bad.safetensors');
  expect((err as Error).message).toMatch(/^bad\.safetensors: /);
  expect((err as Error).message).toMatch(message);
}

const ok = {
  __metadata__: { format: 'pt' },
  a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
  b: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] },
  e: { dtype: 'I64', shape: [0, 5], data_offsets: [22, 22] },
};

describe('parseSafetensorsHeader', () => {
  it('parses a valid header: absolute offsets, shapes, metadata', () => {
    const bytes = raw(ok, 22);
    const h = parse(bytes);
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect(h.headerBytes).toBe(n);
    expect(h.dataOffset).toBe(8 + n);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.map((t) => [t.name, t.dtype, t.shape, t.offset - h.dataOffset, t.byteLength])).toEqual([
      ['a', 'F32', [2, 2], 0, 16],
      ['b', 'BF16', [3], 16, 6],
      ['e', 'I64', [0, 5], 22, 0],
    ]);
  });

  it('accepts space padding after the JSON and every dtype of the spec', () => {
    const dtypes = [
      'F64',
      'F32',
      'F16',
      'BF16',
      'I8',
      'U8',
      'I16',
      'U16',
      'I32',
      'U32',
      'I64',
      'U64',
      'BOOL',
    ];
    const sizes = [8, 4, 2, 2, 1, 1, 2, 2, 4, 4, 8, 8, 1];
    const header: Record<string, unknown> = {};
    let off = 0;
    dtypes.forEach((d, i) => {
      header[`t${i}`] = { dtype: d, shape: [3], data_offsets: [off, off + 3 * sizes[i]] };
      off += 3 * sizes[i];
    });
    const bytes = raw(`${JSON.stringify(header)}      `, off);
    expect(parse(bytes).tensors.map((t) => t.dtype)).toEqual(dtypes);
  });

  it('TruncatedFileError: shorter than 8 bytes, or header past the end', () => {
    expectError(
      () => parse(new Uint8Array(5)),
      TruncatedFileError,
      /file is 5 bytes, shorter than the 8-byte/,
    );
    const bytes = raw(ok, 22);
    expectError(
      () => parseSafetensorsHeader(bytes.subarray(0, 40), 40, 'bad.safetensors'),
      TruncatedFileError,
      /runs past the end of the 40-byte file/,
    );
  });

  it('HeaderTooLargeError: length over the cap, or beyond 2^53', () => {
    expectError(
      () => parse(raw(ok, 22, 200n * 1024n * 1024n)),
      HeaderTooLargeError,
      /header length 209715200 bytes exceeds the cap of 104857600/,
    );
    expectError(() => parse(raw(ok, 22, 2n ** 63n)), HeaderTooLargeError, />= 2\^53/);
    expectError(
      () => parseSafetensorsHeader(raw(ok, 22), 22 + 200, 'bad.safetensors', { maxHeaderBytes: 16 }),
      HeaderTooLargeError,
      /exceeds the cap of 16 bytes/,
    );
  });

  it('HeaderEncodingError: invalid UTF-8', () => {
    const bytes = raw('{"a":"\u00ff"}', 0);
    const i = bytes.indexOf(0xc3);
    bytes[i] = 0xff; // 0xff never occurs in UTF-8
    expectError(() => parse(bytes), HeaderEncodingError, /not valid UTF-8/);
  });

  it('HeaderJsonError: not JSON, not an object, bad entries', () => {
    expectError(() => parse(raw('{"a": ', 0)), HeaderJsonError, /header is not valid JSON/);
    expectError(() => parse(raw('[1, 2]', 0)), HeaderJsonError, /must start with "\{"/);
    expectError(() => parse(raw(' {}', 0)), HeaderJsonError, /must start with "\{"/);
    expectError(
      () => parse(raw({ __metadata__: { a: 1 } }, 0)),
      HeaderJsonError,
      /"__metadata__"."a" must be a string/,
    );
    expectError(() => parse(raw({ a: 5 }, 0)), HeaderJsonError, /tensor "a": entry must be an object/);
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4], x: 1 } }, 4)),
      HeaderJsonError,
      /unknown key "x"/,
    );
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4)),
      HeaderJsonError,
      /"shape" must be an array of non-negative integers/,
    );
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4)),
      HeaderJsonError,
      /"data_offsets" must be \[begin, end\]/,
    );
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] } }, 4)),
      HeaderJsonError,
      /"data_offsets"/,
    );
  });

  it('UnsupportedDtypeError', () => {
    expectError(
      () => parse(raw({ a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4)),
      UnsupportedDtypeError,
      /tensor "a": dtype "F8_E4M3" is not supported/,
    );
  });

  it('OffsetOutOfRangeError: begin > end, end past the data section', () => {
    expectError(
      () => parse(raw({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, 4)),
      OffsetOutOfRangeError,
      /\[4, 0\] has begin > end/,
    );
    expectError(
      () => parse(raw({ a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] } }, 4)),
      OffsetOutOfRangeError,
      /run past the 4-byte data section/,
    );
  });

  it('ByteLengthMismatchError: bytes ≠ dtype × shape (also for shapes whose product overflows)', () => {
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)),
      ByteLengthMismatchError,
      /8 bytes stored but dtype F32 × shape \[3\] needs 12/,
    );
    expectError(
      () => parse(raw({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8)),
      ByteLengthMismatchError,
      /needs more than 2\^53/,
    );
  });

  it('OffsetOverlapError and OffsetHoleError', () => {
    const overlap = {
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] },
    };
    expectError(
      () => parse(raw(overlap, 6)),
      OffsetOverlapError,
      /tensor "b" \(data_offsets begin 2\) overlaps tensor "a"/,
    );
    const hole = {
      a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
      b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] },
    };
    expectError(() => parse(raw(hole, 6)), OffsetHoleError, /2 bytes before tensor "b" belong to no tensor/);
    expectError(
      () => parse(raw({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 5)),
      OffsetHoleError,
      /3 trailing bytes/,
    );
    // a duplicate JSON key silently replaces the first entry; the bytes it leaves behind are a hole
    const dup =
      '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}';
    expectError(() => parse(raw(dup, 4)), OffsetHoleError, /2 bytes before tensor "a"/);
  });
});

describe('serializeSafetensorsHeader', () => {
  it('writes an 8-aligned, space-padded header with back-to-back offsets that parses back', () => {
    const { bytes, offsets, dataBytes } = serializeSafetensorsHeader(
      [
        { name: 'x', dtype: 'F16', shape: [3] },
        { name: 'y', dtype: 'U32', shape: [2, 2] },
      ],
      { format: 'pt' },
    );
    expect(bytes.length % 8).toBe(0);
    expect(offsets).toEqual([0, 6]);
    expect(dataBytes).toBe(22);
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect(n).toBe(bytes.length - 8);
    const text = Buffer.from(bytes.subarray(8)).toString('utf8');
    expect(JSON.parse(text)).toEqual({
      __metadata__: { format: 'pt' },
      x: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      y: { dtype: 'U32', shape: [2, 2], data_offsets: [6, 22] },
    });
    expect(text.trimEnd().length).toBeLessThanOrEqual(text.length);
    const file = new Uint8Array(bytes.length + dataBytes);
    file.set(bytes);
    expect(parseSafetensorsHeader(file, file.length, 'x').tensors.map((t) => t.name)).toEqual(['x', 'y']);
    expect(() =>
      serializeSafetensorsHeader([
        { name: 'x', dtype: 'U8', shape: [1] },
        { name: 'x', dtype: 'U8', shape: [1] },
      ]),
    ).toThrow(/duplicate tensor name "x"/);
  });
});

describe('names that are Object.prototype keys', () => {
  it('tensors and metadata named __proto__ / constructor survive serialize → parse', () => {
    const { bytes, dataBytes } = serializeSafetensorsHeader(
      [
        { name: '__proto__', dtype: 'U8', shape: [2] },
        { name: 'constructor', dtype: 'U8', shape: [1] },
      ],
      JSON.parse('{"__proto__": "m", "toString": "n"}'),
    );
    const text = Buffer.from(bytes.subarray(8)).toString('utf8');
    expect(text).toContain('"__proto__":{"dtype":"U8"');
    const file = new Uint8Array(bytes.length + dataBytes);
    file.set(bytes);
    const h = parseSafetensorsHeader(file, file.length, 'p');
    expect(h.tensors.map((t) => [t.name, t.byteLength])).toEqual([
      ['__proto__', 2],
      ['constructor', 1],
    ]);
    expect(Object.entries(h.metadata)).toEqual([
      ['__proto__', 'm'],
      ['toString', 'n'],
    ]);
  });
});

describe('sources and the random-access reader', () => {
  it('bufferSource and blobSource read single tensors; bufferSource returns copies, not views of a Node Buffer', async () => {
    const bytes = Buffer.from(raw(ok, 22));
    for (const source of [bufferSource(bytes, 'mem'), blobSource(new Blob([bytes]), 'blob')]) {
      const f = await openSafetensorsSource(source);
      const b = await f.readTensor('b');
      const dataOffset = f.header.dataOffset;
      expect(Array.from(b)).toEqual(Array.from(bytes.subarray(dataOffset + 16, dataOffset + 22)));
      expect(Array.from(await f.readTensorRange('a', 4, 4))).toEqual([4, 5, 6, 7]);
      b[0] = 99;
      expect(bytes[dataOffset + 16]).toBe(16);
      expect(b.buffer.byteLength).toBe(6);
      await expect(f.readTensor('zz')).rejects.toThrow(TensorNotFoundError);
      await expect(f.readTensor('zz')).rejects.toThrow(/no tensor named "zz"/);
      await expect(f.readTensorRange('a', 10, 10)).rejects.toThrow(
        /range \[10, 20\) is outside tensor "a" \(16 bytes\)/,
      );
      await expect(f.readTensorF32('e')).rejects.toThrow(/dtype I64, which is not a float dtype/);
      expect(Array.from(await f.readTensorF32('a'))).toEqual(
        Array.from(new Float32Array(new Uint8Array(bytes.subarray(dataOffset, dataOffset + 16)).buffer)),
      );
    }
  });

  it('a truncated file read through a source fails with TruncatedFileError', async () => {
    const bytes = raw(ok, 22);
    await expect(openSafetensorsSource(bufferSource(bytes.subarray(0, 30), 't'))).rejects.toThrow(
      TruncatedFileError,
    );
    await expect(
      openSafetensorsSource(bufferSource(bytes.subarray(0, bytes.length - 1), 't')),
    ).rejects.toThrow(OffsetOutOfRangeError);
  });
});

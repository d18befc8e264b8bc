import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { crc32, crc32Hex } from '../src/crc32.js';

it('CRC-32 check value and empty input', () => {
  expect(crc32Hex(new TextEncoder().encode('123456789'))).toBe('cbf43926');
  expect(crc32(new Uint8Array(0))).toBe(0);
  expect(crc32Hex(new Uint8Array(1))).toBe('d202ef8d');
});

it('matches node:zlib on random buffers, fed whole or in chunks', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
      const want = zlibCrc32(bytes);
      expect(crc32(bytes)).toBe(want);
      const k = Math.min(cut, bytes.length);
      expect(crc32(bytes.subarray(k), crc32(bytes.subarray(0, k)))).toBe(want);
    }),
    { numRuns: 500 },
  );
});

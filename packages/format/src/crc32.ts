// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF),
// the checksum of zip/gzip/PNG. Written here because the core entry must not use Node
// built-ins (node:zlib) so that it runs in browsers. Slicing-by-8 tables keep it fast.

let tables: Uint32Array[] | null = null;

function makeTables(): Uint32Array[] {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[0][n];
    for (let k = 1; k < 8; k++) {
      c = t[0][c & 0xff] ^ (c >>> 8);
      t[k][n] = c >>> 0;
    }
  }
  return t;
}

/**
 * Updates a running CRC-32 with `bytes`. Start with `crc = 0`; the return value is the
 * finished CRC of everything fed so far (so chunks can be fed one after another).
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!tables) tables = makeTables();
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables;
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 as 8 lowercase hex digits (the form stored in the manifest). */
export function crc32Hex(bytes: Uint8Array, crc = 0): string {
  return crc32(bytes, crc).toString(16).padStart(8, '0');
}

// Random-access byte sources. The core reader only needs "size" and "read(offset, length)",
// so the same code serves Node files (positional reads, see ../node/file-source.ts),
// in-memory ArrayBuffers and browser Blobs/Files (Blob.slice reads just that range).
import { TruncatedFileError } from '../errors.js';

/** A random-access, read-only byte source. Offsets and sizes are Numbers (exact up to 2^53). */
export interface ByteSource {
  /** Name used in error messages (a path or a label). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset` into a fresh buffer (throws if past the end). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying handle, if any. */
  close(): Promise<void>;
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new TruncatedFileError(
      name,
      `read of ${length} bytes at offset ${offset} is outside the ${size}-byte source`,
    );
  }
}

/** A source over bytes already in memory (the bytes are shared, not copied). */
export function bufferSource(data: ArrayBuffer | Uint8Array, name = '(buffer)'): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      // Uint8Array's slice copies; Node's Buffer.slice would return a view of shared memory
      return Uint8Array.prototype.slice.call(bytes, offset, offset + length);
    },
    async close() {},
  };
}

/** A source over a Blob or File (browsers, Node >= 20): each read slices just that range. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? '(blob)'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(name, blob.size, offset, length);
      const buf = await blob.slice(offset, offset + length).arrayBuffer();
      if (buf.byteLength !== length)
        throw new TruncatedFileError(name, `short read: ${buf.byteLength} of ${length} bytes`);
      return new Uint8Array(buf);
    },
    async close() {},
  };
}

// ByteSource over a file with positional reads (FileHandle.read at an explicit position),
// so reading one tensor never reads or maps the rest of a multi-GiB file.
import { open } from 'node:fs/promises';
import { TruncatedFileError } from '../errors.js';
import type { ByteSource } from '../safetensors/source.js';

/** Opens `path` read-only as a {@link ByteSource}. */
export async function fileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r');
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (err) {
    await handle.close();
    throw err;
  }
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset + length > size
      ) {
        throw new TruncatedFileError(
          path,
          `read of ${length} bytes at offset ${offset} is outside the ${size}-byte file`,
        );
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        // chunk so a single read never exceeds the 2 GiB per-call limit of fs.read
        const want = Math.min(length - done, 1 << 30);
        const { bytesRead } = await handle.read(out, done, want, offset + done);
        if (bytesRead === 0)
          throw new TruncatedFileError(
            path,
            `file ended at ${offset + done} while reading ${length} bytes at ${offset} (changed on disk?)`,
          );
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

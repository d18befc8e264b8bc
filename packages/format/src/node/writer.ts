// Streaming safetensors writer: the header is fixed first (all names, dtypes and shapes
// are known up front), then tensors are written one at a time with positional writes, so
// memory stays bounded by the largest tensor. Metadata may depend on the tensors' CRC-32s
// (the container manifest records them): the header is written with placeholder CRCs of the
// same length and rewritten in place at the end. Everything goes to `<path>.partial` and is
// renamed over `<path>` only after fsync, so a crash never leaves a half file under the
// final name.
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32Hex } from '../crc32.js';
import { ArgumentError } from '../errors.js';
import { serializeSafetensorsHeader, type TensorSpec, tensorByteLength } from '../safetensors/header.js';

/** Static metadata, or a function of the finished tensors' CRC-32 hex strings. */
export type MetadataSource =
  | Record<string, string>
  | ((crcs: Record<string, string>) => Record<string, string>);

const PLACEHOLDER_CRC = '00000000';

function toBytes(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

async function fsyncDir(dir: string): Promise<void> {
  // best effort: makes the rename durable on POSIX; not supported on every platform
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {}
}

/** Writes one safetensors file tensor by tensor. Create with {@link SafetensorsWriter.create}. */
export class SafetensorsWriter {
  readonly path: string;
  readonly tempPath: string;
  private handle: FileHandle | null;
  private readonly specs: Map<string, { spec: TensorSpec; position: number; byteLength: number }>;
  private readonly crcs = new Map<string, string>();
  private readonly metadata: MetadataSource;
  private readonly headerLength: number;
  private readonly order: TensorSpec[];

  private constructor(
    path: string,
    handle: FileHandle,
    specs: TensorSpec[],
    metadata: MetadataSource,
    headerLength: number,
    offsets: number[],
  ) {
    this.path = path;
    this.tempPath = `${path}.partial`;
    this.handle = handle;
    this.metadata = metadata;
    this.headerLength = headerLength;
    this.order = specs;
    this.specs = new Map(
      specs.map((s, i) => [
        s.name,
        { spec: s, position: headerLength + offsets[i], byteLength: tensorByteLength(s.dtype, s.shape) },
      ]),
    );
  }

  private static metadataFor(metadata: MetadataSource, crcs: Record<string, string>): Record<string, string> {
    return typeof metadata === 'function' ? metadata(crcs) : metadata;
  }

  /**
   * Starts writing `path` (via `<path>.partial`) with the tensors of `specs`, stored in
   * that order. Metadata given as a function is called with placeholder CRCs now (to size
   * the header) and with the real ones at {@link close}; the two must serialize to the
   * same length or less (true when only CRC values differ).
   */
  static async create(
    path: string,
    specs: TensorSpec[],
    metadata: MetadataSource = {},
  ): Promise<SafetensorsWriter> {
    for (const s of specs) {
      if (!s.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        throw new ArgumentError(path, `tensor "${s.name}" has an invalid shape [${s.shape.join(', ')}]`);
    }
    const placeholder = Object.fromEntries(specs.map((s) => [s.name, PLACEHOLDER_CRC]));
    const { bytes } = serializeSafetensorsHeader(specs, SafetensorsWriter.metadataFor(metadata, placeholder));
    const { offsets } = serializeSafetensorsHeader(specs, {});
    const handle = await open(`${path}.partial`, 'w');
    try {
      await handle.write(bytes, 0, bytes.length, 0);
      const total = bytes.length + specs.reduce((a, s) => a + tensorByteLength(s.dtype, s.shape), 0);
      await handle.truncate(total);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new SafetensorsWriter(path, handle, specs, metadata, bytes.length, offsets);
  }

  /** Names not yet written. */
  get pending(): string[] {
    return this.order.filter((s) => !this.crcs.has(s.name)).map((s) => s.name);
  }

  /** Writes one tensor's bytes (any order, each name exactly once). Returns its CRC-32 hex. */
  async write(name: string, data: ArrayBufferView): Promise<string> {
    if (!this.handle) throw new ArgumentError(this.path, 'writer is closed');
    const entry = this.specs.get(name);
    if (!entry) throw new ArgumentError(this.path, `tensor "${name}" is not in this file's plan`);
    if (this.crcs.has(name)) throw new ArgumentError(this.path, `tensor "${name}" was already written`);
    const bytes = toBytes(data);
    if (bytes.byteLength !== entry.byteLength) {
      throw new ArgumentError(
        this.path,
        `tensor "${name}" needs ${entry.byteLength} bytes (${entry.spec.dtype} [${entry.spec.shape.join(', ')}]), got ${bytes.byteLength}`,
      );
    }
    // the write runs on libuv's thread pool; compute the CRC meanwhile
    const handle = this.handle;
    const writing = (async () => {
      let done = 0;
      while (done < bytes.length) {
        const n = Math.min(bytes.length - done, 1 << 30);
        const { bytesWritten } = await handle.write(bytes, done, n, entry.position + done);
        done += bytesWritten;
      }
    })();
    let crc: string;
    try {
      crc = crc32Hex(bytes);
    } finally {
      await writing;
    }
    this.crcs.set(name, crc);
    return crc;
  }

  /** Finishes: checks every tensor was written, writes the final header, fsyncs, renames. */
  async close(): Promise<Record<string, string>> {
    if (!this.handle) throw new ArgumentError(this.path, 'writer is closed');
    const missing = this.pending;
    if (missing.length > 0) {
      throw new ArgumentError(
        this.path,
        `${missing.length} tensor(s) never written, first "${missing[0]}"; call abort() to discard`,
      );
    }
    const crcs = Object.fromEntries(this.order.map((s) => [s.name, this.crcs.get(s.name)!]));
    const { bytes } = serializeSafetensorsHeader(
      this.order,
      SafetensorsWriter.metadataFor(this.metadata, crcs),
    );
    if (bytes.length > this.headerLength) {
      throw new ArgumentError(
        this.path,
        `final metadata is ${bytes.length - this.headerLength} bytes longer than the reserved header`,
      );
    }
    // same data offsets; pad the JSON with spaces up to the reserved length
    const header = new Uint8Array(this.headerLength).fill(0x20);
    header.set(bytes.subarray(0, bytes.length));
    const n = this.headerLength - 8;
    const dv = new DataView(header.buffer);
    dv.setUint32(0, n % 2 ** 32, true);
    dv.setUint32(4, Math.floor(n / 2 ** 32), true);
    await this.handle.write(header, 0, header.length, 0);
    await this.handle.sync();
    await this.handle.close();
    this.handle = null;
    await rename(this.tempPath, this.path);
    await fsyncDir(dirname(this.path));
    return crcs;
  }

  /** Discards the partial file. */
  async abort(): Promise<void> {
    if (this.handle) {
      await this.handle.close().catch(() => {});
      this.handle = null;
    }
    await rm(this.tempPath, { force: true });
  }
}

/** A tensor with its data, for {@link writeSafetensors}. */
export interface TensorWithData extends TensorSpec {
  data: ArrayBufferView;
}

/** Writes a whole safetensors file from in-memory tensors (atomically). Returns CRC-32s. */
export async function writeSafetensors(
  path: string,
  tensors: TensorWithData[],
  metadata: MetadataSource = {},
): Promise<Record<string, string>> {
  const w = await SafetensorsWriter.create(
    path,
    tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    metadata,
  );
  try {
    for (const t of tensors) await w.write(t.name, t.data);
    return await w.close();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

/** Writes a small text/JSON file atomically (temp file, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.partial`;
  const h = await open(tmp, 'w');
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
}

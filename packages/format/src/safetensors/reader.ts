// A safetensors file opened over any ByteSource: parse the header once, then read single
// tensors (or a byte prefix of one, e.g. the first p bit-planes) without touching the rest.
import { type DType, toF32 } from '../dtype.js';
import { ArgumentError, TensorNotFoundError, UnsupportedDtypeError } from '../errors.js';
import {
  type ParseOptions,
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';
import type { ByteSource } from './source.js';

/** An open safetensors file. */
export interface SafetensorsFile {
  readonly source: ByteSource;
  readonly header: SafetensorsHeader;
  /** Tensors by name. */
  readonly tensors: Map<string, TensorInfo>;
  /** The "__metadata__" map. */
  readonly metadata: Record<string, string>;
  /** Reads one tensor's raw little-endian bytes (only that tensor's byte range). */
  readTensor(name: string): Promise<Uint8Array>;
  /** Reads `length` bytes starting `start` bytes into a tensor (e.g. a plane prefix). */
  readTensorRange(name: string, start: number, length: number): Promise<Uint8Array>;
  /** Reads a float tensor (F64/F32/F16/BF16) converted to f32. */
  readTensorF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Parses the header of `source` (two small reads) and returns a random-access reader. */
export async function openSafetensorsSource(
  source: ByteSource,
  options: ParseOptions = {},
): Promise<SafetensorsFile> {
  const prefix = await source.read(0, Math.min(8, source.size));
  const n = readHeaderLength(prefix, source.size, source.name, options);
  const head = new Uint8Array(8 + n);
  head.set(prefix, 0);
  if (n > 0) head.set(await source.read(8, n), 8);
  const header = parseSafetensorsHeader(head, source.size, source.name, options);
  return safetensorsFile(source, header);
}

/** Wraps an already-parsed header and its source. */
export function safetensorsFile(source: ByteSource, header: SafetensorsHeader): SafetensorsFile {
  const tensors = new Map(header.tensors.map((t) => [t.name, t]));
  const get = (name: string): TensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new TensorNotFoundError(source.name, `no tensor named "${name}"`);
    return t;
  };
  return {
    source,
    header,
    tensors,
    metadata: header.metadata,
    async readTensor(name) {
      const t = get(name);
      return source.read(t.offset, t.byteLength);
    },
    async readTensorRange(name, start, length) {
      const t = get(name);
      if (
        !Number.isSafeInteger(start) ||
        !Number.isSafeInteger(length) ||
        start < 0 ||
        length < 0 ||
        start + length > t.byteLength
      ) {
        throw new ArgumentError(
          source.name,
          `range [${start}, ${start + length}) is outside tensor "${name}" (${t.byteLength} bytes)`,
        );
      }
      return source.read(t.offset + start, length);
    },
    async readTensorF32(name) {
      const t = get(name);
      return tensorToF32(await source.read(t.offset, t.byteLength), t.dtype, source.name, name);
    },
    close: () => source.close(),
  };
}

/** Converts a float tensor's bytes to f32, or throws naming the tensor for non-float dtypes. */
export function tensorToF32(bytes: Uint8Array, dtype: DType, file: string, name: string): Float32Array {
  const out = toF32(bytes, dtype);
  if (!out)
    throw new UnsupportedDtypeError(file, `tensor "${name}" has dtype ${dtype}, which is not a float dtype`);
  return out;
}

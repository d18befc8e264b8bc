// Strict safetensors header parsing and serialization.
//
// File layout (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N,
// then N bytes of UTF-8 JSON (may be right-padded with spaces), then the data section.
// The JSON maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" string→string map.
// We accept only files in which the tensors tile the data section exactly: no overlaps,
// no holes, no trailing bytes (the same rule the reference Rust implementation enforces),
// which also catches duplicate JSON keys (the dropped duplicate leaves a hole).
import { DTYPE_BYTES, type DType, isDType } from '../dtype.js';
import {
  ByteLengthMismatchError,
  HeaderEncodingError,
  HeaderJsonError,
  HeaderTooLargeError,
  OffsetHoleError,
  OffsetOutOfRangeError,
  OffsetOverlapError,
  TruncatedFileError,
  UnsupportedDtypeError,
} from '../errors.js';

/** Default cap on the JSON header length (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor of a safetensors file. Offsets are absolute positions in the file. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the first byte in the file. */
  offset: number;
  /** Byte length (dtype size × product(shape)). */
  byteLength: number;
  /** The file (or source name) holding the tensor. */
  file: string;
}

/** A parsed header. */
export interface SafetensorsHeader {
  /** Tensors in file order (ascending offset). */
  tensors: TensorInfo[];
  /** The "__metadata__" map ({} when absent). */
  metadata: Record<string, string>;
  /** Length of the JSON header in bytes (N). */
  headerBytes: number;
  /** Absolute offset of the data section (8 + N). */
  dataOffset: number;
}

/** Options for {@link parseSafetensorsHeader}. */
export interface ParseOptions {
  /** Cap on N (default {@link MAX_HEADER_BYTES}). */
  maxHeaderBytes?: number;
}

/**
 * Reads the 8-byte length prefix. `fileSize` bounds it; throws {@link TruncatedFileError}
 * or {@link HeaderTooLargeError}.
 */
export function readHeaderLength(
  prefix: Uint8Array,
  fileSize: number,
  source: string,
  options: ParseOptions = {},
): number {
  if (prefix.length < 8 || fileSize < 8) {
    throw new TruncatedFileError(
      source,
      `file is ${fileSize} bytes, shorter than the 8-byte safetensors header length prefix`,
    );
  }
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const cap = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
  // hi >= 2^21 would exceed 2^53; any hi > 0 already exceeds every sane cap
  const n = hi * 2 ** 32 + lo;
  if (hi >= 0x200000 || n > cap) {
    throw new HeaderTooLargeError(
      source,
      `header length ${hi >= 0x200000 ? '>= 2^53' : n} bytes exceeds the cap of ${cap} bytes; not a safetensors file or corrupt`,
    );
  }
  if (8 + n > fileSize) {
    throw new TruncatedFileError(
      source,
      `header length ${n} bytes runs past the end of the ${fileSize}-byte file (truncated download?)`,
    );
  }
  return n;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a safetensors header strictly.
 *
 * @param bytes the first bytes of the file: at least 8 + N (the whole file also works)
 * @param fileSize total size of the file in bytes (the data section must end exactly there)
 * @param source file name used in error messages
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileSize: number,
  source: string,
  options: ParseOptions = {},
): SafetensorsHeader {
  const n = readHeaderLength(bytes, fileSize, source, options);
  if (bytes.length < 8 + n)
    throw new TruncatedFileError(source, `need ${8 + n} header bytes, got ${bytes.length}`);
  let text: string;
  try {
    text = decoder.decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new HeaderEncodingError(source, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new HeaderJsonError(source, 'header JSON must start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HeaderJsonError(source, `header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(json)) throw new HeaderJsonError(source, 'header JSON must be an object');

  const dataOffset = 8 + n;
  const dataBytes = fileSize - dataOffset;
  const metadata: Record<string, string> = Object.create(null);
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry))
        throw new HeaderJsonError(source, '"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string')
          throw new HeaderJsonError(source, `"__metadata__"."${k}" must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(entry)) throw new HeaderJsonError(source, `${where}: entry must be an object`);
    for (const k of Object.keys(entry)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
        throw new HeaderJsonError(source, `${where}: unknown key "${k}"`);
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw new HeaderJsonError(source, `${where}: "dtype" must be a string`);
    if (!isDType(dtype))
      throw new UnsupportedDtypeError(source, `${where}: dtype "${dtype}" is not supported`);
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new HeaderJsonError(source, `${where}: "shape" must be an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new HeaderJsonError(
        source,
        `${where}: "data_offsets" must be [begin, end] non-negative integers`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end)
      throw new OffsetOutOfRangeError(source, `${where}: data_offsets [${begin}, ${end}] has begin > end`);
    if (end > dataBytes) {
      throw new OffsetOutOfRangeError(
        source,
        `${where}: data_offsets [${begin}, ${end}] run past the ${dataBytes}-byte data section`,
      );
    }
    let expected = DTYPE_BYTES[dtype];
    let zero = false;
    for (const d of shape as number[]) {
      if (d === 0) zero = true;
      expected *= d;
    }
    if (zero) expected = 0;
    if (expected !== end - begin) {
      const need = Number.isSafeInteger(expected) ? String(expected) : 'more than 2^53';
      throw new ByteLengthMismatchError(
        source,
        `${where}: ${end - begin} bytes stored but dtype ${dtype} × shape [${(shape as number[]).join(', ')}] needs ${need}`,
      );
    }
    tensors.push({
      name,
      dtype,
      shape: (shape as number[]).slice(),
      offset: dataOffset + begin,
      byteLength: end - begin,
      file: source,
    });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let cursor = dataOffset;
  let prev = '';
  for (const t of tensors) {
    if (t.offset < cursor) {
      throw new OffsetOverlapError(
        source,
        `tensor "${t.name}" (data_offsets begin ${t.offset - dataOffset}) overlaps tensor "${prev}"`,
      );
    }
    if (t.offset > cursor) {
      throw new OffsetHoleError(
        source,
        `${t.offset - cursor} bytes before tensor "${t.name}" belong to no tensor`,
      );
    }
    cursor = t.offset + t.byteLength;
    prev = t.name;
  }
  if (cursor !== fileSize) {
    throw new OffsetHoleError(
      source,
      `${fileSize - cursor} trailing bytes after the last tensor belong to no tensor`,
    );
  }
  return { tensors, metadata, headerBytes: n, dataOffset };
}

/** A tensor to serialize: its name, dtype, shape (byte length is derived). */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Product of dims × dtype size. */
export function tensorByteLength(dtype: DType, shape: readonly number[]): number {
  let n = DTYPE_BYTES[dtype];
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serializes a header for tensors laid out back to back in the given order. Returns the
 * full prefix (8-byte length + JSON padded with spaces to a multiple of 8 so the data
 * section is 8-byte aligned) and each tensor's data offset relative to the data section.
 */
export function serializeSafetensorsHeader(
  tensors: readonly TensorSpec[],
  metadata: Record<string, string> = {},
): { bytes: Uint8Array; offsets: number[]; dataBytes: number } {
  // null prototype: a tensor may be named "__proto__" and must still become an own key
  const obj: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  const offsets: number[] = [];
  let cursor = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__')
      throw new HeaderJsonError('(writer)', 'a tensor cannot be named "__metadata__"');
    if (Object.hasOwn(obj, t.name))
      throw new HeaderJsonError('(writer)', `duplicate tensor name "${t.name}"`);
    const len = tensorByteLength(t.dtype, t.shape);
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [cursor, cursor + len] };
    offsets.push(cursor);
    cursor += len;
  }
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, padded % 2 ** 32, true);
  dv.setUint32(4, Math.floor(padded / 2 ** 32), true);
  bytes.set(json, 8);
  return { bytes, offsets, dataBytes: cursor };
}

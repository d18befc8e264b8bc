// The container manifest: one JSON document stored as the string value of the "anyprec"
// key in the safetensors "__metadata__" map (SPEC.md §3).
import { ManifestError, UnsupportedVersionError } from '../errors.js';

/** Format name written in every manifest. */
export const FORMAT_NAME = 'anyprec-format';
/** The spec version this library writes; it reads every 1.x with x <= 0. */
export const FORMAT_VERSION = '1.0';
/** The only bit-plane layout of spec 1.0 (docs/architecture.md). */
export const LAYOUT = 'planes-u32-v1';
/** Metadata key that holds the manifest JSON. */
export const MANIFEST_KEY = 'anyprec';

/** Quantization method: non-uniform per-row LUTs, or binary-coded planes with per-group scales. */
export type Method = 'anyprec' | 'anybcq';

/** A file passed through from the source model (tokenizer etc.), identified by size and CRC. */
export interface ManifestFile {
  name: string;
  bytes: number;
  /** CRC-32 (IEEE) of the file, 8 lowercase hex digits. */
  crc32?: string;
  sha256?: string;
}

/** The container manifest (SPEC.md §3). */
export interface ContainerManifest {
  format: typeof FORMAT_NAME;
  version: string;
  method: Method;
  layout: typeof LAYOUT;
  /** Bit widths this file serves, ascending, each in 1..parentBits. */
  precisions: number[];
  /** P: number of stored planes (the maximum precision of the parent model). */
  parentBits: number;
  /** anyprec: the seed (lowest) width the upscaling started from. */
  seedBits?: number;
  /** anybcq: inputs per scale group. */
  groupSize?: number;
  /** anybcq: whether `<base>.offsets<b>` tensors are stored. */
  offsets?: boolean;
  /** Base names of the quantized linear layers (e.g. "model.layers.0.self_attn.q_proj"). */
  quantized: string[];
  /** The source model's config.json object. */
  config: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  tokenizer: { files: ManifestFile[] };
  /** Quantizer settings (free-form, for provenance). */
  quantizer: Record<string, unknown>;
  /** CRC-32 hex of the bytes of every tensor stored in this file. */
  checksums: Record<string, string>;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * Parses and validates a manifest JSON string (the "anyprec" metadata value). Throws
 * {@link UnsupportedVersionError} for another format name/major version or a newer minor,
 * {@link ManifestError} naming the field otherwise.
 */
export function parseManifest(text: string, source: string): ContainerManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(
      source,
      `"__metadata__"."${MANIFEST_KEY}" is not valid JSON (${(err as Error).message})`,
    );
  }
  if (!isObj(m)) throw new ManifestError(source, 'manifest must be a JSON object');
  const bad = (field: string, what: string): never => {
    throw new ManifestError(source, `manifest field "${field}" ${what}`);
  };
  if (m.format !== FORMAT_NAME) {
    throw new UnsupportedVersionError(
      source,
      `manifest format is ${JSON.stringify(m.format)}, expected "${FORMAT_NAME}"`,
    );
  }
  const version = m.version;
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)$/.exec(version) : null;
  if (match?.[1] !== '1' || Number(match[2]) > 0) {
    throw new UnsupportedVersionError(
      source,
      `anyprec-format version ${JSON.stringify(version)} is not supported (this reader handles 1.0); upgrade @anyprec/format`,
    );
  }
  if (m.method !== 'anyprec' && m.method !== 'anybcq')
    bad('method', `must be "anyprec" or "anybcq", got ${JSON.stringify(m.method)}`);
  if (m.layout !== LAYOUT) bad('layout', `must be "${LAYOUT}", got ${JSON.stringify(m.layout)}`);
  if (!isInt(m.parentBits, 1, 8)) bad('parentBits', 'must be an integer in 1..8');
  const P = m.parentBits as number;
  const precisions = m.precisions;
  if (!Array.isArray(precisions) || precisions.length === 0 || !precisions.every((b) => isInt(b, 1, P))) {
    bad('precisions', `must be a non-empty array of integers in 1..parentBits (${P})`);
  }
  const ps = precisions as number[];
  for (let i = 1; i < ps.length; i++) if (ps[i] <= ps[i - 1]) bad('precisions', 'must be strictly ascending');
  if (m.method === 'anyprec') {
    if (m.seedBits !== undefined && !isInt(m.seedBits, 1, P))
      bad('seedBits', 'must be an integer in 1..parentBits');
  } else {
    if (!isInt(m.groupSize, 1, 2 ** 31)) bad('groupSize', 'must be a positive integer (anybcq)');
    if (typeof m.offsets !== 'boolean') bad('offsets', 'must be a boolean (anybcq)');
  }
  if (!Array.isArray(m.quantized) || !m.quantized.every((s) => typeof s === 'string'))
    bad('quantized', 'must be an array of strings');
  if (!isObj(m.config)) bad('config', 'must be an object (the source config.json)');
  if (m.generationConfig !== undefined && !isObj(m.generationConfig))
    bad('generationConfig', 'must be an object');
  if (!isObj(m.tokenizer) || !Array.isArray(m.tokenizer.files)) bad('tokenizer', 'must be {files: [...]}');
  for (const f of (m.tokenizer as { files: unknown[] }).files) {
    if (!isObj(f) || typeof f.name !== 'string' || !isInt(f.bytes, 0, Number.MAX_SAFE_INTEGER))
      bad('tokenizer.files', 'entries need name and bytes');
  }
  if (m.quantizer !== undefined && !isObj(m.quantizer)) bad('quantizer', 'must be an object');
  if (!isObj(m.checksums)) bad('checksums', 'must be an object of tensor name → CRC-32 hex');
  for (const [k, v] of Object.entries(m.checksums as Record<string, unknown>)) {
    if (typeof v !== 'string' || !/^[0-9a-f]{8}$/.test(v))
      bad(`checksums.${k}`, 'must be 8 lowercase hex digits');
  }
  return {
    ...(m as unknown as ContainerManifest),
    quantizer: (m.quantizer as Record<string, unknown>) ?? {},
  };
}

/** Serializes a manifest to the metadata string (the inverse of {@link parseManifest}). */
export function serializeManifest(manifest: ContainerManifest): string {
  return JSON.stringify(manifest);
}

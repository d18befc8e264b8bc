// Structural checks of a container against its manifest, checksum verification and the
// bytes-read-per-token accounting that `anyprec inspect` prints.
import { crc32Hex } from '../crc32.js';
import { ArgumentError, ChecksumMismatchError, ManifestError, MissingTensorError } from '../errors.js';
import type { TensorInfo, TensorSpec } from '../safetensors/header.js';
import type { ContainerManifest, Method } from './manifest.js';
import { biasName, lutName, offsetsName, planesName, scalesName } from './names.js';

/** Shape parameters of one quantized linear layer. */
export interface QuantizedLayerSpec {
  /** HF module name without ".weight", e.g. "model.layers.0.mlp.down_proj". */
  base: string;
  /** out_features. */
  rows: number;
  /** in_features (multiple of 32). */
  cols: number;
}

/** The method-specific parameters that decide which tensors a quantized layer has. */
export interface LayoutParams {
  method: Method;
  parentBits: number;
  precisions: number[];
  groupSize?: number;
  offsets?: boolean;
}

/**
 * The tensors (name, dtype, shape) a quantized layer must have under spec 1.0, in the
 * order the writer stores them: planes, then per served width lut<b> or scales<b>
 * (+ offsets<b>). Biases are not included (they keep the source dtype).
 */
export function quantizedTensorSpecs(layer: QuantizedLayerSpec, params: LayoutParams): TensorSpec[] {
  const { base, rows, cols } = layer;
  if (cols % 32 !== 0)
    throw new ArgumentError(base, `in_features ${cols} is not a multiple of 32 (layout planes-u32-v1)`);
  const specs: TensorSpec[] = [
    { name: planesName(base), dtype: 'U32', shape: [params.parentBits, rows, cols / 32] },
  ];
  for (const b of params.precisions) {
    if (params.method === 'anyprec') {
      specs.push({ name: lutName(base, b), dtype: 'F16', shape: [rows, 2 ** b] });
    } else {
      const groups = Math.ceil(cols / params.groupSize!);
      specs.push({ name: scalesName(base, b), dtype: 'F16', shape: [rows, groups, b] });
      if (params.offsets) specs.push({ name: offsetsName(base, b), dtype: 'F16', shape: [rows, groups] });
    }
  }
  return specs;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Checks that every tensor the manifest requires is present with the right dtype and
 * shape, that no quantized layer still has its dense `.weight`, and that every stored
 * tensor has a checksum entry (and no checksum names a missing tensor).
 * Throws {@link MissingTensorError} / {@link ManifestError} naming the tensor.
 */
export function validateContainer(
  manifest: Omit<ContainerManifest, 'checksums'> & { checksums?: Record<string, string> },
  tensors: ReadonlyMap<string, Pick<TensorInfo, 'name' | 'dtype' | 'shape' | 'byteLength'>>,
  source: string,
  options: { checksums?: boolean } = {},
): void {
  for (const base of manifest.quantized) {
    const planes = tensors.get(planesName(base));
    if (!planes)
      throw new MissingTensorError(source, `quantized layer "${base}" has no "${planesName(base)}" tensor`);
    if (planes.dtype !== 'U32' || planes.shape.length !== 3 || planes.shape[0] !== manifest.parentBits) {
      throw new MissingTensorError(
        source,
        `"${planesName(base)}" must be U32 [${manifest.parentBits}, rows, cols/32], got ${planes.dtype} [${planes.shape.join(', ')}]`,
      );
    }
    if (tensors.has(`${base}.weight`))
      throw new MissingTensorError(source, `quantized layer "${base}" must not also store "${base}.weight"`);
    const layer = { base, rows: planes.shape[1], cols: planes.shape[2] * 32 };
    for (const spec of quantizedTensorSpecs(layer, manifest)) {
      const t = tensors.get(spec.name);
      if (!t)
        throw new MissingTensorError(
          source,
          `method ${manifest.method} requires "${spec.name}" (${spec.dtype} [${spec.shape.join(', ')}]), which is missing`,
        );
      if (t.dtype !== spec.dtype || !sameShape(t.shape, spec.shape)) {
        throw new MissingTensorError(
          source,
          `"${spec.name}" must be ${spec.dtype} [${spec.shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`,
        );
      }
    }
    const bias = tensors.get(biasName(base));
    if (bias && !sameShape(bias.shape, [layer.rows])) {
      throw new MissingTensorError(
        source,
        `"${biasName(base)}" must have shape [${layer.rows}], got [${bias.shape.join(', ')}]`,
      );
    }
  }
  if (options.checksums === false) return;
  const checksums = manifest.checksums ?? {};
  for (const name of tensors.keys()) {
    if (!Object.hasOwn(checksums, name))
      throw new ManifestError(source, `manifest has no checksum for tensor "${name}"`);
  }
  for (const name of Object.keys(checksums)) {
    if (!tensors.has(name))
      throw new MissingTensorError(source, `manifest lists a checksum for "${name}", which is not stored`);
  }
}

/** Throws {@link ChecksumMismatchError} unless `bytes` has the CRC-32 recorded for `name`. */
export function verifyChecksum(
  manifest: ContainerManifest,
  name: string,
  bytes: Uint8Array,
  source: string,
): void {
  const want = Object.hasOwn(manifest.checksums, name) ? manifest.checksums[name] : undefined;
  if (want === undefined) throw new ManifestError(source, `manifest has no checksum for tensor "${name}"`);
  const got = crc32Hex(bytes);
  if (got !== want) {
    throw new ChecksumMismatchError(
      source,
      `tensor "${name}" has CRC-32 ${got} but the manifest records ${want}; the file is corrupt, re-download or re-quantize it`,
    );
  }
}

/** Bytes read per generated token, by kind (see {@link bytesPerToken}). */
export interface BytesPerToken {
  precision: number | null;
  /** Bit-planes 0..p-1 of every quantized layer. */
  planes: number;
  /** lut<p> or scales<p> (+ offsets<p>) of every quantized layer. */
  tables: number;
  /** Every other tensor read in full: norms, biases, dense linears, the LM head. */
  dense: number;
  /** One row of the input embedding (zero when the tied head already reads the whole matrix). */
  embeddingRow: number;
  total: number;
}

/**
 * Bytes a decoder reads from the weights per generated token at `precision` (batch 1):
 * the first p planes and the width-p tables of each quantized layer, every other tensor
 * in full, except the input embedding of which one row is read. A tied head reads the
 * whole embedding matrix (counted once, as dense). `manifest` null means a plain model.
 */
export function bytesPerToken(
  manifest: ContainerManifest | null,
  tensors: ReadonlyMap<string, TensorInfo>,
  precision: number | null,
  options: { tieWordEmbeddings?: boolean; embeddingName?: string } = {},
): BytesPerToken {
  const embeddingName = options.embeddingName ?? 'model.embed_tokens.weight';
  const counted = new Set<string>();
  let planes = 0;
  let tables = 0;
  if (manifest) {
    if (precision === null || !manifest.precisions.includes(precision)) {
      throw new ArgumentError(
        '(bytesPerToken)',
        `precision ${precision} is not served by this container (serves ${manifest.precisions.join(', ')})`,
      );
    }
    const p = precision;
    for (const base of manifest.quantized) {
      const pl = tensors.get(planesName(base));
      if (!pl) continue;
      counted.add(pl.name);
      planes += (pl.byteLength / manifest.parentBits) * p;
      for (const b of manifest.precisions) {
        for (const name of [lutName(base, b), scalesName(base, b), offsetsName(base, b)]) {
          const t = tensors.get(name);
          if (!t) continue;
          counted.add(name);
          if (b === p) tables += t.byteLength;
        }
      }
    }
  }
  let dense = 0;
  let embeddingRow = 0;
  const tied = options.tieWordEmbeddings ?? !tensors.has('lm_head.weight');
  for (const t of tensors.values()) {
    if (counted.has(t.name)) continue;
    if (t.name === embeddingName && !tied) {
      embeddingRow += t.shape.length === 2 && t.shape[0] > 0 ? t.byteLength / t.shape[0] : t.byteLength;
    } else {
      dense += t.byteLength;
    }
  }
  return {
    precision: manifest ? precision : null,
    planes,
    tables,
    dense,
    embeddingRow,
    total: planes + tables + dense + embeddingRow,
  };
}

// Writing anyprec model directories: sharded streaming writes with resume, the container
// directory the quantizers produce (`anyprec quantize -o <dir>`), and extraction of a
// single precision into a standalone smaller container.
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ContainerManifest,
  FORMAT_NAME,
  FORMAT_VERSION,
  LAYOUT,
  MANIFEST_KEY,
  type ManifestFile,
  type Method,
  serializeManifest,
} from '../container/manifest.js';
import { parseQuantizedName } from '../container/names.js';
import {
  type QuantizedLayerSpec,
  quantizedTensorSpecs,
  validateContainer,
  verifyChecksum,
} from '../container/validate.js';
import { crc32Hex } from '../crc32.js';
import { ArgumentError, ManifestError } from '../errors.js';
import { type TensorInfo, type TensorSpec, tensorByteLength } from '../safetensors/header.js';
import { INDEX_FILE, type OpenedModel, openModel, openSafetensors } from './open.js';
import { type MetadataSource, SafetensorsWriter, writeFileAtomic } from './writer.js';

/** Default shard size cap (Hugging Face's historical default of 5 GB). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

/** Files passed through from the source model directory when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
];

/** Supplies a tensor's bytes when the writer reaches it. */
export type TensorDataSource = (name: string) => ArrayBufferView | Promise<ArrayBufferView>;

/** Options of {@link writeSafetensorsSharded}. */
export interface ShardedWriteOptions {
  /** Start a new shard before a shard would exceed this many data bytes (default 5e9). */
  maxShardBytes?: number;
  /** Metadata of each shard (a function receives that shard's CRC-32s). */
  metadata?: MetadataSource;
  /**
   * Keep shards already on disk that match the plan exactly (same tensors, dtypes, shapes,
   * and metadata consistent with their actual bytes), and write only the others.
   */
  resume?: boolean;
}

/** Splits tensors, in order, into shards of at most `maxShardBytes` data bytes (a larger tensor gets its own shard). */
export function planShards(
  specs: readonly TensorSpec[],
  maxShardBytes = DEFAULT_MAX_SHARD_BYTES,
): TensorSpec[][] {
  const shards: TensorSpec[][] = [];
  let current: TensorSpec[] = [];
  let bytes = 0;
  for (const s of specs) {
    const n = tensorByteLength(s.dtype, s.shape);
    if (current.length > 0 && bytes + n > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(s);
    bytes += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** HF shard file name: model-00001-of-00003.safetensors. */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** True when the file at `path` holds exactly the planned tensors and consistent metadata. */
async function shardIsComplete(path: string, plan: TensorSpec[], metadata: MetadataSource): Promise<boolean> {
  let f: Awaited<ReturnType<typeof openSafetensors>>;
  try {
    f = await openSafetensors(path);
  } catch {
    return false;
  }
  try {
    const stored = f.header.tensors;
    if (stored.length !== plan.length) return false;
    // header order is by offset, which is the plan order for files this writer made
    for (let i = 0; i < plan.length; i++) {
      const a = stored[i];
      const b = plan[i];
      if (a.name !== b.name || a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
    }
    const crcs: Record<string, string> = Object.create(null);
    for (const t of plan) crcs[t.name] = crc32Hex(await f.readTensor(t.name));
    const want = typeof metadata === 'function' ? metadata(crcs) : metadata;
    const got = f.metadata;
    const keys = Object.keys(want);
    return keys.length === Object.keys(got).length && keys.every((k) => got[k] === want[k]);
  } catch {
    return false;
  } finally {
    await f.close();
  }
}

/** Result of a (sharded) write. */
export interface ShardedWriteResult {
  /** File names written or kept, in shard order. */
  files: string[];
  /** Files kept from a previous run (resume). */
  resumed: string[];
  /** CRC-32 hex of every tensor written in this run. */
  crcs: Record<string, string>;
}

/**
 * Writes `specs` into `dir` as model.safetensors (one shard) or HF-style shards plus
 * model.safetensors.index.json, calling `getData` once per tensor, in order, so memory is
 * bounded by the largest tensor. Each shard is written atomically (temp file + rename);
 * the index is written last. With `resume`, complete shards from an interrupted run are kept.
 */
export async function writeSafetensorsSharded(
  dir: string,
  specs: TensorSpec[],
  getData: TensorDataSource,
  options: ShardedWriteOptions = {},
): Promise<ShardedWriteResult> {
  const metadata = options.metadata ?? {};
  const shards = planShards(specs, options.maxShardBytes);
  await mkdir(dir, { recursive: true });
  const files =
    shards.length === 1 ? ['model.safetensors'] : shards.map((_, i) => shardFileName(i, shards.length));
  const resumed: string[] = [];
  const crcs: Record<string, string> = Object.create(null);
  for (let i = 0; i < shards.length; i++) {
    const path = join(dir, files[i]);
    if (options.resume && (await exists(path)) && (await shardIsComplete(path, shards[i], metadata))) {
      resumed.push(files[i]);
      continue;
    }
    const w = await SafetensorsWriter.create(path, shards[i], metadata);
    try {
      for (const s of shards[i]) crcs[s.name] = await w.write(s.name, await getData(s.name));
      await w.close();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
  if (shards.length > 1) {
    const weightMap: Record<string, string> = Object.create(null);
    let total = 0;
    shards.forEach((shard, i) => {
      for (const s of shard) {
        weightMap[s.name] = files[i];
        total += tensorByteLength(s.dtype, s.shape);
      }
    });
    await writeFileAtomic(
      join(dir, INDEX_FILE),
      `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`,
    );
  } else {
    await rm(join(dir, INDEX_FILE), { force: true });
  }
  return { files, resumed, crcs };
}

/** Method parameters of a container (the manifest minus what the writer fills in). */
export interface ContainerParams {
  method: Method;
  parentBits: number;
  precisions: number[];
  seedBits?: number;
  groupSize?: number;
  offsets?: boolean;
  quantizer?: Record<string, unknown>;
}

/** Options of {@link writeContainerDir}. */
export interface WriteContainerDirOptions extends ContainerParams {
  /** Output directory (created). */
  outDir: string;
  /** Source HF model directory: non-quantized tensors, config.json, generation_config.json and tokenizer files come from here. */
  sourceDir: string;
  /** The linear layers being quantized: their `<base>.weight` is replaced by planes and tables. */
  layers: QuantizedLayerSpec[];
  /**
   * Returns the bytes of a quantized tensor (`<base>.planes`, `.lut<b>`, `.scales<b>`,
   * `.offsets<b>`); return `undefined` for other tensors to copy them from the source.
   */
  getData: (name: string) => ArrayBufferView | undefined | Promise<ArrayBufferView | undefined>;
  maxShardBytes?: number;
  resume?: boolean;
}

/** Copies passthrough files; returns their manifest entries. */
async function copyPassthroughFiles(sourceDir: string, outDir: string): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  for (const name of TOKENIZER_FILES) {
    const src = join(sourceDir, name);
    if (!(await exists(src))) continue;
    const bytes = await readFile(src);
    files.push({ name, bytes: bytes.length, crc32: crc32Hex(bytes) });
    if (sourceDir !== outDir) await copyFile(src, join(outDir, name));
  }
  return files;
}

async function writeContainer(
  outDir: string,
  sourceDir: string,
  rawConfig: Record<string, unknown>,
  generationConfig: Record<string, unknown> | null,
  params: ContainerParams & { quantized: string[] },
  plan: TensorSpec[],
  getData: TensorDataSource,
  options: { maxShardBytes?: number; resume?: boolean },
): Promise<ContainerManifest> {
  await mkdir(outDir, { recursive: true });
  const tokenizerFiles = await copyPassthroughFiles(sourceDir, outDir);
  const { quantization_config: _drop, ...baseConfig } = rawConfig;
  const manifestBase: Omit<ContainerManifest, 'checksums'> = {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    method: params.method,
    layout: LAYOUT,
    precisions: params.precisions,
    parentBits: params.parentBits,
    ...(params.method === 'anyprec'
      ? params.seedBits !== undefined
        ? { seedBits: params.seedBits }
        : {}
      : { groupSize: params.groupSize, offsets: params.offsets }),
    quantized: params.quantized,
    config: baseConfig,
    ...(generationConfig ? { generationConfig } : {}),
    tokenizer: { files: tokenizerFiles },
    quantizer: params.quantizer ?? {},
  };
  const planMap = new Map(
    plan.map((s) => [s.name, { ...s, byteLength: tensorByteLength(s.dtype, s.shape) }]),
  );
  validateContainer(manifestBase, planMap, outDir, { checksums: false });
  const metadata = (crcs: Record<string, string>) => ({
    format: 'pt',
    [MANIFEST_KEY]: serializeManifest({ ...manifestBase, checksums: crcs }),
  });
  const result = await writeSafetensorsSharded(outDir, plan, getData, { ...options, metadata });
  const quantizationConfig: Record<string, unknown> = {
    quant_method: params.method,
    format: FORMAT_NAME,
    format_version: FORMAT_VERSION,
    bits: params.parentBits,
    precisions: params.precisions,
    ...(params.method === 'anybcq' ? { group_size: params.groupSize, offsets: params.offsets } : {}),
    ...(params.method === 'anyprec' && params.seedBits !== undefined ? { seed_bits: params.seedBits } : {}),
  };
  // generation_config.json: copied byte for byte when the source has one
  const genSrc = join(sourceDir, 'generation_config.json');
  if (sourceDir !== outDir && (await exists(genSrc))) {
    await copyFile(genSrc, join(outDir, 'generation_config.json'));
  } else if (generationConfig) {
    await writeFileAtomic(
      join(outDir, 'generation_config.json'),
      `${JSON.stringify(generationConfig, null, 2)}\n`,
    );
  }
  await writeFileAtomic(
    join(outDir, 'config.json'),
    `${JSON.stringify({ ...baseConfig, quantization_config: quantizationConfig }, null, 2)}\n`,
  );
  return { ...manifestBase, checksums: result.crcs };
}

function checkParams(p: ContainerParams, where: string): void {
  if (!Number.isInteger(p.parentBits) || p.parentBits < 1 || p.parentBits > 8)
    throw new ArgumentError(where, `parentBits must be in 1..8, got ${p.parentBits}`);
  const ps = p.precisions;
  if (
    ps.length === 0 ||
    !ps.every((b, i) => Number.isInteger(b) && b >= 1 && b <= p.parentBits && (i === 0 || b > ps[i - 1]))
  ) {
    throw new ArgumentError(
      where,
      `precisions must be ascending integers in 1..${p.parentBits}, got [${ps.join(', ')}]`,
    );
  }
  if (
    p.method === 'anybcq' &&
    (!Number.isInteger(p.groupSize) || p.groupSize! < 1 || typeof p.offsets !== 'boolean')
  ) {
    throw new ArgumentError(where, 'anybcq needs groupSize (positive integer) and offsets (boolean)');
  }
}

/**
 * Writes an HF-style anyprec model directory: the container (model.safetensors or shards),
 * config.json with `quantization_config`, generation_config.json and the tokenizer files
 * copied from `sourceDir`. Tensors are written in source order with each quantized
 * `<base>.weight` replaced by its planes and tables; memory stays bounded by the largest
 * tensor. Returns the manifest written (checksums of the tensors written in this run).
 */
export async function writeContainerDir(options: WriteContainerDirOptions): Promise<ContainerManifest> {
  checkParams(options, options.outDir);
  const source = await openModel(options.sourceDir);
  try {
    const layers = new Map(options.layers.map((l) => [l.base, l]));
    const plan: TensorSpec[] = [];
    const seen = new Set<string>();
    for (const t of source.tensors.values()) {
      const base = t.name.endsWith('.weight') ? t.name.slice(0, -'.weight'.length) : null;
      const layer = base !== null ? layers.get(base) : undefined;
      if (layer) {
        if (t.shape.length !== 2 || t.shape[0] !== layer.rows || t.shape[1] !== layer.cols) {
          throw new ArgumentError(
            options.outDir,
            `layer "${layer.base}" is [${layer.rows}, ${layer.cols}] but "${t.name}" has shape [${t.shape.join(', ')}]`,
          );
        }
        plan.push(...quantizedTensorSpecs(layer, options));
        seen.add(layer.base);
      } else {
        plan.push({ name: t.name, dtype: t.dtype, shape: t.shape });
      }
    }
    for (const l of options.layers)
      if (!seen.has(l.base))
        throw new ArgumentError(
          options.outDir,
          `layer "${l.base}" has no "${l.base}.weight" in ${options.sourceDir}`,
        );
    const getData: TensorDataSource = async (name) => {
      const given = await options.getData(name);
      if (given !== undefined) return given;
      if (source.tensors.has(name)) return source.readTensor(name);
      throw new ArgumentError(options.outDir, `getData returned nothing for quantized tensor "${name}"`);
    };
    return await writeContainer(
      options.outDir,
      options.sourceDir,
      source.rawConfig,
      source.generationConfig,
      { ...options, quantized: options.layers.map((l) => l.base) },
      plan,
      getData,
      options,
    );
  } finally {
    await source.close();
  }
}

/** Reads every tensor of an opened container and checks it against the manifest's CRC-32s. */
export async function verifyModel(model: OpenedModel): Promise<void> {
  if (!model.manifest)
    throw new ManifestError(model.dir, 'not an anyprec container (no manifest); nothing to verify');
  for (const t of model.tensors.values())
    verifyChecksum(model.manifest, t.name, await model.readTensor(t.name), t.file);
}

/**
 * Writes a standalone container that serves only `precision`: the first `precision` planes
 * of each layer (parentBits becomes `precision`) and only the width-`precision` tables.
 * Every byte read from the source is checked against its CRC-32 first.
 */
export async function extractPrecision(
  sourcePath: string,
  outDir: string,
  precision: number,
  options: { maxShardBytes?: number } = {},
): Promise<ContainerManifest> {
  const src = await openModel(sourcePath);
  try {
    const m = src.manifest;
    if (!m) throw new ManifestError(sourcePath, 'not an anyprec container (no manifest); nothing to extract');
    if (!m.precisions.includes(precision)) {
      throw new ArgumentError(
        sourcePath,
        `precision ${precision} is not served (this container serves ${m.precisions.join(', ')})`,
      );
    }
    const quantized = new Set(m.quantized);
    const plan: TensorSpec[] = [];
    const sliceOf = new Map<string, number>();
    for (const t of src.tensors.values()) {
      const q = parseQuantizedName(t.name);
      if (q && quantized.has(q.base)) {
        if (q.role === 'planes') {
          plan.push({ name: t.name, dtype: t.dtype, shape: [precision, t.shape[1], t.shape[2]] });
          sliceOf.set(t.name, (t.byteLength / m.parentBits) * precision);
          continue;
        }
        if (q.bits !== precision) continue;
      }
      plan.push({ name: t.name, dtype: t.dtype, shape: t.shape });
    }
    const getData: TensorDataSource = async (name) => {
      const t = src.tensors.get(name) as TensorInfo;
      const bytes = await src.readTensor(name);
      verifyChecksum(m, name, bytes, t.file);
      const cut = sliceOf.get(name);
      return cut === undefined ? bytes : bytes.subarray(0, cut);
    };
    return await writeContainer(
      outDir,
      src.dir,
      src.rawConfig,
      src.generationConfig,
      {
        method: m.method,
        parentBits: precision,
        precisions: [precision],
        ...(m.seedBits !== undefined ? { seedBits: Math.min(m.seedBits, precision) } : {}),
        ...(m.method === 'anybcq' ? { groupSize: m.groupSize, offsets: m.offsets } : {}),
        quantizer: { ...m.quantizer, extractedFrom: { parentBits: m.parentBits, precisions: m.precisions } },
        quantized: m.quantized,
      },
      plan,
      getData,
      options,
    );
  } finally {
    await src.close();
  }
}

// Opening models from disk: a single .safetensors file, an HF model directory (one
// model.safetensors or shards + model.safetensors.index.json), or an anyprec container
// directory (the same layout, with the manifest in the safetensors metadata).
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type ModelConfig, parseModelConfig } from '../config.js';
import { type ContainerManifest, MANIFEST_KEY, parseManifest } from '../container/manifest.js';
import { validateContainer } from '../container/validate.js';
import {
  ManifestError,
  ModelNotFoundError,
  ShardIndexError,
  TensorNotFoundError,
  UnsupportedConfigError,
} from '../errors.js';
import type { ParseOptions, TensorInfo } from '../safetensors/header.js';
import { openSafetensorsSource, type SafetensorsFile, tensorToF32 } from '../safetensors/reader.js';
import { fileSource } from './file-source.js';

/** Opens one .safetensors file for random access (positional reads). */
export async function openSafetensors(path: string, options: ParseOptions = {}): Promise<SafetensorsFile> {
  const source = await fileSource(path);
  try {
    return await openSafetensorsSource(source, options);
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** An opened model (plain HF checkpoint or anyprec container). */
export interface OpenedModel {
  /** Directory holding the model files. */
  dir: string;
  /** Normalized config (from config.json, else from the container manifest). */
  config: ModelConfig;
  /** The config.json object as stored. */
  rawConfig: Record<string, unknown>;
  /** generation_config.json, or null when absent. */
  generationConfig: Record<string, unknown> | null;
  /** Container manifest (checksums merged over all shards), or null for a plain HF model. */
  manifest: ContainerManifest | null;
  /** Every tensor of every shard, by name. */
  tensors: Map<string, TensorInfo>;
  /** The safetensors files (one per shard), in shard order. */
  files: SafetensorsFile[];
  /** Raw little-endian bytes of one tensor (positional read of that tensor only). */
  readTensor(name: string): Promise<Uint8Array>;
  /** `length` bytes starting `start` bytes into a tensor (e.g. the first p planes). */
  readTensorRange(name: string, start: number, length: number): Promise<Uint8Array>;
  /** A float tensor converted to f32. */
  readTensorF32(name: string): Promise<Float32Array>;
  /** A text file of the model directory (tokenizer.json, chat_template.jinja, ...), or null if missing. */
  readTextFile(name: string): Promise<string | null>;
  close(): Promise<void>;
}

/** Index file of a sharded checkpoint. */
export const INDEX_FILE = 'model.safetensors.index.json';

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ModelNotFoundError(path, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ModelNotFoundError(path, 'must hold a JSON object');
  return v as Record<string, unknown>;
}

function isPlainFileName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('/') &&
    !name.includes('\\') &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('\0')
  );
}

/** Lists the shard files of a model directory: [model.safetensors] or those of the index. */
export async function modelShards(
  dir: string,
): Promise<{ shards: string[]; weightMap: Map<string, string> | null }> {
  const indexPath = join(dir, INDEX_FILE);
  const index = await readJson(indexPath);
  if (index) {
    const wm = index.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm))
      throw new ShardIndexError(indexPath, '"weight_map" must be an object');
    const weightMap = new Map<string, string>();
    const shards: string[] = [];
    for (const [name, file] of Object.entries(wm)) {
      if (typeof file !== 'string' || !isPlainFileName(file)) {
        throw new ShardIndexError(
          indexPath,
          `tensor "${name}" maps to ${JSON.stringify(file)}, which is not a file name in this directory`,
        );
      }
      weightMap.set(name, file);
      if (!shards.includes(file)) shards.push(file);
    }
    shards.sort();
    return { shards, weightMap };
  }
  const single = join(dir, 'model.safetensors');
  try {
    await stat(single);
  } catch {
    throw new ModelNotFoundError(dir, `has neither model.safetensors nor ${INDEX_FILE}`);
  }
  return { shards: ['model.safetensors'], weightMap: null };
}

/**
 * Opens a model directory, a container directory or a single .safetensors file.
 * Sharded checkpoints are checked against their index (every tensor where the index says,
 * none missing or extra). Config comes from config.json next to the weights, else from the
 * container manifest.
 */
export async function openModel(path: string, options: ParseOptions = {}): Promise<OpenedModel> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new ModelNotFoundError(path, 'does not exist');
  }
  const dir = st.isDirectory() ? path : dirname(path);
  let shardNames: string[];
  let weightMap: Map<string, string> | null = null;
  if (st.isDirectory()) ({ shards: shardNames, weightMap } = await modelShards(dir));
  else shardNames = [basename(path)];

  const files: SafetensorsFile[] = [];
  try {
    for (const s of shardNames) files.push(await openSafetensors(join(dir, s), options));
    const tensors = new Map<string, TensorInfo>();
    const owner = new Map<string, SafetensorsFile>();
    for (let i = 0; i < files.length; i++) {
      for (const t of files[i].header.tensors) {
        if (tensors.has(t.name))
          throw new ShardIndexError(
            join(dir, shardNames[i]),
            `tensor "${t.name}" also appears in ${tensors.get(t.name)!.file}`,
          );
        if (weightMap && weightMap.get(t.name) !== shardNames[i]) {
          throw new ShardIndexError(
            join(dir, INDEX_FILE),
            `tensor "${t.name}" is in ${shardNames[i]} but the index says ${weightMap.get(t.name) ?? 'nothing'}`,
          );
        }
        tensors.set(t.name, t);
        owner.set(t.name, files[i]);
      }
    }
    if (weightMap) {
      for (const [name, file] of weightMap) {
        if (!tensors.has(name))
          throw new ShardIndexError(
            join(dir, file),
            `tensor "${name}" listed in ${INDEX_FILE} is missing from the shard`,
          );
      }
    }

    // manifest: every shard of a container carries one; checksums are per shard, merged here
    let manifest: ContainerManifest | null = null;
    for (const f of files) {
      const text = f.metadata[MANIFEST_KEY];
      if (text === undefined) {
        if (manifest)
          throw new ManifestError(f.source.name, 'shard has no anyprec manifest but other shards do');
        continue;
      }
      const m = parseManifest(text, f.source.name);
      if (!manifest) manifest = { ...m, checksums: Object.assign(Object.create(null), m.checksums) };
      else {
        if (
          m.method !== manifest.method ||
          m.parentBits !== manifest.parentBits ||
          m.precisions.join() !== manifest.precisions.join()
        ) {
          throw new ManifestError(
            f.source.name,
            'manifest differs from the first shard (method, parentBits or precisions)',
          );
        }
        for (const [k, v] of Object.entries(m.checksums))
          Object.defineProperty(manifest.checksums, k, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
    }
    if (manifest && files.some((f) => f.metadata[MANIFEST_KEY] === undefined)) {
      throw new ManifestError(
        files.find((f) => f.metadata[MANIFEST_KEY] === undefined)!.source.name,
        'shard has no anyprec manifest but other shards do',
      );
    }

    if (manifest) validateContainer(manifest, tensors, shardNames.length === 1 ? files[0].source.name : dir);

    const configPath = join(dir, 'config.json');
    let rawConfig = await readJson(configPath);
    let configSource = configPath;
    if (!rawConfig && manifest) {
      rawConfig = manifest.config;
      configSource = `${files[0].source.name} (manifest config)`;
    }
    if (!rawConfig)
      throw new UnsupportedConfigError(
        configPath,
        '(file)',
        'config.json is missing; anyprec needs it to know the architecture',
      );
    const config = parseModelConfig(rawConfig, configSource);
    const generationConfig =
      (await readJson(join(dir, 'generation_config.json'))) ?? manifest?.generationConfig ?? null;

    const fileOf = (name: string): SafetensorsFile => {
      const f = owner.get(name);
      if (!f) throw new TensorNotFoundError(dir, `no tensor named "${name}"`);
      return f;
    };
    return {
      dir,
      config,
      rawConfig,
      generationConfig,
      manifest,
      tensors,
      files,
      readTensor: (name) => fileOf(name).readTensor(name),
      readTensorRange: (name, start, length) => fileOf(name).readTensorRange(name, start, length),
      async readTensorF32(name) {
        const f = fileOf(name);
        const t = tensors.get(name)!;
        return tensorToF32(await f.readTensor(name), t.dtype, t.file, name);
      },
      async readTextFile(name) {
        if (!isPlainFileName(name))
          throw new ModelNotFoundError(dir, `"${name}" is not a file name inside the model directory`);
        try {
          return await readFile(join(dir, name), 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
          throw err;
        }
      },
      async close() {
        await Promise.all(files.map((f) => f.close()));
      },
    };
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
}

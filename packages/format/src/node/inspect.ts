// The data behind `anyprec inspect`: what a model directory, safetensors file or container
// holds, and how many weight bytes a decoder reads per token at each served precision.
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type ModelConfig, parseModelConfig } from '../config.js';
import { type ContainerManifest, MANIFEST_KEY, parseManifest } from '../container/manifest.js';
import { type BytesPerToken, bytesPerToken, validateContainer } from '../container/validate.js';
import { ModelNotFoundError } from '../errors.js';
import type { TensorInfo } from '../safetensors/header.js';
import type { SafetensorsFile } from '../safetensors/reader.js';
import { INDEX_FILE, modelShards, openModel, openSafetensors } from './open.js';

/** One row of the tensor listing. */
export interface InspectTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  file: string;
}

/** What `anyprec inspect --json` prints. */
export interface InspectReport {
  path: string;
  /** 'container' when an anyprec manifest is present, 'model' for an HF directory, 'safetensors' for a bare file. */
  kind: 'container' | 'model' | 'safetensors';
  files: string[];
  tensorCount: number;
  totalBytes: number;
  tensors: InspectTensor[];
  /** "__metadata__" of the first file, without the manifest string. */
  metadata: Record<string, string>;
  /** Normalized config, when config.json (or the manifest) has one anyprec supports. */
  config: ModelConfig | null;
  /** Why `config` is null, if it is. */
  configError?: string;
  manifest: (Omit<ContainerManifest, 'checksums'> & { checksumCount: number }) | null;
  /** Weight bytes read per token: one entry per served precision (containers), or one with precision null. */
  bytesPerToken: BytesPerToken[];
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    throw new ModelNotFoundError(path, 'does not exist');
  }
}

/**
 * Inspects a model directory, a container directory, a `.safetensors` file or a
 * model.safetensors.index.json. Structure is validated (headers, shard index, container
 * tensors); tensor bytes are not read (use verifyModel for checksums).
 */
export async function inspectModel(path: string): Promise<InspectReport> {
  let target = path;
  if (!(await isDir(path)) && basename(path) === INDEX_FILE) target = dirname(path);
  const dir = (await isDir(target)) ? target : null;

  // with a supported config.json, go through openModel (validates everything, normalizes config)
  if (dir) {
    try {
      const m = await openModel(dir);
      try {
        return report(path, 'model', m.files, m.tensors, m.config, undefined, m.manifest);
      } finally {
        await m.close();
      }
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'UnsupportedConfigError') throw err;
      // unsupported or missing config: still list tensors
      const { shards } = await modelShards(dir);
      const files: SafetensorsFile[] = [];
      try {
        for (const s of shards) files.push(await openSafetensors(join(dir, s)));
        const tensors = new Map(files.flatMap((f) => f.header.tensors.map((t) => [t.name, t] as const)));
        const manifestText = files[0]?.metadata[MANIFEST_KEY];
        const manifest =
          manifestText === undefined ? null : parseManifest(manifestText, files[0].source.name);
        return report(path, 'model', files, tensors, null, (err as Error).message, manifest);
      } finally {
        await Promise.all(files.map((f) => f.close()));
      }
    }
  }

  const f = await openSafetensors(target);
  try {
    const text = f.metadata[MANIFEST_KEY];
    const manifest = text === undefined ? null : parseManifest(text, f.source.name);
    if (manifest) validateContainer(manifest, f.tensors, f.source.name);
    let config: ModelConfig | null = null;
    let configError: string | undefined;
    if (manifest) {
      try {
        config = parseModelConfig(manifest.config, `${f.source.name} (manifest config)`);
      } catch (err) {
        configError = (err as Error).message;
      }
    }
    return report(path, 'safetensors', [f], f.tensors, config, configError, manifest);
  } finally {
    await f.close();
  }
}

function report(
  path: string,
  kind: 'model' | 'safetensors',
  files: SafetensorsFile[],
  tensors: ReadonlyMap<string, TensorInfo>,
  config: ModelConfig | null,
  configError: string | undefined,
  manifest: ContainerManifest | null,
): InspectReport {
  const list = [...tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: t.byteLength,
    file: basename(t.file),
  }));
  const { [MANIFEST_KEY]: _m, ...metadata } = files[0]?.metadata ?? {};
  const tied = config ? config.tieWordEmbeddings : undefined;
  const bpt = manifest
    ? manifest.precisions.map((p) => bytesPerToken(manifest, tensors, p, { tieWordEmbeddings: tied }))
    : [bytesPerToken(null, tensors, null, { tieWordEmbeddings: tied })];
  let summary: InspectReport['manifest'] = null;
  if (manifest) {
    const { checksums, ...rest } = manifest;
    summary = { ...rest, checksumCount: Object.keys(checksums).length };
  }
  return {
    path,
    kind: manifest ? 'container' : kind,
    files: files.map((f) => basename(f.source.name)),
    tensorCount: list.length,
    totalBytes: list.reduce((a, t) => a + t.bytes, 0),
    tensors: list,
    metadata,
    config,
    ...(configError ? { configError } : {}),
    manifest: summary,
    bytesPerToken: bpt,
  };
}

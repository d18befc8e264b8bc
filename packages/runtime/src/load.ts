// Loading an HF model directory or an anyprec container into a runnable Model: picks the
// backend, reads every tensor once, keeps quantized linears as planes + tables (switching
// precision moves no weights) and builds the tokenizer.
import { type ModelConfig, viewAs } from '@anyprec/format';
import { type OpenedModel, openModel } from '@anyprec/format/node';
import type { Backend, WeightDtype } from './backends/backend.js';
import { CpuBackend, nativeUnavailableReason } from './backends/cpu.js';
import { TsBackend } from './backends/ts.js';
import { RuntimeArgumentError, TokenizerError, UnsupportedModelError, WeightError } from './errors.js';
import { Model } from './model.js';
import { FULL_PRECISION, LINEAR_KEYS, type Linear, type LlamaLayer, linearName } from './models/llama.js';
import { halfToF32 } from './numeric.js';
import { TextTokenizer } from './tokenizer.js';

export type BackendName = 'cpu' | 'ts';

export interface LoadOptions {
  /** 'cpu' (native, throws if unavailable), 'ts' (TypeScript reference); default: cpu when it loads, else ts with a notice. */
  backend?: BackendName;
  /** Native threads (default: the addon's choice, usually all cores). */
  threads?: number;
  /**
   * Dense weights in memory: 'stored' keeps f16/bf16 as stored (half the bytes per decode
   * step; the native kernels convert on the fly), 'f32' converts at load. Default: 'stored'
   * on the native backend, 'f32' on TypeScript.
   */
  denseDtype?: 'stored' | 'f32';
  /** Where the fallback notice goes (default: one line on stderr). */
  onNotice?: (message: string) => void;
}

/** Chooses the backend: native when it loads, else TypeScript with a one-line notice. */
export function createBackend(options: Pick<LoadOptions, 'backend' | 'threads' | 'onNotice'> = {}): Backend {
  if (options.backend === 'ts') return new TsBackend();
  if (options.backend === 'cpu') return new CpuBackend(options.threads);
  if (options.backend !== undefined)
    throw new RuntimeArgumentError(`backend "${options.backend}" is not one of cpu, ts`);
  const reason = nativeUnavailableReason();
  if (reason === null) return new CpuBackend(options.threads);
  (options.onNotice ?? ((m: string) => process.stderr.write(`${m}\n`)))(
    `anyprec: native CPU backend unavailable (${reason}); using the TypeScript backend`,
  );
  return new TsBackend();
}

const HALF: Record<string, WeightDtype | undefined> = { F32: 'f32', BF16: 'bf16', F16: 'f16' };

/** Reads the model's tensors into LlamaWeights-ready pieces. */
class TensorReader {
  constructor(
    private readonly opened: OpenedModel,
    private readonly denseF32: boolean,
  ) {}

  has(name: string): boolean {
    return this.opened.tensors.has(name);
  }

  info(name: string) {
    const info = this.opened.tensors.get(name);
    if (!info) throw new WeightError(name, `missing from ${this.opened.dir}`);
    return info;
  }

  expectShape(name: string, shape: number[]): void {
    const actual = this.info(name).shape;
    if (actual.join() !== shape.join())
      throw new WeightError(name, `shape [${actual}] but the config implies [${shape}]`);
  }

  async f32(name: string, shape: number[]): Promise<Float32Array> {
    this.expectShape(name, shape);
    return this.opened.readTensorF32(name);
  }

  /** A float tensor as stored (f32/bf16/f16), or converted to f32 when denseF32. */
  async dense(
    name: string,
    shape: number[],
  ): Promise<{ data: Float32Array | Uint16Array; dtype: WeightDtype }> {
    this.expectShape(name, shape);
    const info = this.info(name);
    const dtype = HALF[info.dtype];
    if (!dtype)
      throw new WeightError(name, `dtype ${info.dtype} is not supported for weights (F32, BF16, F16)`);
    const bytes = await this.opened.readTensor(name);
    if (dtype === 'f32') return { data: viewAs(bytes, 'f32'), dtype };
    const half = viewAs(bytes, 'u16');
    return this.denseF32 ? { data: halfToF32(half, dtype), dtype: 'f32' } : { data: half, dtype };
  }

  async u16(name: string, dtype: string, shape: number[]): Promise<Uint16Array> {
    this.expectShape(name, shape);
    if (this.info(name).dtype !== dtype)
      throw new WeightError(name, `dtype ${this.info(name).dtype}, expected ${dtype}`);
    return viewAs(await this.opened.readTensor(name), 'u16');
  }

  async u32(name: string, shape: number[]): Promise<Uint32Array> {
    this.expectShape(name, shape);
    if (this.info(name).dtype !== 'U32')
      throw new WeightError(name, `dtype ${this.info(name).dtype}, expected U32`);
    return viewAs(await this.opened.readTensor(name), 'u32');
  }
}

async function readLinear(
  reader: TensorReader,
  opened: OpenedModel,
  name: string,
  rows: number,
  cols: number,
  hasBias: boolean,
): Promise<Linear> {
  const bias = hasBias ? await reader.f32(`${name}.bias`, [rows]) : null;
  if (!hasBias && reader.has(`${name}.bias`))
    throw new WeightError(
      `${name}.bias`,
      'present but config.json says this layer has no bias (attention_bias / mlp_bias)',
    );
  const manifest = opened.manifest;
  if (!manifest?.quantized.includes(name)) {
    const { data, dtype } = await reader.dense(`${name}.weight`, [rows, cols]);
    return { kind: 'dense', name, rows, cols, weight: data, dtype, bias };
  }
  if (cols % 32 !== 0)
    throw new WeightError(`${name}.planes`, `cols ${cols} is not a multiple of 32 (layout planes-u32-v1)`);
  const P = manifest.parentBits;
  const planes = await reader.u32(`${name}.planes`, [P, rows, cols / 32]);
  if (manifest.method === 'anyprec') {
    const luts = new Map<number, Uint16Array>();
    for (const b of manifest.precisions)
      luts.set(b, await reader.u16(`${name}.lut${b}`, 'F16', [rows, 2 ** b]));
    return { kind: 'lut', name, rows, cols, planes, parentBits: P, luts, bias };
  }
  const groupSize = manifest.groupSize;
  if (!groupSize) throw new WeightError(name, 'anybcq container manifest has no groupSize');
  const groups = Math.ceil(cols / groupSize);
  const scales = new Map<number, Uint16Array>();
  const offsets = new Map<number, Uint16Array | null>();
  for (const b of manifest.precisions) {
    scales.set(b, await reader.u16(`${name}.scales${b}`, 'F16', [rows, groups, b]));
    offsets.set(b, manifest.offsets ? await reader.u16(`${name}.offsets${b}`, 'F16', [rows, groups]) : null);
  }
  return { kind: 'bcq', name, rows, cols, planes, parentBits: P, groupSize, scales, offsets, bias };
}

async function readTokenizer(opened: OpenedModel, config: ModelConfig): Promise<TextTokenizer> {
  const json = await opened.readTextFile('tokenizer.json');
  if (json === null) throw new TokenizerError(`${opened.dir}: tokenizer.json is missing`);
  const configText = await opened.readTextFile('tokenizer_config.json');
  const tokenizerConfig = configText === null ? {} : (JSON.parse(configText) as Record<string, unknown>);
  if (typeof tokenizerConfig.chat_template !== 'string') {
    const jinja = await opened.readTextFile('chat_template.jinja');
    if (jinja !== null) tokenizerConfig.chat_template = jinja;
  }
  return new TextTokenizer(JSON.parse(json) as Record<string, unknown>, tokenizerConfig, {
    bosTokenId: config.bosTokenId ?? undefined,
    eosTokenIds: config.eosTokenIds.length ? config.eosTokenIds : undefined,
  });
}

/** Loads an HF model directory, a .safetensors file with config.json beside it, or an anyprec container. */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  const backend = createBackend(options);
  const opened = await openModel(path);
  try {
    const config = opened.config;
    const {
      hiddenSize: D,
      intermediateSize: F,
      numHeads: H,
      numKvHeads: KV,
      headDim: hd,
      vocabSize: V,
    } = config;
    const manifest = opened.manifest;
    if (manifest && manifest.layout !== 'planes-u32-v1')
      throw new UnsupportedModelError('layout', `container layout "${manifest.layout}" is not planes-u32-v1`);
    const reader = new TensorReader(
      opened,
      options.denseDtype === 'f32' || (options.denseDtype === undefined && backend.name === 'ts'),
    );

    const embedding = await reader.dense('model.embed_tokens.weight', [V, D]);
    const layers: LlamaLayer[] = [];
    const shapes: Record<(typeof LINEAR_KEYS)[number], [number, number]> = {
      q: [H * hd, D],
      k: [KV * hd, D],
      v: [KV * hd, D],
      o: [D, H * hd],
      gate: [F, D],
      up: [F, D],
      down: [D, F],
    };
    for (let l = 0; l < config.numLayers; l++) {
      const linears = {} as Record<(typeof LINEAR_KEYS)[number], Linear>;
      for (const key of LINEAR_KEYS) {
        const hasBias =
          key === 'q' || key === 'k' || key === 'v'
            ? config.attentionBias
            : key === 'o'
              ? false
              : config.mlpBias;
        linears[key] = await readLinear(
          reader,
          opened,
          linearName(l, key),
          shapes[key][0],
          shapes[key][1],
          hasBias,
        );
      }
      layers.push({
        inputNorm: await reader.f32(`model.layers.${l}.input_layernorm.weight`, [D]),
        postAttentionNorm: await reader.f32(`model.layers.${l}.post_attention_layernorm.weight`, [D]),
        ...linears,
      });
    }
    const norm = await reader.f32('model.norm.weight', [D]);
    let lmHead: Linear;
    if (config.tieWordEmbeddings) {
      lmHead = {
        kind: 'dense',
        name: 'lm_head',
        rows: V,
        cols: D,
        weight: embedding.data,
        dtype: embedding.dtype,
        bias: null,
      };
    } else {
      lmHead = await readLinear(reader, opened, 'lm_head', V, D, false);
    }
    const precisions = manifest ? [...manifest.precisions].sort((a, b) => a - b) : [FULL_PRECISION];
    const tokenizer = await readTokenizer(opened, config);
    return new Model(
      config,
      { embed: embedding.data, embedDtype: embedding.dtype, layers, norm, lmHead },
      backend,
      precisions,
      { path, tokenizer, manifest, generationConfig: opened.generationConfig },
    );
  } finally {
    await opened.close();
  }
}

// Llama-family decoder (Llama 2/3, Mistral, Qwen2): pre-norm blocks of GQA attention with
// RoPE and a SiLU-gated MLP. Reads top to bottom like llama2.c / gpt-fast: one loop over
// layers, shapes in comments. Every matmul goes through the Backend; the cheap O(tokens·dim)
// glue (RoPE, SiLU, residual adds) is plain TypeScript here.
//
// Notation: T tokens in the step, D hidden, H heads, KV kv heads, hd head dim, F ffn, V vocab.
import type { ModelConfig } from '@anyprec/format';
import type { Backend, WeightDtype } from '../backends/backend.js';
import { PrecisionError, RuntimeArgumentError } from '../errors.js';
import { decodeHalfRow } from '../numeric.js';

/** Precision value meaning "the unquantized weights" (HF models only). */
export const FULL_PRECISION = 16;

export interface DenseLinear {
  kind: 'dense';
  name: string;
  rows: number;
  cols: number;
  weight: Float32Array | Uint16Array;
  dtype: WeightDtype;
  bias: Float32Array | null;
}

/** Any-Precision LLM layer: P bit-planes + one f16 LUT per served width (docs/architecture.md). */
export interface LutLinear {
  kind: 'lut';
  name: string;
  rows: number;
  cols: number;
  planes: Uint32Array;
  parentBits: number;
  luts: Map<number, Uint16Array>;
  bias: Float32Array | null;
}

/** AnyBCQ layer: P bit-planes + per-width f16 scales [rows, groups, b] and optional offsets. */
export interface BcqLinear {
  kind: 'bcq';
  name: string;
  rows: number;
  cols: number;
  planes: Uint32Array;
  parentBits: number;
  groupSize: number;
  scales: Map<number, Uint16Array>;
  offsets: Map<number, Uint16Array | null>;
  bias: Float32Array | null;
}

export type Linear = DenseLinear | LutLinear | BcqLinear;

export interface LlamaLayer {
  inputNorm: Float32Array; // [D]
  postAttentionNorm: Float32Array; // [D]
  q: Linear; // [H·hd, D]
  k: Linear; // [KV·hd, D]
  v: Linear; // [KV·hd, D]
  o: Linear; // [D, H·hd]
  gate: Linear; // [F, D]
  up: Linear; // [F, D]
  down: Linear; // [D, F]
}

export interface LlamaWeights {
  embed: Float32Array | Uint16Array; // [V, D]
  embedDtype: WeightDtype;
  layers: LlamaLayer[];
  norm: Float32Array; // [D]
  lmHead: Linear; // [V, D]; a view of `embed` when tied
}

export const LINEAR_KEYS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearKey = (typeof LINEAR_KEYS)[number];

/** HF module names of a layer's linears, e.g. `model.layers.3.mlp.down_proj`. */
export function linearName(layer: number, key: LinearKey): string {
  const module =
    key === 'gate' || key === 'up' || key === 'down' ? `mlp.${key}_proj` : `self_attn.${key}_proj`;
  return `model.layers.${layer}.${module}`;
}

/** Per-sequence key/value cache: per layer [capacity, KV, hd] f32, grown by doubling. */
export class KvCache {
  /** Tokens already in the cache (= absolute position of the next token). */
  length = 0;
  capacity: number;
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  private readonly stride: number;

  constructor(config: ModelConfig, capacity = 256) {
    this.capacity = Math.max(1, capacity);
    this.stride = config.numKvHeads * config.headDim;
    this.keys = Array.from({ length: config.numLayers }, () => new Float32Array(this.capacity * this.stride));
    this.values = Array.from(
      { length: config.numLayers },
      () => new Float32Array(this.capacity * this.stride),
    );
  }

  /** Makes room for `tokens` more positions (amortised O(1) per token: capacity doubles). */
  reserve(tokens: number): void {
    const needed = this.length + tokens;
    if (needed <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < needed) capacity *= 2;
    for (let l = 0; l < this.keys.length; l++) {
      const k = new Float32Array(capacity * this.stride);
      k.set(this.keys[l].subarray(0, this.length * this.stride));
      this.keys[l] = k;
      const v = new Float32Array(capacity * this.stride);
      v.set(this.values[l].subarray(0, this.length * this.stride));
      this.values[l] = v;
    }
    this.capacity = capacity;
  }

  /** Forgets the last tokens (e.g. to re-run from a shorter prefix). */
  truncate(length: number): void {
    this.length = Math.min(this.length, Math.max(0, length));
  }
}

/** One sequence's slice of a step: rows [row, row + tokens) of the activations. */
export interface Segment {
  cache: KvCache;
  row: number;
  tokens: number;
  precision: number;
}

/** Hooks for calibration (activation statistics, block inputs/outputs). Arrays are scratch: copy what you keep. */
export interface ForwardHooks {
  /** Input of a linear: x [tokens, cols]. q/k/v share one input, as do gate/up. */
  onLinearInput?: (name: string, x: Float32Array, tokens: number, cols: number) => void;
  /** Hidden state entering decoder layer `layer`: [tokens, D]. */
  onBlockInput?: (layer: number, hidden: Float32Array, tokens: number) => void;
  /** Hidden state leaving decoder layer `layer`: [tokens, D]. */
  onBlockOutput?: (layer: number, hidden: Float32Array, tokens: number) => void;
}

/** RoPE inverse frequencies (f32, as HF computes them), with Llama-3 / linear scaling. */
export function ropeInverseFrequencies(config: ModelConfig): Float32Array {
  const half = config.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = 1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / config.headDim));
  }
  const scaling = config.ropeScaling;
  if (scaling?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = inv[i] / scaling.factor;
  } else if (scaling?.type === 'llama3') {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between.
    const lowWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
    const highWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen < highWavelen) continue;
      if (wavelen > lowWavelen) {
        inv[i] = inv[i] / scaling.factor;
        continue;
      }
      const smooth =
        (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) /
        (scaling.highFreqFactor - scaling.lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / scaling.factor) + smooth * inv[i];
    }
  }
  return inv;
}

/** Growable scratch arena: one Float32Array per name, reused across calls. */
class Scratch {
  private buffers = new Map<string, Float32Array>();
  get(name: string, length: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < length) {
      b = new Float32Array(Math.max(length, (b?.length ?? 0) * 2));
      this.buffers.set(name, b);
    }
    return b.subarray(0, length);
  }
}

export class LlamaModel {
  readonly config: ModelConfig;
  readonly weights: LlamaWeights;
  backend: Backend;
  /** Served precisions: [16] for an HF model, the manifest's widths for a container. */
  readonly precisions: number[];
  private readonly invFreq: Float32Array;
  private cos = new Float32Array(0); // [positions, hd/2]
  private sin = new Float32Array(0);
  private ropePositions = 0;
  private readonly scratch = new Scratch();
  private readonly overridden = new Map<string, Linear>();

  constructor(config: ModelConfig, weights: LlamaWeights, backend: Backend, precisions: number[]) {
    this.config = config;
    this.weights = weights;
    this.backend = backend;
    this.precisions = precisions;
    this.invFreq = ropeInverseFrequencies(config);
  }

  /** Default precision: 16 for HF models, the highest served width for containers. */
  get defaultPrecision(): number {
    return this.precisions[this.precisions.length - 1];
  }

  newCache(capacity = 256): KvCache {
    return new KvCache(this.config, capacity);
  }

  checkPrecision(precision: number): void {
    if (!this.precisions.includes(precision)) {
      throw new PrecisionError(
        `precision ${precision} is not served by this model; served: ${this.precisions.join(', ')}`,
      );
    }
  }

  // ---------------------------------------------------------------- primitives

  /** cos/sin tables up to `positions` (f32 angles pos·invFreq, as HF). */
  ensureRope(positions: number): void {
    if (positions <= this.ropePositions) return;
    let n = Math.max(64, this.ropePositions);
    while (n < positions) n *= 2;
    const half = this.config.headDim / 2;
    const cos = new Float32Array(n * half);
    const sin = new Float32Array(n * half);
    for (let p = 0; p < n; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * this.invFreq[i]);
        cos[p * half + i] = Math.cos(angle);
        sin[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.ropePositions = n;
  }

  /**
   * Rotates `heads` heads of each of `tokens` rows in place (HF rotate_half convention);
   * `inverse` rotates back (the backward pass of RoPE). Call ensureRope first.
   */
  rope(x: Float32Array, row: number, tokens: number, heads: number, position: number, inverse = false): void {
    const hd = this.config.headDim;
    const half = hd / 2;
    const { cos, sin } = this;
    for (let t = 0; t < tokens; t++) {
      const table = (position + t) * half;
      for (let h = 0; h < heads; h++) {
        const o = ((row + t) * heads + h) * hd;
        for (let i = 0; i < half; i++) {
          const a = x[o + i];
          const b = x[o + i + half];
          const c = cos[table + i];
          const s = inverse ? -sin[table + i] : sin[table + i];
          x[o + i] = a * c - b * s;
          x[o + i + half] = b * c + a * s;
        }
      }
    }
  }

  /** out [T, rows] = x [T, cols] · Wᵀ (+ bias) at `precision` (ignored by dense layers). */
  linear(out: Float32Array, x: Float32Array, layer: Linear, tokens: number, precision: number): void {
    const b = this.backend;
    const { rows, cols } = layer;
    if (layer.kind === 'dense') {
      b.matmul(out, x, layer.weight, layer.dtype, tokens, rows, cols);
    } else if (layer.kind === 'lut') {
      const lut = layer.luts.get(precision);
      if (!lut)
        throw new PrecisionError(`${layer.name}: no lut${precision} (precision ${precision} not served)`);
      b.matmulLut(out, x, layer.planes, lut, tokens, rows, cols, precision);
    } else {
      const scales = layer.scales.get(precision);
      if (!scales)
        throw new PrecisionError(`${layer.name}: no scales${precision} (precision ${precision} not served)`);
      b.matmulBcq(
        out,
        x,
        layer.planes,
        scales,
        layer.offsets.get(precision) ?? null,
        tokens,
        rows,
        cols,
        precision,
        layer.groupSize,
      );
    }
    if (layer.bias) {
      const bias = layer.bias;
      for (let t = 0; t < tokens; t++) for (let r = 0; r < rows; r++) out[t * rows + r] += bias[r];
    }
  }

  /** Linear over all segments: one call when they share a precision, else one per precision. */
  private linearSegments(
    out: Float32Array,
    x: Float32Array,
    layer: Linear,
    segments: Segment[],
    hooks?: ForwardHooks,
  ): void {
    const n = segments[segments.length - 1].row + segments[segments.length - 1].tokens;
    hooks?.onLinearInput?.(layer.name, x, n, layer.cols);
    const first = segments[0].precision;
    if (layer.kind === 'dense' || segments.every((s) => s.precision === first)) {
      this.linear(out, x, layer, n, first);
      return;
    }
    for (const precision of new Set(segments.map((s) => s.precision))) {
      const group = segments.filter((s) => s.precision === precision);
      const tokens = group.reduce((sum, s) => sum + s.tokens, 0);
      const gx = this.scratch.get('group-x', tokens * layer.cols);
      const gy = this.scratch.get('group-y', tokens * layer.rows);
      let r = 0;
      for (const s of group) {
        gx.set(x.subarray(s.row * layer.cols, (s.row + s.tokens) * layer.cols), r * layer.cols);
        r += s.tokens;
      }
      this.linear(gy, gx, layer, tokens, precision);
      r = 0;
      for (const s of group) {
        out.set(gy.subarray(r * layer.rows, (r + s.tokens) * layer.rows), s.row * layer.rows);
        r += s.tokens;
      }
    }
  }

  /** x [T, D] ← embedding rows of `tokens`. */
  embed(
    tokens: ArrayLike<number>,
    out: Float32Array = new Float32Array(tokens.length * this.config.hiddenSize),
  ): Float32Array {
    const { vocabSize: V, hiddenSize: D } = this.config;
    const { embed, embedDtype } = this.weights;
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t];
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new RuntimeArgumentError(`token id ${id} at index ${t} is outside the vocabulary [0, ${V})`);
      if (embedDtype === 'f32') out.set((embed as Float32Array).subarray(id * D, (id + 1) * D), t * D);
      else decodeHalfRow(embed as Uint16Array, embedDtype, id * D, D, out.subarray(t * D, (t + 1) * D));
    }
    return out;
  }

  // ---------------------------------------------------------------- the decoder

  /** One decoder block over all segments, in place on x [N, D]; writes K/V at each cache's length. */
  runLayer(l: number, x: Float32Array, segments: Segment[], hooks?: ForwardHooks): void {
    const {
      hiddenSize: D,
      numHeads: H,
      numKvHeads: KV,
      headDim: hd,
      intermediateSize: F,
      rmsNormEps: eps,
    } = this.config;
    const layer = this.weights.layers[l];
    const last = segments[segments.length - 1];
    const N = last.row + last.tokens;
    const b = this.backend;
    hooks?.onBlockInput?.(l, x, N);

    // attention: h = norm(x); q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ; rope; cache; x += attn(q, K, V)·Woᵀ
    const h = this.scratch.get('h', N * D); // [N, D]
    b.rmsNorm(h, x, layer.inputNorm, N, D, eps);
    const q = this.scratch.get('q', N * H * hd); // [N, H, hd]
    const k = this.scratch.get('k', N * KV * hd); // [N, KV, hd]
    const v = this.scratch.get('v', N * KV * hd); // [N, KV, hd]
    this.linearSegments(q, h, layer.q, segments, hooks);
    this.linearSegments(k, h, layer.k, segments, hooks);
    this.linearSegments(v, h, layer.v, segments, hooks);
    const attn = this.scratch.get('attn', N * H * hd); // [N, H, hd]
    const kvStride = KV * hd;
    for (const s of segments) {
      const position = s.cache.length;
      this.rope(q, s.row, s.tokens, H, position);
      this.rope(k, s.row, s.tokens, KV, position);
      const kvLen = position + s.tokens;
      const keys = s.cache.keys[l];
      const values = s.cache.values[l];
      keys.set(k.subarray(s.row * kvStride, (s.row + s.tokens) * kvStride), position * kvStride);
      values.set(v.subarray(s.row * kvStride, (s.row + s.tokens) * kvStride), position * kvStride);
      const window = this.config.slidingWindow;
      if (window === null || kvLen <= window) {
        b.attention(
          attn.subarray(s.row * H * hd, (s.row + s.tokens) * H * hd),
          q.subarray(s.row * H * hd, (s.row + s.tokens) * H * hd),
          keys.subarray(0, kvLen * kvStride),
          values.subarray(0, kvLen * kvStride),
          s.tokens,
          kvLen,
          H,
          KV,
          hd,
          position,
          1 / Math.sqrt(hd),
        );
      } else {
        // Mistral sliding window (HF: key j visible from query i when i - window < j <= i):
        // one query at a time over its own window of the cache
        for (let t = 0; t < s.tokens; t++) {
          const p = position + t;
          const first = Math.max(0, p - window + 1);
          const row = (s.row + t) * H * hd;
          b.attention(
            attn.subarray(row, row + H * hd),
            q.subarray(row, row + H * hd),
            keys.subarray(first * kvStride, (p + 1) * kvStride),
            values.subarray(first * kvStride, (p + 1) * kvStride),
            1,
            p + 1 - first,
            H,
            KV,
            hd,
            p - first,
            1 / Math.sqrt(hd),
          );
        }
      }
    }
    const proj = this.scratch.get('proj', N * D); // [N, D]
    this.linearSegments(proj, attn, layer.o, segments, hooks);
    for (let i = 0; i < N * D; i++) x[i] += proj[i];

    // MLP: h = norm(x); x += (silu(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
    b.rmsNorm(h, x, layer.postAttentionNorm, N, D, eps);
    const gate = this.scratch.get('gate', N * F); // [N, F]
    const up = this.scratch.get('up', N * F); // [N, F]
    this.linearSegments(gate, h, layer.gate, segments, hooks);
    this.linearSegments(up, h, layer.up, segments, hooks);
    for (let i = 0; i < N * F; i++) {
      const g = gate[i];
      gate[i] = (g / (1 + Math.exp(-g))) * up[i];
    }
    this.linearSegments(proj, gate, layer.down, segments, hooks);
    for (let i = 0; i < N * D; i++) x[i] += proj[i];
    hooks?.onBlockOutput?.(l, x, N);
  }

  /**
   * Runs all layers on x [N, D] (the segments' embedded tokens), advances each cache, and
   * returns the logits [rows.length, V] of the requested activation rows (final norm + head
   * only on those rows).
   */
  private step(
    x: Float32Array,
    segments: Segment[],
    logitRows: number[],
    hooks?: ForwardHooks,
  ): Float32Array {
    const { hiddenSize: D, vocabSize: V, rmsNormEps: eps } = this.config;
    for (const s of segments) {
      s.cache.reserve(s.tokens);
    }
    this.ensureRope(Math.max(...segments.map((s) => s.cache.length + s.tokens)));
    for (let l = 0; l < this.config.numLayers; l++) this.runLayer(l, x, segments, hooks);
    for (const s of segments) s.cache.length += s.tokens;

    const n = logitRows.length;
    const logits = new Float32Array(n * V);
    if (n === 0) return logits;
    const hf = this.scratch.get('final', n * D); // [n, D]
    for (let i = 0; i < n; i++) hf.set(x.subarray(logitRows[i] * D, (logitRows[i] + 1) * D), i * D);
    this.backend.rmsNorm(hf, hf, this.weights.norm, n, D, eps);
    const head = this.weights.lmHead;
    this.linear(logits, hf, head, n, head.kind === 'dense' ? FULL_PRECISION : segments[0].precision);
    return logits;
  }

  /**
   * Forward pass of one sequence continuing `cache` (a fresh cache when omitted), in chunks of
   * `chunkTokens`. Returns logits [tokens, V] ('all'), [1, V] ('last') or empty ('none').
   */
  forward(
    tokens: ArrayLike<number>,
    options: {
      cache?: KvCache;
      precision?: number;
      logits?: 'all' | 'last' | 'none';
      chunkTokens?: number;
    } & ForwardHooks = {},
  ): Float32Array {
    const precision = options.precision ?? this.defaultPrecision;
    this.checkPrecision(precision);
    const cache = options.cache ?? this.newCache(tokens.length);
    const mode = options.logits ?? 'last';
    const chunk = Math.max(1, options.chunkTokens ?? 512);
    const { vocabSize: V, hiddenSize: D } = this.config;
    const total = tokens.length;
    if (total === 0) throw new RuntimeArgumentError('forward: `tokens` is empty');
    // one chunk returns step()'s logits as they are; several fill `out`
    const out = new Float32Array(total <= chunk ? 0 : (mode === 'all' ? total : mode === 'last' ? 1 : 0) * V);
    cache.reserve(total);
    for (let start = 0; start < total; start += chunk) {
      const n = Math.min(chunk, total - start);
      const x = this.embed(
        Array.prototype.slice.call(tokens, start, start + n),
        this.scratch.get('x', n * D),
      );
      const rows =
        mode === 'all'
          ? Array.from({ length: n }, (_, i) => i)
          : mode === 'last' && start + n === total
            ? [n - 1]
            : [];
      const logits = this.step(x, [{ cache, row: 0, tokens: n, precision }], rows, options);
      if (n === total) return logits;
      if (mode === 'all') out.set(logits, start * V);
      else if (rows.length) out.set(logits);
    }
    return out;
  }

  /**
   * One decode step for several sequences at once: sequence i appends `tokens[i]` to its
   * cache at its own precision. Returns logits [n, V].
   */
  decodeBatch(batch: { token: number; cache: KvCache; precision?: number }[]): Float32Array {
    const D = this.config.hiddenSize;
    const segments: Segment[] = batch.map((item, i) => {
      const precision = item.precision ?? this.defaultPrecision;
      this.checkPrecision(precision);
      return { cache: item.cache, row: i, tokens: 1, precision };
    });
    if (new Set(batch.map((b) => b.cache)).size !== batch.length)
      throw new RuntimeArgumentError('decodeBatch: a cache appears twice in one batch');
    const x = this.embed(
      batch.map((b) => b.token),
      this.scratch.get('x', batch.length * D),
    );
    return this.step(
      x,
      segments,
      segments.map((s) => s.row),
    );
  }

  // ---------------------------------------------------------------- calibration helpers

  /** Finds a linear by HF base name (`model.layers.0.self_attn.q_proj`, `lm_head`). */
  findLinear(name: string): { layer: number; key: LinearKey | 'lmHead' } {
    if (name === 'lm_head' || name === this.weights.lmHead.name) return { layer: -1, key: 'lmHead' };
    const m = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj$/.exec(name);
    if (!m || Number(m[1]) >= this.config.numLayers)
      throw new RuntimeArgumentError(`no linear layer named "${name}"`);
    return { layer: Number(m[1]), key: m[3] as LinearKey };
  }

  getLinear(name: string): Linear {
    const { layer, key } = this.findLinear(name);
    return key === 'lmHead' ? this.weights.lmHead : this.weights.layers[layer][key];
  }

  /** Names of every decoder linear, layer by layer in q, k, v, o, gate, up, down order. */
  linearNames(): string[] {
    const names: string[] = [];
    for (let l = 0; l < this.config.numLayers; l++)
      for (const key of LINEAR_KEYS) names.push(linearName(l, key));
    return names;
  }

  /**
   * Replaces a linear's weight by dense f32 [rows, cols] in memory (bias kept); `null`
   * restores the original. For quality experiments and block reconstruction.
   */
  setLinearWeights(name: string, weight: Float32Array | null): void {
    const { layer, key } = this.findLinear(name);
    const current = this.getLinear(name);
    const original = this.overridden.get(name) ?? current;
    let next: Linear;
    if (weight === null) {
      next = original;
      this.overridden.delete(name);
    } else {
      if (weight.length !== current.rows * current.cols) {
        throw new RuntimeArgumentError(
          `setLinearWeights(${name}): expected ${current.rows}×${current.cols} = ${current.rows * current.cols} values, got ${weight.length}`,
        );
      }
      this.overridden.set(name, original);
      next = {
        kind: 'dense',
        name,
        rows: current.rows,
        cols: current.cols,
        weight,
        dtype: 'f32',
        bias: current.bias,
      };
    }
    if (key === 'lmHead') this.weights.lmHead = next;
    else this.weights.layers[layer][key] = next;
  }

  /** Dense f32 copy [rows, cols] of a linear's weight at `precision` (dequantized for containers). */
  linearWeightF32(name: string, precision = this.defaultPrecision): Float32Array {
    const layer = this.getLinear(name);
    const out = new Float32Array(layer.rows * layer.cols);
    if (layer.kind === 'dense') {
      if (layer.dtype === 'f32') out.set(layer.weight as Float32Array);
      else decodeHalfRow(layer.weight as Uint16Array, layer.dtype, 0, out.length, out);
    } else if (layer.kind === 'lut') {
      const lut = layer.luts.get(precision);
      if (!lut) throw new PrecisionError(`${name}: precision ${precision} not served`);
      this.backend.dequantLut(out, layer.planes, lut, layer.rows, layer.cols, precision);
    } else {
      const scales = layer.scales.get(precision);
      if (!scales) throw new PrecisionError(`${name}: precision ${precision} not served`);
      this.backend.dequantBcq(
        out,
        layer.planes,
        scales,
        layer.offsets.get(precision) ?? null,
        layer.rows,
        layer.cols,
        precision,
        layer.groupSize,
      );
    }
    return out;
  }

  /**
   * Runs decoder block `layer` alone on hidden [tokens, D] (positions 0..tokens-1, fresh
   * cache), optionally with some of its linears replaced by dense f32 weights (keyed by HF
   * name). Returns the block output [tokens, D]; the model is left unchanged.
   */
  runBlock(
    layer: number,
    hidden: Float32Array,
    tokens: number,
    options: { precision?: number; linearWeights?: Map<string, Float32Array> } = {},
  ): Float32Array {
    const D = this.config.hiddenSize;
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.numLayers)
      throw new RuntimeArgumentError(`runBlock: layer ${layer} out of range`);
    if (hidden.length !== tokens * D)
      throw new RuntimeArgumentError(
        `runBlock: hidden has ${hidden.length} values, expected tokens·D = ${tokens * D}`,
      );
    const precision = options.precision ?? this.defaultPrecision;
    this.checkPrecision(precision);
    const saved = new Map<LinearKey, Linear>();
    const block = this.weights.layers[layer];
    try {
      for (const [name, weight] of options.linearWeights ?? []) {
        const { layer: l, key } = this.findLinear(name);
        if (l !== layer || key === 'lmHead')
          throw new RuntimeArgumentError(`runBlock(${layer}): ${name} is not a linear of this block`);
        const current = block[key];
        if (weight.length !== current.rows * current.cols)
          throw new RuntimeArgumentError(
            `runBlock: ${name} expects ${current.rows * current.cols} values, got ${weight.length}`,
          );
        if (!saved.has(key)) saved.set(key, current);
        block[key] = {
          kind: 'dense',
          name,
          rows: current.rows,
          cols: current.cols,
          weight,
          dtype: 'f32',
          bias: current.bias,
        };
      }
      const x = hidden.slice();
      const cache = new KvCache(this.config, tokens);
      cache.reserve(tokens);
      this.ensureRope(tokens);
      this.runLayer(layer, x, [{ cache, row: 0, tokens, precision }]);
      return x;
    } finally {
      for (const [key, linear] of saved) block[key] = linear;
    }
  }
}

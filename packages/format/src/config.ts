// Normalizes Hugging Face config.json for the Llama, Mistral and Qwen2 families into one
// camelCase shape the runtime consumes. Both config generations are accepted: the older
// (`rope_theta`, `rope_scaling`, `torch_dtype`) and the newer transformers v5 form
// (`rope_parameters`, `dtype`). Anything that would change the math and that the runtime
// does not implement is rejected with an error naming the field, never silently ignored.
import { UnsupportedConfigError } from './errors.js';

/** RoPE frequency scaling the runtime implements. */
export type RopeScaling =
  | null
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | { type: 'linear'; factor: number };

/** The model families anyprec runs. */
export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';

/** Normalized model configuration (see {@link parseModelConfig}). */
export interface ModelConfig {
  architecture: Architecture;
  /** HF `model_type`: 'llama' | 'mistral' | 'qwen2'. */
  modelType: 'llama' | 'mistral' | 'qwen2';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (o_proj never has one in these families). Qwen2: always true. */
  attentionBias: boolean;
  /** Bias on gate/up/down projections. */
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Storage dtype of the checkpoint as config.json names it. */
  dtype: 'float32' | 'float16' | 'bfloat16';
  /** Sliding-window attention size (Mistral), or null for full attention. */
  slidingWindow: number | null;
}

const FAMILIES: Record<string, { arch: Architecture; type: ModelConfig['modelType'] }> = {
  llama: { arch: 'LlamaForCausalLM', type: 'llama' },
  mistral: { arch: 'MistralForCausalLM', type: 'mistral' },
  qwen2: { arch: 'Qwen2ForCausalLM', type: 'qwen2' },
};

type Json = Record<string, unknown>;

/**
 * Parses and validates a config.json object (already JSON-parsed) into a {@link ModelConfig}.
 * `source` names the file in errors. Throws {@link UnsupportedConfigError} naming the field
 * for an unsupported architecture, activation, RoPE type, or a missing/invalid field.
 */
export function parseModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  const fail = (field: string, message: string): never => {
    throw new UnsupportedConfigError(source, field, message);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    fail('(root)', 'config must be a JSON object');
  const c = json as Json;

  const has = (k: string) => c[k] !== undefined && c[k] !== null;
  const int = (k: string, min = 1, fallback?: number): number => {
    const v = c[k];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      return fail(k, 'is required');
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
      fail(k, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (v: unknown, k: string, positive = true): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0))
      fail(k, `must be a ${positive ? 'positive ' : ''}number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (k: string, fallback: boolean): boolean => {
    const v = c[k];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') fail(k, `must be a boolean, got ${JSON.stringify(v)}`);
    return v as boolean;
  };

  // family: model_type decides; architectures (if present) must agree
  const modelType = c.model_type;
  if (typeof modelType !== 'string') fail('model_type', 'is required (llama, mistral or qwen2)');
  const family = FAMILIES[modelType as string];
  if (!family) fail('model_type', `"${modelType}" is not supported; anyprec runs llama, mistral and qwen2`);
  if (has('architectures')) {
    const archs = c.architectures;
    if (!Array.isArray(archs) || archs.length !== 1 || archs[0] !== family.arch) {
      fail(
        'architectures',
        `expected ["${family.arch}"] for model_type "${modelType}", got ${JSON.stringify(archs)}`,
      );
    }
  }

  const act = c.hidden_act ?? c.hidden_activation ?? 'silu';
  if (act !== 'silu') fail('hidden_act', `"${act}" is not supported (only silu)`);

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', 1, numHeads);
  if (numHeads % numKvHeads !== 0)
    fail('num_key_value_heads', `${numKvHeads} must divide num_attention_heads ${numHeads}`);
  const defaultHeadDim = hiddenSize % numHeads === 0 ? hiddenSize / numHeads : undefined;
  const headDim = int('head_dim', 1, defaultHeadDim);
  if (headDim % 2 !== 0) fail('head_dim', `${headDim} must be even for rotary embeddings`);

  // RoPE: newer configs put theta and scaling together in rope_parameters
  let ropeTheta: number;
  let scalingRaw: Json | null = null;
  if (has('rope_parameters')) {
    const rp = c.rope_parameters;
    if (typeof rp !== 'object' || rp === null || Array.isArray(rp))
      return fail('rope_parameters', 'must be an object');
    const p = rp as Json;
    if ('full_attention' in p || 'sliding_attention' in p)
      fail('rope_parameters', 'per-layer-type RoPE parameters are not supported');
    ropeTheta = num(p.rope_theta ?? c.rope_theta ?? 10000, 'rope_parameters.rope_theta');
    const t = p.rope_type ?? p.type ?? 'default';
    scalingRaw = t === 'default' ? null : p;
  } else {
    ropeTheta = num(c.rope_theta ?? 10000, 'rope_theta');
    if (has('rope_scaling')) {
      const rs = c.rope_scaling;
      if (typeof rs !== 'object' || Array.isArray(rs)) fail('rope_scaling', 'must be an object or null');
      const t = (rs as Json).rope_type ?? (rs as Json).type ?? 'default';
      scalingRaw = t === 'default' ? null : (rs as Json);
    }
  }
  const field = has('rope_parameters') ? 'rope_parameters' : 'rope_scaling';
  let ropeScaling: RopeScaling = null;
  if (scalingRaw) {
    const t = scalingRaw.rope_type ?? scalingRaw.type;
    if (t === 'llama3') {
      ropeScaling = {
        type: 'llama3',
        factor: num(scalingRaw.factor, `${field}.factor`),
        lowFreqFactor: num(scalingRaw.low_freq_factor, `${field}.low_freq_factor`),
        highFreqFactor: num(scalingRaw.high_freq_factor, `${field}.high_freq_factor`),
        originalMaxPositionEmbeddings: num(
          scalingRaw.original_max_position_embeddings,
          `${field}.original_max_position_embeddings`,
        ),
      };
      if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) {
        fail(`${field}.high_freq_factor`, 'must be greater than low_freq_factor');
      }
    } else if (t === 'linear') {
      ropeScaling = { type: 'linear', factor: num(scalingRaw.factor, `${field}.factor`) };
    } else {
      fail(`${field}.rope_type`, `"${t}" is not supported (default, linear, llama3)`);
    }
  }

  // sliding window: Mistral uses it directly; Qwen2 only when use_sliding_window is set,
  // and then per layer (max_window_layers), which the runtime does not implement
  let slidingWindow: number | null = null;
  if (family.type === 'qwen2') {
    if (c.use_sliding_window === true)
      fail('use_sliding_window', 'per-layer sliding-window attention (Qwen2) is not supported');
  } else if (has('sliding_window')) {
    slidingWindow = int('sliding_window');
  }

  const dtypeRaw = c.dtype ?? c.torch_dtype ?? 'float32';
  if (dtypeRaw !== 'float32' && dtypeRaw !== 'float16' && dtypeRaw !== 'bfloat16') {
    fail(
      c.dtype !== undefined ? 'dtype' : 'torch_dtype',
      `"${dtypeRaw}" is not supported (float32, float16, bfloat16)`,
    );
  }

  let eosTokenIds: number[] = [];
  const eos = c.eos_token_id;
  if (typeof eos === 'number') eosTokenIds = [eos];
  else if (Array.isArray(eos)) eosTokenIds = eos.slice();
  else if (eos !== undefined && eos !== null)
    fail('eos_token_id', 'must be an integer or a list of integers');
  if (!eosTokenIds.every((t) => Number.isSafeInteger(t) && t >= 0))
    fail('eos_token_id', 'must hold non-negative integers');
  const bos = c.bos_token_id;
  if (
    bos !== undefined &&
    bos !== null &&
    (typeof bos !== 'number' || !Number.isSafeInteger(bos) || bos < 0)
  ) {
    fail('bos_token_id', 'must be a non-negative integer or null');
  }

  return {
    architecture: family.arch,
    modelType: family.type,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(c.rms_norm_eps ?? 1e-6, 'rms_norm_eps'),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: int('max_position_embeddings', 1, 2048),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    attentionBias: family.type === 'qwen2' ? true : bool('attention_bias', false),
    mlpBias: family.type === 'qwen2' ? false : bool('mlp_bias', false),
    bosTokenId: typeof bos === 'number' ? bos : null,
    eosTokenIds,
    dtype: dtypeRaw as ModelConfig['dtype'],
    slidingWindow,
  };
}

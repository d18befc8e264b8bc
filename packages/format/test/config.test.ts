// parseModelConfig on real-world config shapes (values as published on the Hub for
// Llama-3.1-8B, Mistral-7B-v0.1, Qwen2-0.5B and a transformers v5 style config).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, UnsupportedConfigError } from '../src/index.js';

/** ../shared (models and data beside the checkout) exists in CI and on dev machines, not in every fresh clone. */
const HAS_SHARED = existsSync(new URL('../../../../shared/models/small/model.safetensors', import.meta.url));

const llama31 = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 128256,
};

const mistral = {
  architectures: ['MistralForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 32000,
};

const qwen2 = {
  architectures: ['Qwen2ForCausalLM'],
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 131072,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_sliding_window: false,
  vocab_size: 151936,
};

describe('parseModelConfig', () => {
  it.skipIf(!HAS_SHARED)('shared small model (older Llama form; skipped without ../shared)', () => {
    const raw = JSON.parse(
      readFileSync(new URL('../../../../shared/models/small/config.json', import.meta.url), 'utf8'),
    );
    expect(parseModelConfig(raw)).toEqual({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      vocabSize: 8192,
      hiddenSize: 512,
      intermediateSize: 1408,
      numLayers: 8,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: true,
      attentionBias: false,
      mlpBias: false,
      bosTokenId: 0,
      eosTokenIds: [1],
      dtype: 'bfloat16',
      slidingWindow: null,
    });
  });

  it('Llama 3.1: llama3 rope scaling, eos list, head_dim derived', () => {
    const c = parseModelConfig(llama31);
    expect(c.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(c.ropeTheta).toBe(500000);
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.headDim).toBe(128);
    expect(c.tieWordEmbeddings).toBe(false);
  });

  it('newer form: rope_parameters and dtype give the same result as the older form', () => {
    const { rope_scaling, rope_theta, torch_dtype, ...rest } = llama31;
    const v5 = { ...rest, dtype: 'bfloat16', rope_parameters: { ...rope_scaling, rope_theta } };
    expect(parseModelConfig(v5)).toEqual(parseModelConfig(llama31));
    const plain = { ...rest, dtype: 'float16', rope_parameters: { rope_type: 'default', rope_theta: 1e6 } };
    expect(parseModelConfig(plain)).toMatchObject({ ropeTheta: 1e6, ropeScaling: null, dtype: 'float16' });
    const linear = { ...rest, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 1e4 } };
    expect(parseModelConfig(linear).ropeScaling).toEqual({ type: 'linear', factor: 2 });
  });

  it('Mistral keeps its sliding window; Qwen2 has q/k/v bias', () => {
    expect(parseModelConfig(mistral)).toMatchObject({
      architecture: 'MistralForCausalLM',
      slidingWindow: 4096,
      attentionBias: false,
    });
    expect(parseModelConfig({ ...mistral, sliding_window: null }).slidingWindow).toBeNull();
    expect(parseModelConfig(qwen2)).toMatchObject({
      architecture: 'Qwen2ForCausalLM',
      modelType: 'qwen2',
      attentionBias: true,
      mlpBias: false,
      slidingWindow: null,
      headDim: 64,
      numKvHeads: 2,
      tieWordEmbeddings: true,
      eosTokenIds: [151643],
    });
  });

  const rejects = (config: unknown, field: string, message: RegExp) => {
    let err: unknown;
    try {
      parseModelConfig(config, 'x/config.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedConfigError);
    expect((err as UnsupportedConfigError).field).toBe(field);
    expect((err as Error).message).toMatch(/^x\/config\.json: /);
    expect((err as Error).message).toMatch(message);
  };

  it('rejects unsupported architectures and options, naming the field', () => {
    rejects({ ...llama31, model_type: 'gemma2' }, 'model_type', /"gemma2" is not supported/);
    rejects(
      { ...llama31, architectures: ['LlamaForSequenceClassification'] },
      'architectures',
      /expected \["LlamaForCausalLM"\]/,
    );
    rejects({ ...llama31, hidden_act: 'gelu' }, 'hidden_act', /"gelu" is not supported/);
    rejects(
      { ...llama31, rope_scaling: { rope_type: 'yarn', factor: 4 } },
      'rope_scaling.rope_type',
      /"yarn" is not supported/,
    );
    rejects(
      { ...llama31, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      'rope_scaling.low_freq_factor',
      /must be a positive number/,
    );
    rejects({ ...qwen2, use_sliding_window: true }, 'use_sliding_window', /not supported/);
    rejects({ ...llama31, torch_dtype: 'float8_e4m3fn' }, 'torch_dtype', /not supported/);
    rejects({ ...llama31, num_key_value_heads: 5 }, 'num_key_value_heads', /must divide/);
    rejects({ ...llama31, hidden_size: undefined }, 'hidden_size', /is required/);
    rejects({ ...llama31, vocab_size: 1.5 }, 'vocab_size', /must be an integer/);
    rejects({ ...llama31, eos_token_id: 'x' }, 'eos_token_id', /integer or a list/);
    rejects([], '(root)', /must be a JSON object/);
    rejects(
      { ...llama31, rope_parameters: { full_attention: {}, sliding_attention: {} } },
      'rope_parameters',
      /per-layer-type/,
    );
  });
});

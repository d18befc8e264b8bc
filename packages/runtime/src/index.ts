// @anyprec/runtime: Llama-family executor for HF models and anyprec containers.

export type { Backend, WeightDtype } from './backends/backend.js';
export { CpuBackend, nativeUnavailableReason } from './backends/cpu.js';
export { TsBackend } from './backends/ts.js';
export * from './errors.js';
export {
  type FinishReason,
  type GeneratedToken,
  type GenerateOptions,
  type GenerationResult,
  generate,
  promptIds,
} from './generate.js';
export { type FisherOptions, fisherDiagonal, sequenceGradients } from './gradients.js';
export { type BackendName, createBackend, type LoadOptions, loadModel } from './load.js';
export { Model, type ModelInfo } from './model.js';
export {
  type BcqLinear,
  type DenseLinear,
  type ForwardHooks,
  FULL_PRECISION,
  KvCache,
  LINEAR_KEYS,
  type Linear,
  type LinearKey,
  LlamaModel,
  type LlamaWeights,
  type LutLinear,
  linearName,
} from './models/llama.js';
export {
  buildEvalStream,
  crossEntropy,
  type PerplexityOptions,
  type PerplexityResult,
  PROTOCOL_TOKENS,
  perplexity,
} from './perplexity.js';
export { argmax, type SamplingOptions, sampleToken, seededRandom } from './sampling.js';
export { type ChatMessage, TextTokenizer } from './tokenizer.js';

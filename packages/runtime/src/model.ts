// The loaded model users hold: the family executor plus tokenizer, generation and perplexity.
import type { ContainerManifest, ModelConfig } from '@anyprec/format';
import type { Backend } from './backends/backend.js';
import { type GeneratedToken, type GenerateOptions, type GenerationResult, generate } from './generate.js';
import { LlamaModel, type LlamaWeights } from './models/llama.js';
import { type PerplexityOptions, type PerplexityResult, perplexity } from './perplexity.js';
import type { ChatMessage, TextTokenizer } from './tokenizer.js';

export interface ModelInfo {
  path: string;
  tokenizer: TextTokenizer;
  manifest: ContainerManifest | null;
  generationConfig: Record<string, unknown> | null;
}

export class Model extends LlamaModel {
  readonly path: string;
  readonly tokenizer: TextTokenizer;
  /** Container manifest, or null for an HF model. */
  readonly manifest: ContainerManifest | null;
  readonly generationConfig: Record<string, unknown> | null;

  constructor(
    config: ModelConfig,
    weights: LlamaWeights,
    backend: Backend,
    precisions: number[],
    info: ModelInfo,
  ) {
    super(config, weights, backend, precisions);
    this.path = info.path;
    this.tokenizer = info.tokenizer;
    this.manifest = info.manifest;
    this.generationConfig = info.generationConfig;
  }

  /** EOS ids from config.json, generation_config.json and the tokenizer. */
  get eosTokenIds(): number[] {
    const fromGeneration = this.generationConfig?.eos_token_id;
    const extra =
      typeof fromGeneration === 'number'
        ? [fromGeneration]
        : Array.isArray(fromGeneration)
          ? (fromGeneration as number[])
          : [];
    return [...new Set([...this.config.eosTokenIds, ...extra, ...this.tokenizer.eosTokenIds])];
  }

  /** Streams generated tokens (see GenerateOptions); `for await (const t of model.generate(...))`. */
  generate(
    prompt: string | number[] | ChatMessage[],
    options: GenerateOptions = {},
  ): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
    return generate(this, prompt, options);
  }

  /** Runs generation to the end and returns the whole result. */
  async generateText(
    prompt: string | number[] | ChatMessage[],
    options: GenerateOptions = {},
  ): Promise<GenerationResult> {
    const iterator = generate(this, prompt, options);
    for (;;) {
      const next = await iterator.next();
      if (next.done) return next.value;
    }
  }

  perplexity(tokens: ArrayLike<number>, options: PerplexityOptions = {}): Promise<PerplexityResult> {
    return perplexity(this, tokens, options);
  }
}

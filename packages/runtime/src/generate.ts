// Token-by-token generation: prefill the prompt, then decode one token per step, streaming
// each token (with its newly completed text) through an async iterator.
import { RuntimeArgumentError } from './errors.js';
import type { Model } from './model.js';
import { type SamplingOptions, sampleToken, seededRandom } from './sampling.js';
import type { ChatMessage } from './tokenizer.js';

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 128). */
  maxTokens?: number;
  /** Served precision (default: the model's default). */
  precision?: number;
  /** RNG seed for sampling (default: random). */
  seed?: number;
  /** Stop when the text contains one of these; the stop string is not emitted. */
  stop?: string[];
  /** Stop on these token ids (in addition to the model's EOS ids; not emitted). */
  stopTokenIds?: number[];
  /** Prepend BOS to a string prompt (default: true when the model has a BOS token). */
  addBos?: boolean;
  /** Abort generation: the iterator throws the signal's reason (an AbortError by default). */
  signal?: AbortSignal;
  /** Prefill chunk size (default 512). */
  chunkTokens?: number;
}

export interface GeneratedToken {
  /** Token id. */
  id: number;
  /**
   * Text this token completes (may be '' while a multi-byte character or stop-string prefix
   * is pending). An EOS/stop id is yielded only to flush such pending text at the end.
   */
  text: string;
}

export type FinishReason = 'eos' | 'stop' | 'length';

export interface GenerationResult {
  ids: number[];
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
}

/** Incremental detokenizer: emits only text that later tokens cannot change. */
class TextStream {
  private prefixOffset = 0;
  private readOffset = 0;
  constructor(private readonly decode: (ids: number[]) => string) {}

  push(ids: number[]): string {
    const prefix = this.decode(ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(ids.slice(this.prefixOffset));
    if (text.length > prefix.length && !text.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = ids.length;
      return text.slice(prefix.length);
    }
    return '';
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('generation aborted'), { name: 'AbortError' });
}

/** Prompt ids: a string is encoded (BOS first unless addBos false), chat messages use the chat template. */
export function promptIds(
  model: Model,
  prompt: string | number[] | ChatMessage[],
  addBos?: boolean,
): number[] {
  if (typeof prompt === 'string') {
    const bos = model.tokenizer.bosTokenId;
    const ids = model.tokenizer.encode(prompt);
    return (addBos ?? true) && bos !== null ? [bos, ...ids] : ids;
  }
  if (prompt.length > 0 && typeof prompt[0] === 'object')
    return model.tokenizer.applyChatTemplate(prompt as ChatMessage[]);
  return (prompt as number[]).slice();
}

/** Streams generated tokens; the iterator's return value is the whole result. */
export async function* generate(
  model: Model,
  prompt: string | number[] | ChatMessage[],
  options: GenerateOptions = {},
): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
  const { signal } = options;
  const maxTokens = options.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 0)
    throw new RuntimeArgumentError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  const input = promptIds(model, prompt, options.addBos);
  if (input.length === 0) throw new RuntimeArgumentError('prompt is empty (no tokens)');
  const precision = options.precision ?? model.defaultPrecision;
  model.checkPrecision(precision);
  const stopIds = new Set([...model.eosTokenIds, ...(options.stopTokenIds ?? [])]);
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const sampling: GenerateOptions = { ...options };
  const context = input.slice();
  const generated: number[] = [];
  const stream = new TextStream((ids) => model.tokenizer.decode(ids));
  let text = ''; // decoded text so far
  let emitted = 0; // characters of `text` already yielded

  if (signal?.aborted) throw abortError(signal);
  const cache = model.newCache(input.length + Math.min(maxTokens, 1024)); // grows by doubling
  let logits = model.forward(input, { cache, precision, logits: 'last', chunkTokens: options.chunkTokens });
  let finishReason: FinishReason = 'length';
  for (let step = 0; step < maxTokens; step++) {
    const id = sampleToken(logits, sampling, context, random);
    if (stopIds.has(id)) {
      finishReason = 'eos';
      // flush text held back for a stop string that never completed
      if (emitted < text.length) yield { id, text: text.slice(emitted) };
      break;
    }
    generated.push(id);
    context.push(id);
    text += stream.push(generated);
    // hold back any tail that could still grow into a stop string
    let stopAt = -1;
    for (const s of stops) {
      const at = text.indexOf(s, Math.max(0, emitted - s.length + 1));
      if (at !== -1 && (stopAt === -1 || at < stopAt)) stopAt = at;
    }
    let safe = text.length;
    if (stopAt !== -1) safe = stopAt;
    else if (step + 1 < maxTokens) {
      for (const s of stops) {
        for (let k = Math.min(s.length - 1, text.length); k > 0; k--) {
          if (text.endsWith(s.slice(0, k))) {
            safe = Math.min(safe, text.length - k);
            break;
          }
        }
      }
    }
    const piece = text.slice(emitted, Math.max(emitted, safe));
    emitted = Math.max(emitted, safe);
    yield { id, text: piece };
    if (stopAt !== -1) {
      text = text.slice(0, stopAt);
      finishReason = 'stop';
      break;
    }
    if (step + 1 === maxTokens) break;
    // let consumers (servers, AbortSignal listeners) run between tokens
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw abortError(signal);
    logits = model.decodeBatch([{ token: id, cache, precision }]);
  }
  if (finishReason !== 'stop') text = model.tokenizer.decode(generated);
  return { ids: generated, text, finishReason, promptTokens: input.length };
}

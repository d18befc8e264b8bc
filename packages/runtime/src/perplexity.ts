// Perplexity per the protocol of ../shared/models/README.md: token stream = for each JSONL
// document BOS, its ids (no special tokens), EOS; first N tokens; windows of windowTokens + 1
// tokens starting at every multiple of windowTokens, each predicting its last windowTokens
// tokens; ppl = exp(mean cross-entropy).
import { readFile } from 'node:fs/promises';
import { RuntimeArgumentError } from './errors.js';
import type { Model } from './model.js';
import type { TextTokenizer } from './tokenizer.js';

export const PROTOCOL_TOKENS = 262_144;

/**
 * The protocol's token stream from a JSONL file (field `text`, file order), truncated to
 * `maxTokens` (fewer if the file runs out).
 */
export async function buildEvalStream(
  path: string,
  tokenizer: TextTokenizer,
  maxTokens = PROTOCOL_TOKENS,
): Promise<Int32Array> {
  const bos = tokenizer.bosTokenId;
  const eos = tokenizer.eosTokenIds[0];
  if (bos === null || eos === undefined)
    throw new RuntimeArgumentError('buildEvalStream: the tokenizer has no BOS/EOS token');
  const out = new Int32Array(maxTokens);
  let n = 0;
  const lines = (await readFile(path, 'utf8')).split('\n');
  for (let i = 0; i < lines.length && n < maxTokens; i++) {
    if (!lines[i].trim()) continue;
    let doc: { text?: unknown };
    try {
      doc = JSON.parse(lines[i]);
    } catch (err) {
      throw new RuntimeArgumentError(`${path}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (typeof doc.text !== 'string')
      throw new RuntimeArgumentError(`${path}:${i + 1}: no string field "text"`);
    for (const id of [bos, ...tokenizer.encode(doc.text), eos]) {
      if (n === maxTokens) break;
      out[n++] = id;
    }
  }
  return out.subarray(0, n);
}

export interface PerplexityOptions {
  windowTokens?: number;
  precision?: number;
  /** Called after each window with (windows done, windows total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  ppl: number;
  /** Mean cross-entropy (nats per predicted token). */
  nll: number;
  predictions: number;
  windows: number;
  precision: number;
  seconds: number;
}

/** log Σ exp(row) - row[target], in double precision. */
export function crossEntropy(logits: Float32Array, offset: number, vocab: number, target: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < vocab; i++) if (logits[offset + i] > max) max = logits[offset + i];
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[offset + i] - max);
  return Math.log(sum) + max - logits[offset + target];
}

export async function perplexity(
  model: Model,
  tokens: ArrayLike<number>,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const window = options.windowTokens ?? 512;
  const precision = options.precision ?? model.defaultPrecision;
  model.checkPrecision(precision);
  const windows = Math.floor((tokens.length - 1) / window);
  if (windows < 1)
    throw new RuntimeArgumentError(
      `perplexity: ${tokens.length} tokens is less than one window of ${window + 1}`,
    );
  const V = model.config.vocabSize;
  const started = performance.now();
  let total = 0;
  const cache = model.newCache(window);
  for (let w = 0; w < windows; w++) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const start = w * window;
    const input = Array.prototype.slice.call(tokens, start, start + window) as number[];
    cache.truncate(0);
    const logits = model.forward(input, { cache, precision, logits: 'all', chunkTokens: window });
    for (let t = 0; t < window; t++) total += crossEntropy(logits, t * V, V, tokens[start + t + 1]);
    options.onProgress?.(w + 1, windows);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const predictions = windows * window;
  const nll = total / predictions;
  return {
    ppl: Math.exp(nll),
    nll,
    predictions,
    windows,
    precision,
    seconds: (performance.now() - started) / 1000,
  };
}

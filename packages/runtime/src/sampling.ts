// Next-token selection: HF-style logits processors (repetition penalty, then temperature,
// top-k, top-p, min-p) and a seeded RNG so that a given seed reproduces a run.

export interface SamplingOptions {
  /** 0 (or undefined with no other sampling option) = greedy argmax. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set whose probability mass reaches p (1 = off). */
  topP?: number;
  /** Drop tokens whose probability is below minP × the top probability (0 = off). */
  minP?: number;
  /** CTRL-style penalty on tokens already in the context (1 = off): logit/θ if > 0, else logit·θ. */
  repetitionPenalty?: number;
}

/** mulberry32: a small, fast 32-bit seeded PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest value (first one on ties, like torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let max = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] > max) {
      max = values[i];
      best = i;
    }
  }
  return best;
}

/** Applies the repetition penalty in place to the logits of tokens seen in `context`. */
export function applyRepetitionPenalty(
  logits: Float32Array,
  context: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of new Set(context)) {
    const l = logits[id];
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

/**
 * Picks the next token from logits [V]. `context` = prompt + generated ids (for the
 * repetition penalty); `random` draws from [0, 1).
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  context: Iterable<number>,
  random: () => number,
): number {
  const penalty = options.repetitionPenalty ?? 1;
  if (penalty !== 1) {
    logits = logits.slice();
    applyRepetitionPenalty(logits, context, penalty);
  }
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) return argmax(logits);

  // candidates sorted by logit, descending (top-k first narrows the sort)
  const V = logits.length;
  const topK = options.topK && options.topK > 0 ? Math.min(options.topK, V) : V;
  let ids = Array.from({ length: V }, (_, i) => i);
  ids.sort((a, b) => logits[b] - logits[a]);
  ids = ids.slice(0, topK);
  const max = logits[ids[0]] / temperature;
  let probs = ids.map((id) => Math.exp(logits[id] / temperature - max));
  let sum = probs.reduce((s, p) => s + p, 0);
  probs = probs.map((p) => p / sum);

  const topP = options.topP ?? 1;
  if (topP < 1) {
    let mass = 0;
    let keep = 0;
    while (keep < probs.length && (keep === 0 || mass < topP)) mass += probs[keep++];
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
  }
  const minP = options.minP ?? 0;
  if (minP > 0) {
    const threshold = minP * probs[0];
    const keep = Math.max(
      1,
      probs.findIndex((p) => p < threshold) === -1 ? probs.length : probs.findIndex((p) => p < threshold),
    );
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
  }
  sum = probs.reduce((s, p) => s + p, 0);
  let u = random() * sum;
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i];
    if (u < 0) return ids[i];
  }
  return ids[ids.length - 1];
}

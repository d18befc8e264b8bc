// Calibration sampling shared by both quantizers (Any-Precision LLM and AnyBCQ).
//
// Protocol (after the Any-Precision LLM / SqueezeLLM data loaders, see
// ../shared/reference/anyprecision.md §1.2): documents are visited in a seeded random
// order without repeats; each is tokenized as `[bos, ...encode(text)]`; documents with
// fewer than `seqLen` tokens are skipped; the others are truncated to their first
// `seqLen` tokens. Sampling stops after `samples` sequences. The same file, seed,
// tokenizer and lengths always give the same sequences, on every machine.
import { readFileSync } from 'node:fs';

/** Raised when the calibration file cannot be read or does not hold enough usable documents. */
export class CalibrationError extends Error {
  override name = 'CalibrationError';
}

export interface CalibrationOptions {
  /** JSONL file, one JSON object per line with a string field `field` (default `text`). Never the dev split. */
  path: string;
  /** Token ids of a text, without special tokens (the model's tokenizer). */
  encode: (text: string) => ArrayLike<number>;
  /** Number of sequences (default 100). */
  samples?: number;
  /** Tokens per sequence, BOS included (default 512). */
  seqLen?: number;
  /** Seed of the document order (default 0). */
  seed?: number;
  /** Token prepended to every document (default 0, `<|begin_of_text|>`); null for none. */
  bos?: number | null;
  /** JSON field holding the text (default `text`). */
  field?: string;
}

export interface CalibrationSample {
  /** `samples` sequences of exactly `seqLen` token ids. */
  sequences: Int32Array[];
  /** Line index (0-based, in file order) of the document each sequence came from. */
  documents: number[];
  /** Documents visited but skipped because they were shorter than `seqLen` tokens. */
  skipped: number;
}

/** Reads `samples` calibration sequences of `seqLen` tokens from a JSONL file (protocol in this file's header). */
export function sampleCalibration(options: CalibrationOptions): CalibrationSample {
  const samples = options.samples ?? 100;
  const seqLen = options.seqLen ?? 512;
  const bos = options.bos === undefined ? 0 : options.bos;
  const field = options.field ?? 'text';
  if (!Number.isInteger(samples) || samples < 1)
    throw new RangeError(`samples must be a positive integer, got ${samples}`);
  if (!Number.isInteger(seqLen) || seqLen < 2)
    throw new RangeError(`seqLen must be an integer >= 2, got ${seqLen}`);

  let text: string;
  try {
    text = readFileSync(options.path, 'utf8');
  } catch (err) {
    throw new CalibrationError(`cannot read calibration file ${options.path}: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();

  const order = shuffledIndices(lines.length, options.seed ?? 0);
  const sequences: Int32Array[] = [];
  const documents: number[] = [];
  let skipped = 0;
  for (const line of order) {
    if (sequences.length === samples) break;
    const raw = lines[line];
    if (raw.trim() === '') continue;
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch (err) {
      throw new CalibrationError(`${options.path}:${line + 1}: not valid JSON (${(err as Error).message})`);
    }
    const value = (doc as Record<string, unknown>)?.[field];
    if (typeof value !== 'string') {
      throw new CalibrationError(`${options.path}:${line + 1}: field "${field}" is missing or not a string`);
    }
    const ids = options.encode(value);
    const length = ids.length + (bos === null ? 0 : 1);
    if (length < seqLen) {
      skipped++;
      continue;
    }
    const seq = new Int32Array(seqLen);
    let k = 0;
    if (bos !== null) seq[k++] = bos;
    for (let i = 0; k < seqLen; i++) seq[k++] = ids[i];
    sequences.push(seq);
    documents.push(line);
  }
  if (sequences.length < samples) {
    throw new CalibrationError(
      `${options.path} gave only ${sequences.length} of ${samples} sequences of ${seqLen} tokens ` +
        `(${skipped} documents were shorter): use fewer --samples, a shorter --seq-len or a larger file`,
    );
  }
  return { sequences, documents, skipped };
}

/** A permutation of 0..n-1 by a Fisher-Yates shuffle driven by `SplitMix32(seed)`. */
export function shuffledIndices(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = splitMix32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Small seeded PRNG (SplitMix32 variant): uniform floats in [0, 1), identical on every platform. */
export function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

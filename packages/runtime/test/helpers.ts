// Shared paths and oracles for the runtime tests.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nativeUnavailableReason } from '../src/index.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** models/tiny embedded in the repository. */
export const TINY_DIR = here('../../../models/tiny');
/** Shared read-only models and data (../shared next to the checkout). */
export const SHARED_DIR = process.env.ANYPREC_SHARED ?? here('../../../../shared');
export const SMALL_DIR = `${SHARED_DIR}/models/small`;
export const DEV_JSONL = `${SHARED_DIR}/data/dev.jsonl`;
export const HAS_SHARED = existsSync(`${SMALL_DIR}/model.safetensors`) && existsSync(DEV_JSONL);

/** ../shared/models/reference.json (PyTorch fp32), or null when the shared folder is absent. */
export const REFERENCE = HAS_SHARED
  ? JSON.parse(readFileSync(`${SHARED_DIR}/models/reference.json`, 'utf8'))
  : null;

/** PyTorch fixture written by tools/gpu/grad_reference.py on the GPU machine. */
export const GPU_REFERENCE = JSON.parse(readFileSync(here('../fixtures/grad_reference.json'), 'utf8'));
export const GRAD_SEQUENCES: number[][] = JSON.parse(
  readFileSync(here('../fixtures/grad_sequences.json'), 'utf8'),
).sequences;

/** Why the native backend cannot run here (tests needing its speed skip), or null. */
export const NATIVE_REASON = nativeUnavailableReason();
export const BACKEND = NATIVE_REASON === null ? ('cpu' as const) : ('ts' as const);

export function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

/** Top-k (id, value) pairs of a logits row, largest first. */
export function topK(logits: Float32Array, k: number): [number, number][] {
  return Array.from(logits, (v, i) => [i, v] as [number, number])
    .sort((a, b) => b[1] - a[1])
    .slice(0, k);
}

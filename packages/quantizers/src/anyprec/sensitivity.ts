// Sensitivities: the empirical Fisher diagonal F_ij = sum_s (dL_s/dW_ij)^2 over calibration
// sequences s, one sequence per backward pass, L_s = mean next-token cross-entropy of s
// (SqueezeLLM / Any-Precision LLM, ../shared/reference/anyprecision.md §1.2). Computed by
// @anyprec/runtime's backward pass (`fisherDiagonal`), in f32 rather than the official
// code's bf16 (no underflow of small squares).
import { fisherDiagonal, loadModel } from '@anyprec/runtime';
import type { LinearLayer } from './linears.js';

/** Loads the model on the CPU backend, samples calibration sequences with its tokenizer, returns the Fisher diagonal per linear. */
export async function fisherSensitivities(
  modelDir: string,
  linears: LinearLayer[],
  sample: (encode: (text: string) => number[], bos: number | null) => Int32Array[],
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, Float32Array>> {
  const model = await loadModel(modelDir, { backend: 'cpu', denseDtype: 'f32' });
  const tokenizer = model.tokenizer;
  const bos = model.config.bosTokenId ?? tokenizer.bosTokenId;
  const sequences = sample((text) => tokenizer.encode(text), bos).map((s) => Array.from(s));
  const fisher = fisherDiagonal(model, sequences, { onProgress });
  for (const l of linears) {
    const f = fisher.get(l.base);
    if (!f || f.length !== l.rows * l.cols) {
      throw new Error(
        `the runtime's Fisher diagonal has ${f ? `${f.length} values` : 'nothing'} for ${l.base} (expected ${l.rows * l.cols}); ` +
          'only decoder linears have sensitivities: drop --lm-head or use --sensitivity unit',
      );
    }
  }
  return fisher;
}

// Micro-benchmark of the AnyBCQ hot loops: XᵀX / XᵀY accumulation (kernels-cpu sgemm) and the
// native normal equations of the scale refit (kernels-cpu bcq.cpp).
// Run: npx vitest run --config bench/anybcq.vitest.config.ts anybcq-kernels   (prints JSON)
import { bcqNormalEquations } from '@anyprec/kernels-cpu';
import { it } from 'vitest';
import { gramAccumulate } from '../src/anybcq/refine.js';

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}
it('anybcq native kernels', () => {
  const results: Record<string, unknown> = {};
  for (const [tokens, cols] of [
    [4096, 512],
    [4096, 1408],
  ]) {
    const x = Float32Array.from({ length: tokens * cols }, () => Math.random() - 0.5);
    const y = Float32Array.from({ length: tokens * cols }, () => Math.random() - 0.5);
    const h = new Float64Array(cols * cols);
    const tSym = time(() => gramAccumulate(h, x, null, tokens, cols, cols));
    const tFull = time(() => gramAccumulate(h, x, y, tokens, cols, cols));
    results[`gram_${tokens}x${cols}`] = {
      symmetricMs: tSym,
      fullMs: tFull,
      fullGflops: (2 * tokens * cols * cols) / tFull / 1e6,
    };
  }
  for (const [rows, cols, bits] of [
    [512, 512, 4],
    [512, 1408, 4],
  ]) {
    const groups = Math.ceil(cols / 128);
    const m = groups * (bits + 1);
    const signs = Int8Array.from({ length: bits * rows * cols }, () => (Math.random() < 0.5 ? -1 : 1));
    const h = Float32Array.from({ length: cols * cols }, () => Math.random());
    const w = Float32Array.from({ length: rows * cols }, () => Math.random());
    const g = new Float64Array(rows * m * m);
    const yv = new Float64Array(rows * m);
    const t = time(() => bcqNormalEquations(g, yv, signs, h, null, w, rows, cols, bits, 128, true));
    results[`normal_${rows}x${cols}_b${bits}`] = { ms: t, gflops: (2 * rows * bits * cols * cols) / t / 1e6 };
  }
  console.log(JSON.stringify(results, null, 2));
});

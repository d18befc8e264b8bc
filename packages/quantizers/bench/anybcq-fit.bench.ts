// Data-free fit speed, TypeScript reference vs native kernel, on a small-model-sized matrix.
// Run: npx vitest run --config bench/anybcq.vitest.config.ts anybcq-fit   (prints JSON)
import { it } from 'vitest';
import { fitMatrix, fitMatrixTs } from '../src/anybcq/fit.js';

it('anybcq data-free fit', () => {
  const rows = 1408;
  const cols = 512;
  let s = 1;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const w = Float32Array.from({ length: rows * cols }, () => rnd() + rnd() + rnd());
  const o = { bits: 4, baseBits: 2, groupSize: 128, offsets: true, cycles: 20 };
  let t = performance.now();
  const a = fitMatrixTs(w, rows, cols, o);
  const tsMs = performance.now() - t;
  t = performance.now();
  const b = fitMatrix(w, rows, cols, o);
  const nativeMs = performance.now() - t;
  let same = 0;
  for (let i = 0; i < a.signs.length; i++) if (a.signs[i] === b.signs[i]) same++;
  console.log(
    JSON.stringify({
      rows,
      cols,
      ...o,
      tsMs,
      nativeMs,
      weightsPerSecondNative: (rows * cols) / (nativeMs / 1000),
      identicalSignFraction: same / a.signs.length,
    }),
  );
});

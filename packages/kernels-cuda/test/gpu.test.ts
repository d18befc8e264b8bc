// GPU correctness in CI form: a small slice of test/gpu/correctness.test.mjs (the full suite,
// run on the GPU machine with `node --test test/gpu/`). Skipped, with the reason, without a GPU.
import { afterAll, describe, expect, it } from 'vitest';
import * as k from '../src/index.js';
import { freeWeights, makeShape, makeWeights, runCase } from './gpu/cases.mjs';
import { dequantRows, sampleRows } from './reference.mjs';

const info = k.cudaInfo();
const reason = info.available ? '' : info.reason;

describe.skipIf(!info.available)(
  `CUDA kernels vs fp64 reference${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    const stream = info.available ? new k.CudaStream() : (undefined as never);
    afterAll(() => stream?.free());

    it.each([
      [37, 96, 64],
      [129, 1056, 128],
      [200, 4096, 128],
    ])('%i x %i (groupSize %i): every width, tokens 1, 7, 9, 16, 33', (rows, cols, groupSize) => {
      const shape = makeShape(k, { rows, cols }, rows);
      const rowList = sampleRows(rows, 24, shape.next);
      for (const [method, widths] of [
        ['lut', [2, 3, 4, 5, 6, 7, 8]],
        ['bcq', [1, 2, 3, 4, 5, 6, 7, 8]],
      ] as const) {
        for (const bits of widths) {
          const w = makeWeights(k, shape, method, bits, { groupSize });
          const wRows = dequantRows(w.host, rowList);
          for (const tokens of [1, 7, 9, 16, 33]) {
            const r = runCase(k, stream, shape, w, rowList, wRows, tokens);
            expect(r.written, `${method} ${bits}b tokens ${tokens}: unwritten outputs`).toBe(true);
            expect(r.worst, `${method} ${bits}b tokens ${tokens}: ${r.where}`).toBeLessThanOrEqual(1);
          }
          freeWeights(w);
        }
      }
      shape.planes.free();
    });
  },
);

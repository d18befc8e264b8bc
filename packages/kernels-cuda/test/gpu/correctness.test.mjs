// GPU correctness suite (plain node:test, runs on the GPU machine without dev tooling):
//   node --test packages/kernels-cuda/test/gpu/
// Every width of both methods, tokens 1..16, 33 and 128, Llama-2-7B / Llama-3-8B shapes
// (with fused qkv and gate+up) and odd small ones, against the fp64 dequantise-then-matmul
// reference of test/reference.mjs with the fp16-rounding tolerance defined there.
// Skips visibly when no CUDA device is present. ANYPREC_GPU_SHAPES=small | medium | full
// (default full) limits the shapes: small = the odd ones, medium = + three Llama shapes.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import * as k from '../../dist/index.js';
import * as R from '../reference.mjs';
import { freeWeights, makeShape, makeWeights, runCase } from './cases.mjs';

const info = k.cudaInfo();
const skip = info.available ? false : `no usable CUDA device: ${info.reason}`;
const shapesMode = process.env.ANYPREC_GPU_SHAPES ?? 'full';
const TOKENS = [...Array.from({ length: 16 }, (_, i) => i + 1), 33, 128];
const LUT_BITS = [2, 3, 4, 5, 6, 7, 8];
const BCQ_BITS = [1, 2, 3, 4, 5, 6, 7, 8];
const SMALL = [
  { name: 'odd 1x32', rows: 1, cols: 32, groupSize: 32 },
  { name: 'odd 37x96', rows: 37, cols: 96, groupSize: 64 },
  { name: 'odd 100x544', rows: 100, cols: 544, groupSize: 96 },
  { name: 'odd 129x1056', rows: 129, cols: 1056, groupSize: 128 },
  { name: 'odd 77x2080 (g256)', rows: 77, cols: 2080, groupSize: 256 },
  // groups of three 128-column quads that straddle 512-column segments; last group partial
  { name: 'odd 45x1664 (g384)', rows: 45, cols: 1664, groupSize: 384 },
  // few rows, long rows: the cost model splits K over a cluster even at one token
  { name: 'split-K 40x12288', rows: 40, cols: 12288, groupSize: 128 },
];
const LLAMA = [
  { name: 'q/o 4096x4096', rows: 4096, cols: 4096 },
  { name: 'L3 k/v 1024x4096', rows: 1024, cols: 4096 },
  { name: 'L3 qkv 6144x4096', rows: 6144, cols: 4096 },
  { name: 'L2 qkv 12288x4096', rows: 12288, cols: 4096 },
  { name: 'L2 gate/up 11008x4096', rows: 11008, cols: 4096 },
  { name: 'L3 gate/up 14336x4096', rows: 14336, cols: 4096 },
  { name: 'L2 gate+up 22016x4096', rows: 22016, cols: 4096 },
  { name: 'L3 gate+up 28672x4096', rows: 28672, cols: 4096 },
  { name: 'L2 down 4096x11008', rows: 4096, cols: 11008 },
  { name: 'L3 down 4096x14336', rows: 4096, cols: 14336 },
].map((s) => ({ ...s, groupSize: 128 }));
const MEDIUM = [LLAMA[0], LLAMA[1], LLAMA[5]];
const SHAPES =
  shapesMode === 'small' ? SMALL : shapesMode === 'medium' ? [...SMALL, ...MEDIUM] : [...SMALL, ...LLAMA];
const log = [];

describe('CUDA bit-plane matmul vs fp64 reference', { skip }, () => {
  let stream;
  // Each (method, bits) of `widths` at each count of `tokensList` on one shape, run with
  // runCase's options `opts`: every output must be written and within tolerance.
  const expectWithinTolerance = (s, shape, rowList, widths, tokensList, opts, label, onResult) => {
    for (const [method, bits] of widths) {
      const w = makeWeights(k, shape, method, bits, { groupSize: s.groupSize });
      const wRows = R.dequantRows(w.host, rowList);
      for (const tokens of tokensList) {
        const r = runCase(k, stream, shape, w, rowList, wRows, tokens, opts);
        assert.ok(
          r.written && r.worst <= 1,
          `${label} ${method} ${bits}b tokens ${tokens}: ${r.worst} ${r.where}`,
        );
        onResult?.(method, bits, tokens, r);
      }
      freeWeights(w);
    }
  };
  test('setup', () => {
    stream = new k.CudaStream();
    log.push({ info, cublas: k.cublasInfo() });
  });

  SHAPES.forEach((s, si) => {
    test(`${s.name}: every width of both methods, tokens ${TOKENS.join(',')}`, () => {
      const shape = makeShape(k, s, 1000 + si);
      const rowList = R.sampleRows(s.rows, 24, shape.next);
      const scratch = k.allocTensor('F16', [s.rows, s.cols]);
      try {
        for (const [method, widths] of [
          ['lut', LUT_BITS],
          ['bcq', BCQ_BITS],
        ]) {
          for (const bits of widths) {
            const w = makeWeights(k, shape, method, bits, { groupSize: s.groupSize, offsets: bits !== 2 });
            const wRows = R.dequantRows(w.host, rowList);
            let worst = 0;
            for (const tokens of TOKENS) {
              const variants = tokens > 16 ? [null, scratch] : [null];
              for (const sc of variants) {
                const r = runCase(k, stream, shape, w, rowList, wRows, tokens, { scratch: sc });
                const label = `${s.name} ${method} ${bits}b tokens ${tokens} path ${r.path}`;
                assert.ok(r.written, `${label}: some outputs were not written (NaN poison left)`);
                assert.ok(r.worst <= 1, `${label}: error ${r.worst.toFixed(3)} x tolerance at ${r.where}`);
                worst = Math.max(worst, r.worst);
              }
            }
            log.push({ shape: s.name, method, bits, worstOverTol: worst });
            freeWeights(w);
          }
        }
      } finally {
        scratch.free();
        shape.planes.free();
      }
    });
  });

  test('dequantisation kernels match the reference weights', () => {
    for (const s of [SMALL[2], SMALL[3], LLAMA[0]]) {
      const shape = makeShape(k, s, 77);
      const rowList = R.sampleRows(s.rows, 16, shape.next);
      for (const [method, widths] of [
        ['lut', LUT_BITS],
        ['bcq', BCQ_BITS],
      ])
        for (const bits of widths) {
          const w = makeWeights(k, shape, method, bits, { groupSize: s.groupSize });
          const out = k.allocTensor('F16', [s.rows, s.cols]);
          if (method === 'lut') k.dequantLut(stream, { ...w.dev, out });
          else k.dequantBcq(stream, { ...w.dev, out });
          stream.synchronize();
          const got = out.download();
          out.free();
          const ref = R.dequantRows(w.host, rowList);
          rowList.forEach((r, i) => {
            for (let c = 0; c < s.cols; c++) {
              const g = R.f16ToNumber(got[r * s.cols + c]);
              const want = ref.w[i * s.cols + c];
              // Any-Precision copies table entries exactly; AnyBCQ rounds its fp32 sum to fp16 once.
              const tol = method === 'lut' ? 0 : 2 ** -11 * ref.mag[i * s.cols + c] + 2 ** -24;
              assert.ok(
                Math.abs(g - want) <= tol,
                `${s.name} ${method} ${bits}b row ${r} col ${c}: ${g} vs ${want}`,
              );
            }
          });
          freeWeights(w);
        }
      shape.planes.free();
    }
  });

  test('CUDA graph capture replays the same results', () => {
    const s = SMALL[3];
    const shape = makeShape(k, s, 5);
    const rowList = R.sampleRows(s.rows, 32, shape.next);
    const widths = [
      ['lut', 3],
      ['lut', 6],
      ['bcq', 2],
      ['bcq', 7],
    ];
    expectWithinTolerance(s, shape, rowList, widths, [1, 8, 13], { graph: true }, 'graph');
    shape.planes.free();
  });

  test("colocate: 'never' (launches after a different kernel) matches the reference", () => {
    // Shapes the rules colocate at 1 token (all three) and 8 tokens (4096 columns).
    for (const s of [LLAMA[0], LLAMA[9], SMALL[3]]) {
      const shape = makeShape(k, s, 13);
      const rowList = R.sampleRows(s.rows, 32, shape.next);
      const widths = [
        ['lut', 2],
        ['lut', 4],
        ['bcq', 3],
      ];
      expectWithinTolerance(s, shape, rowList, widths, [1, 8], { colocate: 'never' }, `${s.name} never`);
      shape.planes.free();
    }
  });

  test('the same inputs give bit-identical outputs on every run (no atomics in the reduction)', () => {
    // Shapes where warps share tiles and (at 8 and 13 tokens) CTAs split k over a cluster.
    for (const s of [SMALL[3], LLAMA[0]]) {
      const shape = makeShape(k, s, 11);
      for (const [method, bits] of [
        ['lut', 3],
        ['lut', 6],
        ['bcq', 3],
      ]) {
        const w = makeWeights(k, shape, method, bits, { groupSize: s.groupSize });
        for (const tokens of [1, 8, 13]) {
          const x = R.randomF16(tokens * s.cols, -1, 1, shape.next);
          const xDev = k.uploadTensor({ dtype: 'F16', shape: [tokens, s.cols], data: x.bits });
          const runs = [0, 1, 2].map(() => {
            const out = k.uploadTensor({
              dtype: 'F32',
              shape: [tokens, s.rows],
              data: new Float32Array(tokens * s.rows).fill(Number.NaN),
            });
            const args = { ...w.dev, out, x: xDev, tokens };
            if (method === 'lut') k.matmulLut(stream, args);
            else k.matmulBcq(stream, args);
            stream.synchronize();
            const got = out.download();
            out.free();
            return new Uint32Array(got.buffer, got.byteOffset, got.length);
          });
          for (const r of [1, 2]) {
            const i = runs[r].findIndex((v, j) => v !== runs[0][j]);
            assert.equal(
              i,
              -1,
              `${s.name} ${method} ${bits}b tokens ${tokens}: run ${r} differs at element ${i}`,
            );
          }
          xDev.free();
        }
        freeWeights(w);
      }
      shape.planes.free();
    }
  });

  test('activations of very different magnitudes stay within tolerance (fixed-point x at one token)', () => {
    // The one-token kernels put x in fixed point (Any-Precision 2-4 bits per 512-column segment,
    // AnyBCQ's binary kernel per CTA slice): outliers 256x the rest, values 2^-12 of it, zeros.
    // Two and eight tokens run the fp16 kernels on the same data.
    const makeX = (n, next) => {
      const bits = new Uint16Array(n);
      const vals = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const u = next();
        let v = next() * 2 - 1;
        if (u < 1 / 64) v *= 256;
        else if (u < 1 / 8) v *= 2 ** -12;
        else if (u > 0.98) v = 0;
        bits[i] = R.numberToF16(v);
        vals[i] = R.f16ToNumber(bits[i]);
      }
      return { bits, vals };
    };
    for (const s of [SMALL[3], SMALL[6], LLAMA[0], LLAMA[9]]) {
      const shape = makeShape(k, s, 17);
      const rowList = R.sampleRows(s.rows, 32, shape.next);
      const widths = [
        ['lut', 2],
        ['lut', 3],
        ['lut', 4],
        ['bcq', 2],
        ['bcq', 3],
      ];
      expectWithinTolerance(
        s,
        shape,
        rowList,
        widths,
        [1, 2, 8],
        { makeX },
        s.name,
        (method, bits, tokens, r) =>
          log.push({ shape: `${s.name} (outliers)`, method, bits, tokens, worstOverTol: r.worst }),
      );
      shape.planes.free();
    }
  });

  test('an inf in x or a NaN table row gives non-finite outputs, not finite garbage', () => {
    const s = LLAMA[0];
    const shape = makeShape(k, s, 19);
    for (const [method, bits] of [
      ['lut', 3],
      ['lut', 6],
      ['bcq', 3],
    ]) {
      for (const tokens of [1, 2, 8]) {
        // inf in token 0's column 700: every output of token 0 is inf or NaN, the others finite
        const w = makeWeights(k, shape, method, bits, { groupSize: s.groupSize });
        const x = R.randomF16(tokens * s.cols, -1, 1, shape.next);
        x.bits[700] = 0x7c00;
        const xDev = k.uploadTensor({ dtype: 'F16', shape: [tokens, s.cols], data: x.bits });
        const out = k.allocTensor('F32', [tokens, s.rows]);
        const call = (args) => (method === 'lut' ? k.matmulLut(stream, args) : k.matmulBcq(stream, args));
        call({ ...w.dev, out, x: xDev, tokens });
        stream.synchronize();
        let got = out.download();
        const label = `${method} ${bits}b tokens ${tokens}`;
        assert.equal(
          got.subarray(0, s.rows).findIndex(Number.isFinite),
          -1,
          `${label}: a finite output of token 0`,
        );
        assert.equal(
          got.subarray(s.rows).findIndex((v) => !Number.isFinite(v)),
          -1,
          `${label}: tokens 1.. not finite`,
        );
        // a table (or scales) row of NaN: that output row is NaN for every token, no other row is
        x.bits[700] = 0x3c00;
        xDev.free();
        const xOk = k.uploadTensor({ dtype: 'F16', shape: [tokens, s.cols], data: x.bits });
        const badRow = 77;
        if (method === 'lut') {
          w.host.lut.fill(0x7e00, badRow * 2 ** bits, (badRow + 1) * 2 ** bits);
          w.dev.lut.free();
          w.dev.lut = k.uploadTensor({ dtype: 'F16', shape: [s.rows, 2 ** bits], data: w.host.lut });
        } else {
          const per = (s.cols / s.groupSize) * bits;
          w.host.scales.fill(0x7e00, badRow * per, (badRow + 1) * per);
          w.dev.scales.free();
          w.dev.scales = k.uploadTensor({
            dtype: 'F16',
            shape: [s.rows, s.cols / s.groupSize, bits],
            data: w.host.scales,
          });
        }
        call({ ...w.dev, out, x: xOk, tokens });
        stream.synchronize();
        got = out.download();
        for (let t = 0; t < tokens; t++)
          for (let r = 0; r < s.rows; r++)
            assert.equal(Number.isFinite(got[t * s.rows + r]), r !== badRow, `${label}: token ${t} row ${r}`);
        xOk.free();
        out.free();
        freeWeights(w);
      }
    }
    shape.planes.free();
  });

  test('bad calls throw before launching and leave the device usable', () => {
    const s = SMALL[3];
    const shape = makeShape(k, s, 9);
    const w = makeWeights(k, shape, 'lut', 4);
    const x = k.allocTensor('F16', [4, s.cols]);
    const out = k.allocTensor('F32', [4, s.rows]);
    const ok = { ...w.dev, x, out, tokens: 4 };
    assert.throws(() => k.matmulLut(stream, { ...ok, tokens: 5 }), k.KernelArgumentError);
    assert.throws(() => k.matmulLut(stream, { ...ok, bits: 9 }), k.KernelArgumentError);
    assert.throws(() => k.matmulLut(stream, { ...ok, x: out }), k.KernelDtypeError);
    assert.throws(() => k.matmulLut(stream, { ...ok, cols: s.cols - 32 }), k.KernelArgumentError);
    // A tensor whose declared shape lies about its size: the addon's own byte checks catch it.
    const tiny = k.allocTensor('U32', [1]);
    const liar = new k.DeviceTensor('U32', [8, s.rows, s.cols / 32], tiny.native);
    assert.throws(() => k.matmulLut(stream, { ...ok, planes: liar }), /planes holds 4 bytes/);
    tiny.free();
    const freed = k.allocTensor('F16', [4, s.cols]);
    freed.free();
    assert.throws(() => k.matmulLut(stream, { ...ok, x: freed }), /freed/);
    // The context is healthy: a correct call still gives correct results.
    const rowList = R.sampleRows(s.rows, 16, shape.next);
    const r = runCase(k, stream, shape, w, rowList, R.dequantRows(w.host, rowList), 4);
    assert.ok(r.written && r.worst <= 1);
    x.free();
    out.free();
    freeWeights(w);
    shape.planes.free();
  });

  test('write log', () => {
    if (process.env.ANYPREC_TEST_LOG)
      writeFileSync(process.env.ANYPREC_TEST_LOG, JSON.stringify(log, null, 1));
    stream.free();
  });
});

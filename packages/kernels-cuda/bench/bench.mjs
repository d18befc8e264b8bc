// Benchmark: fused bit-plane matmul vs cuBLAS fp16 on the same shapes, tokens and run.
//   pnpm --filter @anyprec/kernels-cuda bench [-- --quick | --prefill-only | --tokens 1,8] [-- --shapes RxC,...]
//     [-- --only lut5,bcq2,...] [-- --out results.json]
// Weights are rotated over enough copies (>= 256 MB) that they never sit in the 50 MB L2; every
// configuration is captured into a CUDA graph of many launches and timed with CUDA events
// (median of 7 replays). Effective GB/s = bytes of planes + lut/scales/offsets read / time.
import { writeFileSync } from 'node:fs';
import * as k from '../dist/index.js';
import { graphTimeUs } from './graph-time.mjs';
import { LLAMA3_8B_LAYER } from './shapes.mjs';
import { freeWeights, GROUP, randomWeights } from './weights.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const prefillOnly = args.includes('--prefill-only');
const outIdx = args.indexOf('--out');
const outPath = outIdx >= 0 ? args[outIdx + 1] : null;
const info = k.cudaInfo();
if (!info.available) {
  console.log(JSON.stringify({ skipped: `no usable CUDA device: ${info.reason}` }));
  process.exit(0);
}
const cublas = k.cublasInfo();
const stream = new k.CudaStream();
const ROTATE_BYTES = 256e6;
const LAUNCHES_MIN = 24;

const SHAPES = [
  [4096, 4096],
  [1024, 4096],
  [14336, 4096],
  [4096, 14336], // Llama-3-8B decoder linears
  [6144, 4096],
  [28672, 4096], // Llama-3-8B fused qkv, gate+up
  [11008, 4096],
  [4096, 11008],
  [12288, 4096], // Llama-2-7B gate/up, down, fused qkv
];
const shapesIdx = args.indexOf('--shapes'); // e.g. --shapes 4096x4096,14336x4096
if (shapesIdx >= 0) {
  const keep = new Set(args[shapesIdx + 1].split(','));
  SHAPES.splice(0, SHAPES.length, ...SHAPES.filter(([r, c]) => keep.has(`${r}x${c}`)));
}
const tokensIdx = args.indexOf('--tokens'); // e.g. --tokens 1,8: these decode counts, every width, no prefill
const tokensList = tokensIdx >= 0 ? args[tokensIdx + 1].split(',').map(Number) : null;
const DECODE_M = prefillOnly ? [] : (tokensList ?? (quick ? [1, 8] : [1, 2, 4, 8, 12, 16]));
const PREFILL_M = quick || tokensList ? [] : [33, 128];
const onlyIdx = args.indexOf('--only'); // e.g. --only lut5,lut6,bcq2: these widths only
const only = onlyIdx >= 0 ? new Set(args[onlyIdx + 1].split(',')) : null;
const LUT_BITS = [2, 3, 4, 5, 6, 7, 8].filter((b) => !only || only.has(`lut${b}`));
const BCQ_BITS = [1, 2, 3, 4, 5, 6, 7, 8].filter((b) => !only || only.has(`bcq${b}`));

const time = (n, launchOne) => graphTimeUs(k, stream, n, launchOne);

function copiesFor(bytes) {
  return Math.max(1, Math.min(64, Math.ceil(ROTATE_BYTES / bytes)));
}

const xCache = new Map();
function activations(tokens, cols) {
  const key = `${tokens}x${cols}`;
  if (!xCache.has(key)) {
    const x = k.allocTensor('F16', [tokens, cols]);
    k.fillRandom(stream, x, 7 + tokens, -1, 1);
    xCache.set(key, x);
  }
  return xCache.get(key);
}

function fp16Time(rows, cols, M) {
  const bytes = rows * cols * 2;
  const n = copiesFor(bytes);
  const ws = Array.from({ length: n }, (_, i) => {
    const w = k.allocTensor('F16', [rows, cols]);
    k.fillRandom(stream, w, 100 + i, -0.05, 0.05);
    return w;
  });
  const x = activations(M, cols);
  const out = k.allocTensor('F32', [M, rows]);
  const launches = Math.max(LAUNCHES_MIN, n);
  const us = time(launches, (i) => k.gemmF16(stream, { out, x, weight: ws[i % n], tokens: M, rows, cols }));
  for (const w of ws) w.free();
  out.free();
  return { us, GBps: bytes / us / 1e3 };
}

function quantTime(method, bits, rows, cols, M, scratch) {
  const words = cols / 32;
  const groups = Math.ceil(cols / GROUP);
  const planeBytes = bits * rows * words * 4;
  const tableBytes = method === 'lut' ? rows * 2 ** bits * 2 : rows * groups * (bits + 1) * 2;
  const bytes = planeBytes + tableBytes;
  const n = copiesFor(bytes);
  const weights = Array.from({ length: n }, (_, i) => randomWeights(k, stream, method, bits, rows, cols, i));
  const x = activations(M, cols);
  const out = k.allocTensor('F32', [M, rows]);
  let path = '';
  const launches = Math.max(LAUNCHES_MIN, n);
  const us = time(launches, (i) => {
    const a = { ...weights[i % n], out, x, tokens: M, scratch };
    path = method === 'lut' ? k.matmulLut(stream, a) : k.matmulBcq(stream, a);
  });
  for (const w of weights) freeWeights(w);
  out.free();
  return { us, GBps: bytes / us / 1e3, bytes, path };
}

// Warm the clocks (~1 s of work) before measuring.
{
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) fp16Time(14336, 4096, 1);
}

const results = [];
const fp16 = new Map();
for (const [rows, cols] of SHAPES) {
  for (const M of [...DECODE_M, ...PREFILL_M]) {
    const base = fp16Time(rows, cols, M);
    fp16.set(`${rows}x${cols}@${M}`, base);
    const prefill = M > k.FUSED_MAX_TOKENS;
    const scratch = prefill ? k.allocTensor('F16', [rows, cols]) : null;
    for (const [method, widths] of [
      ['lut', LUT_BITS],
      ['bcq', BCQ_BITS],
    ]) {
      const list = prefill || quick ? widths.filter((b) => [2, 3, 4, 8].includes(b)) : widths;
      for (const bits of list) {
        const variants = prefill ? [null, scratch] : [null];
        for (const sc of variants) {
          let r;
          try {
            r = quantTime(method, bits, rows, cols, M, sc);
          } catch (err) {
            // forced development configurations (ANYPREC_SPLITK, ...) may not fit a shape
            console.error(
              JSON.stringify({ shape: `${rows}x${cols}`, M, method, bits, error: String(err.message) }),
            );
            continue;
          }
          const row = {
            shape: `${rows}x${cols}`,
            rows,
            cols,
            M,
            method,
            bits,
            path: r.path,
            us: +r.us.toFixed(2),
            GBps: +r.GBps.toFixed(0),
            fp16_us: +base.us.toFixed(2),
            fp16_GBps: +base.GBps.toFixed(0),
            speedup: +(base.us / r.us).toFixed(2),
          };
          results.push(row);
          console.error(JSON.stringify(row));
        }
      }
    }
    scratch?.free();
  }
}

// Summary: the acceptance numbers.
const find = (shape, M, method, bits, path) =>
  results.find(
    (r) =>
      r.shape === shape && r.M === M && r.method === method && r.bits === bits && (!path || r.path === path),
  );
const summary = { llama3_8b_decoder_sum_M1: {}, gbps_14336x4096_M1: {}, m8_over_m1: {} };
for (const [method, widths] of [
  ['lut', LUT_BITS],
  ['bcq', BCQ_BITS],
]) {
  for (const bits of widths) {
    let q = 0;
    let f = 0;
    let ok = true;
    for (const [rows, cols] of LLAMA3_8B_LAYER) {
      const r = find(`${rows}x${cols}`, 1, method, bits);
      if (!r) ok = false;
      else {
        q += r.us;
        f += r.fp16_us;
      }
    }
    if (ok)
      summary.llama3_8b_decoder_sum_M1[`${method}${bits}`] = {
        us: +q.toFixed(1),
        fp16_us: +f.toFixed(1),
        speedup: +(f / q).toFixed(2),
      };
    const big = find('14336x4096', 1, method, bits);
    if (big) summary.gbps_14336x4096_M1[`${method}${bits}`] = big.GBps;
    let worst = 0;
    let worstShape = '';
    for (const [rows, cols] of SHAPES) {
      const a = find(`${rows}x${cols}`, 1, method, bits);
      const b = find(`${rows}x${cols}`, 8, method, bits);
      if (a && b && b.us / a.us > worst) {
        worst = b.us / a.us;
        worstShape = a.shape;
      }
    }
    if (worst) summary.m8_over_m1[`${method}${bits}`] = { worst: +worst.toFixed(2), shape: worstShape };
  }
}
const report = { device: info.device, date: new Date().toISOString(), cublas, quick, summary, results };
if (outPath) writeFileSync(outPath, JSON.stringify(report, null, 1));
console.log(JSON.stringify({ device: info.device, date: report.date, summary }, null, 1));
stream.free();

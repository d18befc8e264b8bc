// Time one configuration (development aid): node bench/one.mjs lut|bcq bits rows cols tokens
import * as k from '../dist/index.js';
import { graphTimeUs } from './graph-time.mjs';

const [method, bits, rows, cols, M] = [
  process.argv[2],
  +process.argv[3],
  +process.argv[4],
  +process.argv[5],
  +process.argv[6],
];
const stream = new k.CudaStream();
const n = Math.max(24, Math.ceil(256e6 / ((rows * cols * bits) / 8)));
const ws = Array.from({ length: n }, (_, i) => {
  const planes = k.allocTensor('U32', [bits, rows, cols / 32]);
  k.fillRandom(stream, planes, 10 + i);
  if (method === 'lut') {
    const lut = k.allocTensor('F16', [rows, 2 ** bits]);
    k.fillRandom(stream, lut, 20 + i, -0.05, 0.05);
    return { planes, lut };
  }
  const scales = k.allocTensor('F16', [rows, cols / 128, bits]);
  k.fillRandom(stream, scales, 30 + i, 0.001, 0.02);
  return { planes, scales, offsets: null, groupSize: 128 };
});
const x = k.allocTensor('F16', [M, cols]);
k.fillRandom(stream, x, 5, -1, 1);
const out = k.allocTensor('F32', [M, rows]);
const go = (i) =>
  (method === 'lut' ? k.matmulLut : k.matmulBcq)(stream, {
    ...ws[i % n],
    rows,
    cols,
    bits,
    x,
    out,
    tokens: M,
  });
// ANYPREC_TRACE builds print a timeline per uncaptured launch: warm launches to read.
const us = graphTimeUs(k, stream, n, go, process.env.ANYPREC_TRACE ? 3 : 0);
console.log(
  JSON.stringify({
    method,
    bits,
    rows,
    cols,
    M,
    us: +us.toFixed(2),
    GBps: Math.round((rows * cols * bits) / 8 / us / 1e3),
    env: process.env.ANYPREC_SPLITK ?? '',
  }),
);

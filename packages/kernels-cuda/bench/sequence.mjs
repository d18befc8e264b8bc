// Decoder-layer sequence benchmark (development aid): the seven Llama-3-8B linears of a layer
// launched one after another (q, k, v, o, gate, up, down), as a decode step runs them, against
// the sum of the same seven timed each in a graph of its own shape (what bench.mjs reports).
// The launch rules (colocation, split-K) were fitted on graphs of one shape; this shows what
// they give in the order a model uses them, and with colocate: 'never' passed wherever the
// launch before is a different shape (layerAwareUs; k after q, v after k, ... up after gate).
//   node bench/sequence.mjs [lut:3,bcq:3,...] [tokens]      prints one JSON line per width
import * as k from '../dist/index.js';
import { graphTimeUs } from './graph-time.mjs';
import { LLAMA3_8B_LAYER } from './shapes.mjs';
import { freeWeights, randomWeights } from './weights.mjs';

const LAYER = LLAMA3_8B_LAYER;
const ROTATE_BYTES = 256e6;
const configs = (process.argv[2] ?? 'lut:3,lut:4,bcq:2,bcq:3,bcq:4').split(',').map((c) => c.split(':'));
const tokens = Number(process.argv[3] ?? 1);
const stream = new k.CudaStream();
// One activation tensor per width and one output per height (the API checks exact shapes).
const xs = new Map();
const outs = new Map();
for (const [rows, cols] of LAYER) {
  if (!xs.has(cols)) {
    xs.set(cols, k.allocTensor('F16', [tokens, cols]));
    k.fillRandom(stream, xs.get(cols), 7, -1, 1);
  }
  if (!outs.has(rows)) outs.set(rows, k.allocTensor('F32', [tokens, rows]));
}

const run = (method, w, colocate = 'auto') =>
  (method === 'lut' ? k.matmulLut : k.matmulBcq)(stream, {
    ...w,
    x: xs.get(w.cols),
    out: outs.get(w.rows),
    tokens,
    colocate,
  });
// 'never' where the launch before in the layer (cyclically: q follows down) has another shape.
const AWARE = LAYER.map(([r, c], j) => {
  const [pr, pc] = LAYER[(j + LAYER.length - 1) % LAYER.length];
  return pr === r && pc === c ? 'auto' : 'never';
});

for (const [method, b] of configs) {
  const bits = Number(b);
  const layerBytes = LAYER.reduce((s, [r, c]) => s + (r * c * bits) / 8, 0);
  const layers = Math.max(2, Math.ceil(ROTATE_BYTES / layerBytes));
  const ws = Array.from({ length: layers }, (_, l) =>
    LAYER.map(([r, c], j) => randomWeights(k, stream, method, bits, r, c, LAYER.length * l + j)),
  );
  // Each linear alone: a graph of one shape, weights rotated over the layers' copies.
  const alone = LAYER.map((_, j) =>
    graphTimeUs(k, stream, Math.max(24, layers), (i) => run(method, ws[i % layers][j])),
  );
  // The layer: q, k, v, o, gate, up, down of layer l, then of layer l + 1, ...
  const seqLaunches = Math.max(4, layers) * LAYER.length;
  const layerTime = (modeOf) =>
    graphTimeUs(k, stream, seqLaunches, (i) =>
      run(method, ws[Math.floor(i / LAYER.length) % layers][i % LAYER.length], modeOf(i % LAYER.length)),
    );
  const perLaunch = layerTime(() => 'auto');
  const perLaunchAware = layerTime((j) => AWARE[j]);
  console.log(
    JSON.stringify({
      method,
      bits,
      tokens,
      layerUs: +(perLaunch * LAYER.length).toFixed(2),
      layerAwareUs: +(perLaunchAware * LAYER.length).toFixed(2),
      sumAloneUs: +alone.reduce((s, v) => s + v, 0).toFixed(2),
      aloneUs: alone.map((v) => +v.toFixed(2)),
      colocate: process.env.ANYPREC_COLOCATE ?? 'rule',
    }),
  );
  for (const layer of ws) for (const w of layer) freeWeights(w);
}
for (const t of [...xs.values(), ...outs.values()]) t.free();

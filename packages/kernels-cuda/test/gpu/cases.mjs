// One correctness case: random layer in layout v1 -> GPU -> compare sampled rows with the
// host reference (test/reference.mjs). Shared by the node:test GPU suite and vitest.
import * as R from '../reference.mjs';

/** Upload a random parent-precision layer (P = 8 planes) once per shape; widths reuse its plane prefix. */
export function makeShape(k, { rows, cols }, seed) {
  const next = R.rng(seed);
  const planesHost = R.randomPlanes(8, rows, cols, next);
  const planes = k.uploadTensor({ dtype: 'U32', shape: [8, rows, cols / 32], data: planesHost });
  return { rows, cols, planesHost, planes, next };
}

/** Tables for one method and width, on host and device. */
export function makeWeights(k, shape, method, bits, { groupSize = 128, offsets = true } = {}) {
  const { rows, cols, next } = shape;
  if (method === 'lut') {
    const lut = R.randomLut(rows, bits, next);
    return {
      host: { method, planes: shape.planesHost, rows, cols, bits, lut },
      dev: {
        planes: shape.planes,
        rows,
        cols,
        bits,
        lut: k.uploadTensor({ dtype: 'F16', shape: [rows, 2 ** bits], data: lut }),
      },
    };
  }
  const groups = Math.ceil(cols / groupSize);
  const t = R.randomBcq(rows, groups, bits, next, offsets);
  return {
    host: {
      method,
      planes: shape.planesHost,
      rows,
      cols,
      bits,
      scales: t.scales,
      offsets: t.offsets,
      groupSize,
    },
    dev: {
      planes: shape.planes,
      rows,
      cols,
      bits,
      groupSize,
      scales: k.uploadTensor({ dtype: 'F16', shape: [rows, groups, bits], data: t.scales }),
      offsets: t.offsets ? k.uploadTensor({ dtype: 'F16', shape: [rows, groups], data: t.offsets }) : null,
    },
  };
}

export function freeWeights(w) {
  for (const t of [w.dev.lut, w.dev.scales, w.dev.offsets]) t?.free();
}

/**
 * Run out = x·Wᵀ for `tokens` fresh random activations on a NaN-poisoned output; returns the
 * worst |out - ref| / tol over the sampled rows (must be <= 1) and whether every output was written.
 * `makeX(n, next)` draws the activations ({ bits, vals } as R.randomF16; default uniform in [-1, 1]).
 */
export function runCase(
  k,
  stream,
  shape,
  w,
  rowList,
  wRows,
  tokens,
  { scratch = null, graph = false, colocate, makeX = (n, rnd) => R.randomF16(n, -1, 1, rnd) } = {},
) {
  const { rows, cols, next } = shape;
  const x = makeX(tokens * cols, next);
  const xDev = k.uploadTensor({ dtype: 'F16', shape: [tokens, cols], data: x.bits });
  const out = k.uploadTensor({
    dtype: 'F32',
    shape: [tokens, rows],
    data: new Float32Array(tokens * rows).fill(Number.NaN),
  });
  const args = { ...w.dev, out, x: xDev, tokens, scratch, colocate };
  const launch = () => (w.host.method === 'lut' ? k.matmulLut(stream, args) : k.matmulBcq(stream, args));
  let path;
  if (graph) {
    stream.beginCapture();
    path = launch();
    const g = stream.endCapture();
    g.launch(stream);
    g.free();
  } else {
    path = launch();
  }
  stream.synchronize();
  const got = out.download();
  xDev.free();
  out.free();
  let written = true;
  for (let i = 0; i < got.length; i++)
    if (!Number.isFinite(got[i])) {
      written = false;
      break;
    }
  const { ref, tol } = R.referenceMatmul(wRows, x.vals, tokens, cols);
  let worst = 0;
  let where = '';
  const n = rowList.length;
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < n; i++) {
      const e = Math.abs(got[t * rows + rowList[i]] - ref[t * n + i]) / tol[t * n + i];
      if (!(e <= worst)) {
        worst = Number.isNaN(e) ? Number.POSITIVE_INFINITY : e;
        where = `token ${t} row ${rowList[i]}: got ${got[t * rows + rowList[i]]}, want ${ref[t * n + i]} ± ${tol[t * n + i]}`;
      }
    }
  return { worst, where, written, path };
}

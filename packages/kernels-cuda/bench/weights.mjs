// Shared by bench.mjs and sequence.mjs: pseudo-random quantised weights of one matrix in layout
// v1 (planes + Any-Precision row tables, or AnyBCQ scales and offsets per group), copy `copy`
// of several (each copy its own seeds, so rotated copies never share contents).
export const GROUP = 128;

export function randomWeights(k, stream, method, bits, rows, cols, copy) {
  const planes = k.allocTensor('U32', [bits, rows, cols / 32]);
  k.fillRandom(stream, planes, 1000 + copy);
  if (method === 'lut') {
    const lut = k.allocTensor('F16', [rows, 2 ** bits]);
    k.fillRandom(stream, lut, 2000 + copy, -0.05, 0.05);
    return { planes, lut, rows, cols, bits };
  }
  const groups = Math.ceil(cols / GROUP);
  const scales = k.allocTensor('F16', [rows, groups, bits]);
  const offsets = k.allocTensor('F16', [rows, groups]);
  k.fillRandom(stream, scales, 3000 + copy, 0.001, 0.02);
  k.fillRandom(stream, offsets, 4000 + copy, -0.01, 0.01);
  return { planes, scales, offsets, rows, cols, bits, groupSize: GROUP };
}

export function freeWeights(w) {
  for (const t of [w.planes, w.lut, w.scales, w.offsets]) t?.free();
}

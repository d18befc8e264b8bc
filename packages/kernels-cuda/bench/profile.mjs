// One launch per configuration, for Nsight Compute:
//   ncu --clock-control none -k regex:fusedKernel --section SpeedOfLight --section WarpStateStats \
//       --section ComputeWorkloadAnalysis node bench/profile.mjs
import * as k from '../dist/index.js';

const stream = new k.CudaStream();
const configs = (process.argv[2] ?? 'lut:3:14336:4096:1,bcq:3:14336:4096:1,lut:8:14336:4096:1').split(',');
for (const c of configs) {
  const [method, b, r, cl, m] = c.split(':');
  const [bits, rows, cols, tokens] = [+b, +r, +cl, +m];
  const planes = k.allocTensor('U32', [bits, rows, cols / 32]);
  k.fillRandom(stream, planes, 1);
  const x = k.allocTensor('F16', [tokens, cols]);
  k.fillRandom(stream, x, 2);
  const out = k.allocTensor('F32', [tokens, rows]);
  if (method === 'lut') {
    const lut = k.allocTensor('F16', [rows, 2 ** bits]);
    k.fillRandom(stream, lut, 3, -0.05, 0.05);
    k.matmulLut(stream, { planes, lut, rows, cols, bits, x, out, tokens });
  } else {
    const groups = Math.ceil(cols / 128);
    const scales = k.allocTensor('F16', [rows, groups, bits]);
    k.fillRandom(stream, scales, 3, 0.001, 0.02);
    k.matmulBcq(stream, { planes, scales, offsets: null, rows, cols, bits, groupSize: 128, x, out, tokens });
  }
  stream.synchronize();
}

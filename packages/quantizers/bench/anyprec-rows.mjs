// Benchmark: seed + upscale (3 -> 8 bits) of a rows x cols matrix with given sensitivities.
// Usage: node bench/anyprec-rows.mjs [rows=4096] [cols=4096] [threads=hardware] [restarts=8] [seedInit=kmeans++|optimal] [values=f32|bf16]
// values=bf16 rounds the weights to bf16 first, as in bf16/f16 checkpoints (fewer distinct values per row).
// Prints one JSON object. Needs @anyprec/kernels-cpu built.
import { quantizeAnyPrecRows } from '@anyprec/kernels-cpu';

const rows = Number(process.argv[2] ?? 4096);
const cols = Number(process.argv[3] ?? 4096);
const threads = process.argv[4] ? Number(process.argv[4]) : undefined;
const restarts = Number(process.argv[5] ?? 8);
const seedInit = process.argv[6] ?? 'kmeans++';
const values = process.argv[7] ?? 'f32';

// Gaussian weights (Box-Muller) with heavy-tailed sensitivities from a fixed LCG: reproducible input.
let state = 12345;
const rand = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return (state + 0.5) / 4294967296;
};
const weight = new Float32Array(rows * cols);
const sens = new Float32Array(rows * cols);
for (let i = 0; i < weight.length; i++) {
  weight[i] = 0.02 * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
  sens[i] = rand() ** 4;
}
if (values === 'bf16') {
  // round to nearest-even bf16 through the f32 bit pattern
  const bits = new Uint32Array(weight.buffer);
  for (let i = 0; i < bits.length; i++)
    bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) & 0xffff0000) >>> 0;
}
const run = () =>
  quantizeAnyPrecRows(weight, sens, rows, cols, {
    seedBits: 3,
    parentBits: 8,
    seed: 0,
    threads,
    restarts,
    seedInit,
  });
run(); // warm-up
const times = [];
for (let r = 0; r < 3; r++) {
  const t0 = process.hrtime.bigint();
  run();
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const bestMs = Math.min(...times);
console.log(
  JSON.stringify({
    bench: 'anyprec-rows',
    rows,
    cols,
    seedBits: 3,
    parentBits: 8,
    restarts,
    seedInit,
    values,
    threads: threads ?? 'hardware',
    ms: times.map((t) => Math.round(t)),
    bestMs: Math.round(bestMs),
    weightsPerSecond: Math.round((rows * cols) / (bestMs / 1000)),
  }),
);

// Where the time of a width goes: compares bench.mjs results of the real build with builds of
// the development probes (bench/build-variant.sh NAME -DANYPREC_PROBE=1 (loads only), 2 (compute
// only), 5 (launch, first wave and wait only), 7 (loads only, each unit's planes one contiguous
// block), 8 (real decode on contiguous blocks)). Prints JSON: per build, method, width and token
// count, the seven-linear Llama-3-8B sum (µs and × the real build's cuBLAS fp16 sum) and a
// least-squares fit of µs against bytes read over the shapes, time = t0 + bytes / rate.
//   node bench/roofline.mjs real=a.json[,a2.json] loads=b.json[,b2.json] ...
// Runs of one build are averaged; the first build's bytes (planes + tables/scales) serve for all,
// so rates of probes that skip the scale loads (AnyBCQ) read high. Local machine; no GPU needed.
import { readFileSync } from 'node:fs';
import { LLAMA3_8B_LAYER } from './shapes.mjs';

const builds = process.argv.slice(2).map((arg) => {
  const [name, files] = arg.split('=');
  if (!name || !files) throw new Error(`roofline: expected NAME=file.json[,file2.json], got "${arg}"`);
  const runs = files
    .split(',')
    .map((f) => JSON.parse(readFileSync(f, 'utf8')).results.filter((r) => r.us > 0));
  const us = new Map();
  for (const run of runs)
    for (const r of run) {
      const key = `${r.shape}|${r.method}|${r.bits}|${r.M}`;
      us.set(key, (us.get(key) ?? 0) + r.us / runs.length);
    }
  return { name, runs, us };
});
if (builds.length === 0) {
  console.error('usage: node bench/roofline.mjs real=bench.json[,...] loads=probe1.json[,...] ...');
  process.exit(2);
}
const base = builds[0].runs[0];
const bytesOf = new Map(base.map((r) => [`${r.shape}|${r.method}|${r.bits}|${r.M}`, r.us * r.GBps * 1e3]));
const fp16Of = new Map(base.map((r) => [`${r.shape}|${r.M}`, r.fp16_us]));

function fit(points) {
  // least squares of t = t0 + bytes * s over (bytes, t)
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxy / sxx;
  return { t0_us: +(my - slope * mx).toFixed(2), rate_TBps: +(1e-6 / slope).toFixed(2) };
}

const out = [];
const combos = [...new Set(base.map((r) => `${r.method}|${r.bits}|${r.M}`))];
for (const combo of combos) {
  const [method, bits, M] = combo.split('|');
  const shapes = [
    ...new Set(base.filter((r) => `${r.method}|${r.bits}|${r.M}` === combo).map((r) => r.shape)),
  ];
  const fp16Sum = LLAMA3_8B_LAYER.reduce((a, [r, c]) => a + (fp16Of.get(`${r}x${c}|${M}`) ?? Number.NaN), 0);
  const row = { method, bits: +bits, M: +M, fp16_sum_us: +fp16Sum.toFixed(1) };
  for (const b of builds) {
    const t = (s) => b.us.get(`${s}|${method}|${bits}|${M}`);
    const sum = LLAMA3_8B_LAYER.reduce((a, [r, c]) => a + (t(`${r}x${c}`) ?? Number.NaN), 0);
    const points = shapes.filter((s) => t(s) !== undefined).map((s) => [bytesOf.get(`${s}|${combo}`), t(s)]);
    row[b.name] = {
      sum_us: +sum.toFixed(1),
      x_fp16: +(fp16Sum / sum).toFixed(2),
      ...(points.length >= 3 ? fit(points) : {}),
    };
  }
  out.push(row);
}
console.log(JSON.stringify(out, null, 1));

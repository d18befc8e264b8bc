// Kernel throughput on this machine; prints one JSON object. Run after building:
//   flock /tmp/anyprec-heavy.lock npx pnpm@10.34.9 --filter @anyprec/kernels-cpu bench
// Options: --quick (fewer shapes/repeats), --threads N, --cpu-time,
// --only matmul,gemv,sgemm,planes,attention (sections to run; default all).
import * as k from '../dist/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
// --cpu-time: time by this process's CPU time instead of wall time. With --threads 1 that is
// the kernel's own cost per core, unaffected by other jobs preempting it on a shared machine.
const cpuTime = args.includes('--cpu-time');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1].split(',')) : null;
const run = (section) => !only || only.has(section);
const threadsAt = args.indexOf('--threads');
if (threadsAt >= 0) k.setThreads(Number(args[threadsAt + 1]));

const info = k.cpuInfo();
if (!info.available) {
  console.error(info.reason);
  process.exit(1);
}

let seed = 1;
function rand() {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
}
const f32 = (n, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
const bf16 = (n) => {
  const w = f32(n, 0.05);
  const u = new Uint32Array(w.buffer);
  return Uint16Array.from(u, (v) => v >>> 16);
};
const f16 = (n) =>
  Uint16Array.from(
    { length: n },
    () => (rand() < 0.5 ? 0x8000 : 0) | ((8 + Math.floor(rand() * 6)) << 10) | Math.floor(rand() * 1024),
  );
const u32 = (n) => Uint32Array.from({ length: n }, () => Math.floor(rand() * 4294967296));

/**
 * Seconds per call: the fastest of several rounds, each repeated for at least minSeconds.
 * The minimum, not the median: this 2-core machine is shared, and interference only ever
 * adds time.
 */
function time(fn, minSeconds = quick ? 0.05 : 0.1, rounds = quick ? 3 : 7) {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    let dt = 0;
    do {
      fn();
      n++;
      dt = Number(process.hrtime.bigint() - t0) / 1e9;
    } while (dt < minSeconds);
    if (cpuTime) {
      const c = process.cpuUsage(c0);
      dt = (c.user + c.system) / 1e6;
    }
    best = Math.min(best, dt / n);
  }
  return best;
}
const r1 = (v) => Math.round(v * 10) / 10;
const r2 = (v) => Math.round(v * 100) / 100;

const result = {
  cpu: info,
  threads: k.threads(),
  clock: cpuTime ? 'cpu' : 'wall',
  matmul: [],
  gemv: [],
  sgemm: [],
  planes: [],
  attention: [],
};

// ---- dense GEMM: prefill shapes of the `small` model (tokens 512) and the headline shape
if (run('matmul')) {
  const rowsSet = quick ? [1408] : [256, 512, 1408, 8192];
  const colsSet = quick ? [512] : [512, 1408];
  for (const dtype of ['f32', 'bf16']) {
    for (const rows of rowsSet) {
      for (const cols of colsSet) {
        const tokens = 512;
        const x = f32(tokens * cols);
        const w = dtype === 'f32' ? f32(rows * cols, 0.05) : bf16(rows * cols);
        const out = new Float32Array(tokens * rows);
        const s = time(() => k.matmul(out, x, w, dtype, tokens, rows, cols));
        result.matmul.push({
          dtype,
          tokens,
          rows,
          cols,
          ms: r2(s * 1e3),
          gflops: r1((2 * tokens * rows * cols) / s / 1e9),
        });
      }
    }
  }

  // ---- the `small` model's matmul mix at 512 tokens (one layer x 8 + lm_head), bf16 weights
  {
    const hidden = 512,
      inter = 1408,
      kv = 256,
      vocab = 8192,
      layers = 8,
      tokens = 512;
    const layer = [
      [hidden, hidden],
      [kv, hidden],
      [kv, hidden],
      [hidden, hidden],
      [inter, hidden],
      [inter, hidden],
      [hidden, inter],
    ];
    let flops = 0,
      secs = 0;
    for (const [rows, cols, reps] of [...layer.map(([r, c]) => [r, c, layers]), [vocab, hidden, 1]]) {
      const x = f32(tokens * cols);
      const w = bf16(rows * cols);
      const out = new Float32Array(tokens * rows);
      const s = time(() => k.matmul(out, x, w, 'bf16', tokens, rows, cols));
      flops += reps * 2 * tokens * rows * cols;
      secs += reps * s;
    }
    result.smallPrefill = {
      tokens,
      gflopsSustained: r1(flops / secs / 1e9),
      msPerWindowMatmuls: r1(secs * 1e3),
      secondsFor511Windows: r1(secs * 511),
    };
  }
}
// ---- GEMV (decode): weights streamed once
if (run('gemv')) {
  for (const dtype of ['bf16', 'f32', 'f16']) {
    for (const [rows, cols] of quick
      ? [[1408, 512]]
      : [
          [512, 512],
          [1408, 512],
          [512, 1408],
          [8192, 512],
          [4096, 4096],
        ]) {
      for (const tokens of dtype === 'bf16' && !quick ? [1, 4] : [1]) {
        const x = f32(tokens * cols);
        const w =
          dtype === 'f32' ? f32(rows * cols) : dtype === 'bf16' ? bf16(rows * cols) : f16(rows * cols);
        const out = new Float32Array(tokens * rows);
        const s = time(() => k.matmul(out, x, w, dtype, tokens, rows, cols));
        const bytes = rows * cols * (dtype === 'f32' ? 4 : 2);
        result.gemv.push({
          dtype,
          tokens,
          rows,
          cols,
          us: r1(s * 1e6),
          gbps: r1(bytes / s / 1e9),
          gflops: r1((2 * tokens * rows * cols) / s / 1e9),
        });
      }
    }
  }
  // decode step of `small` (bf16): 8 layers of 7 GEMVs + lm_head, matmuls only
  {
    const shapes = [
      [512, 512],
      [256, 512],
      [256, 512],
      [512, 512],
      [1408, 512],
      [1408, 512],
      [512, 1408],
    ];
    let secs = 0;
    for (const [rows, cols] of shapes) {
      const x = f32(cols),
        w = bf16(rows * cols),
        out = new Float32Array(rows);
      secs += 8 * time(() => k.matmul(out, x, w, 'bf16', 1, rows, cols));
    }
    const x = f32(512),
      w = bf16(8192 * 512),
      out = new Float32Array(8192);
    secs += time(() => k.matmul(out, x, w, 'bf16', 1, 8192, 512));
    result.smallDecode = { msPerTokenMatmuls: r2(secs * 1e3), tokensPerSecondBound: r1(1 / secs) };
  }
}
// ---- sgemm: backward-pass shapes (dX = dY·W, dW = dYᵀ·X)
if (run('sgemm')) {
  for (const [name, tA, tB, m, n, kk] of [
    ['dX = dY W (NN)', false, false, 512, 512, 1408],
    ['dW = dY^T X (TN)', true, false, 1408, 512, 512],
    ['x W^T (NT)', false, true, 512, 1408, 512],
    ['TT', true, true, 512, 512, 512],
  ]) {
    const a = f32(m * kk),
      b = f32(kk * n),
      c = new Float32Array(m * n);
    const lda = tA ? m : kk,
      ldb = tB ? kk : n;
    const s = time(() => k.sgemm(tA, tB, m, n, kk, 1, a, lda, b, ldb, 0, c, n));
    result.sgemm.push({ name, m, n, k: kk, gflops: r1((2 * m * n * kk) / s / 1e9) });
  }
}
// ---- bit-plane matmul per width (rows 1408 x cols 512, and the 4096 x 4096 GEMV)
if (run('planes')) {
  for (const [rows, cols] of quick
    ? [[1408, 512]]
    : [
        [1408, 512],
        [4096, 4096],
      ]) {
    const P = 8;
    const planes = u32(P * rows * (cols / 32));
    for (const method of ['lut', 'bcq']) {
      for (const bits of quick ? [3, 8] : [2, 3, 4, 5, 6, 8]) {
        const groupSize = 128,
          groups = Math.ceil(cols / groupSize);
        const lut = f16(rows << bits);
        const scales = f16(rows * groups * bits),
          offsets = f16(rows * groups);
        const meta = method === 'lut' ? lut.length * 2 : (scales.length + offsets.length) * 2;
        const bytes = (bits * rows * cols) / 8 + meta;
        const run = (tokens, x, out) =>
          method === 'lut'
            ? k.matmulLut(out, x, planes, lut, tokens, rows, cols, bits)
            : k.matmulBcq(out, x, planes, scales, offsets, tokens, rows, cols, bits, groupSize);
        const entry = { method, bits, rows, cols };
        for (const tokens of rows > 2048 ? [1] : [1, 8, 512]) {
          const x = f32(tokens * cols),
            out = new Float32Array(tokens * rows);
          const s = time(() => run(tokens, x, out));
          entry[`t${tokens}`] =
            tokens === 1
              ? { us: r1(s * 1e6), gbps: r1(bytes / s / 1e9), gweightsPerS: r1((rows * cols) / s / 1e9) }
              : { us: r1(s * 1e6), gflops: r1((2 * tokens * rows * cols) / s / 1e9) };
        }
        result.planes.push(entry);
      }
    }
  }
}
// ---- attention: prefill (512 queries) and decode (1 query) with the small model's heads
if (run('attention')) {
  for (const [tokens, kvLen, posOffset] of quick
    ? [
        [512, 512, 0],
        [1, 512, 511],
      ]
    : [
        [512, 512, 0],
        [128, 640, 512],
        [1, 512, 511],
        [1, 2048, 2047],
      ]) {
    const heads = 8,
      kvHeads = 4,
      hd = 64;
    const q = f32(tokens * heads * hd),
      kc = f32(kvLen * kvHeads * hd),
      vc = f32(kvLen * kvHeads * hd);
    const out = new Float32Array(q.length);
    const s = time(() => k.attention(out, q, kc, vc, tokens, kvLen, heads, kvHeads, hd, posOffset, 0.125));
    let pairs = 0;
    for (let t = 0; t < tokens; t++) pairs += posOffset + t + 1;
    const flops = pairs * heads * hd * 4;
    result.attention.push({
      tokens,
      kvLen,
      heads,
      kvHeads,
      headDim: hd,
      us: r1(s * 1e6),
      gflops: r1(flops / s / 1e9),
    });
  }
}

console.log(JSON.stringify(result, null, 1));

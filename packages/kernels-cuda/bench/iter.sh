#!/usr/bin/env bash
# One development iteration on the device machine (repo root; carry the node archive, dist/
# and build/Release/): GPU correctness suite (ANYPREC_GPU_SHAPES, default small), then the
# quick benchmark on the Llama-3-8B shapes; compact summary on stdout, logs in $OUT.
set -u
. packages/kernels-cuda/bench/device-env.sh
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,power.draw --format=csv,noheader
cd packages/kernels-cuda
if [ "${SKIPTEST:-0}" != 1 ]; then
  ANYPREC_GPU_SHAPES=${SHAPES:-small} ANYPREC_TEST_LOG=$OUT/correctness.json timeout ${TTEST:-150} node --test --test-reporter=spec test/gpu/ > "$OUT/test.log" 2>&1
  echo "tests exit $?"; grep -E "^ℹ (tests|pass|fail)|✖" "$OUT/test.log" | head -12
fi
timeout ${TBENCH:-200} node bench/bench.mjs ${BENCH_ARGS:---quick --shapes 4096x4096,1024x4096,14336x4096,4096x14336} --out "$OUT/bench.json" > "$OUT/summary.json" 2> "$OUT/bench.log"
echo "bench exit $?"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1])); const s = r.summary;
const f = (o) => Object.entries(o).map(([k, v]) => k + ":" + (typeof v === "object" ? (v.speedup ?? v.worst ?? JSON.stringify(v)) : v)).join(" ");
console.log("SUM", f(s.llama3_8b_decoder_sum_M1)); console.log("GBPS", f(s.gbps_14336x4096_M1)); console.log("M8/M1", f(s.m8_over_m1));
' "$OUT/bench.json"

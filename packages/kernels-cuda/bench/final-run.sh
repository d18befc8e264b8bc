#!/usr/bin/env bash
# Final device run, from the repo root, carrying .gpu/node-v20.20.2-linux-x64.xz,
# packages/kernels-cuda/dist and packages/kernels-cuda/build/Release (or build/vx/prod.node.xz,
# see bench/device-env.sh): the GPU correctness
# suite (ANYPREC_GPU_SHAPES=${SHAPES:-medium}; then the small shapes with the AnyBCQ table
# kernel forced at one token and with the fp16 Any-Precision table kernel forced), then the full benchmark (cuBLAS fp16 in the
# same process), then the decoder-layer sequence at 1 and 8 tokens (bench/sequence.mjs).
# Logs and JSON go to $OUT.
set -u
. packages/kernels-cuda/bench/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv,noheader
cd packages/kernels-cuda
ANYPREC_GPU_SHAPES=${SHAPES:-medium} ANYPREC_TEST_LOG=$OUT/correctness.json timeout ${TTEST:-200} node --test --test-reporter=spec test/gpu/ > "$OUT/test.log" 2>&1
echo "tests exit $?"; grep -E "^ℹ (tests|pass|fail)|✖" "$OUT/test.log" | head -12
# AnyBCQ at one token runs the binary-mma kernel where groupSize % 128 == 0 and the table
# kernel otherwise: the small shapes once more with the table kernel forced, so both run at
# every width on every group size.
ANYPREC_BCQ_PLANES=0 ANYPREC_GPU_SHAPES=small timeout ${TFORCED:-120} node --test --test-reporter=spec test/gpu/ > "$OUT/test-planes0.log" 2>&1
echo "small suite, ANYPREC_BCQ_PLANES=0: exit $?"; grep -E "^ℹ (pass|fail)|✖" "$OUT/test-planes0.log" | head -6
# Any-Precision 2-4 bits at one token runs the integer table kernel; the fp16 table kernel once
# more on the small shapes, so both stay tested.
ANYPREC_LUT_INT=0 ANYPREC_GPU_SHAPES=small timeout ${TFORCED:-120} node --test --test-reporter=spec test/gpu/ > "$OUT/test-lutint0.log" 2>&1
echo "small suite, ANYPREC_LUT_INT=0: exit $?"; grep -E "^ℹ (pass|fail)|✖" "$OUT/test-lutint0.log" | head -6
timeout ${TBENCH:-330} node bench/bench.mjs ${BENCH_ARGS:-} --out "$OUT/bench.json" 2> "$OUT/bench.log"
echo "bench exit $?"
for T in 1 8; do
  timeout ${TSEQ:-60} node bench/sequence.mjs lut:2,lut:3,lut:4,lut:8,bcq:1,bcq:2,bcq:3,bcq:4,bcq:8 $T > "$OUT/sequence-$T.jsonl" 2>&1
  echo "sequence $T tokens exit $?"
done

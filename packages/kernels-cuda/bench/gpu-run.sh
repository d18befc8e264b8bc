#!/usr/bin/env bash
# Run the GPU correctness suite and the benchmark on the device machine (no Node there):
#   bash packages/kernels-cuda/bench/gpu-run.sh [test|bench|quick|all]   (from the repo root)
# Needs .gpu/node-v20.20.2-linux-x64.xz, packages/kernels-cuda/{dist,build/Release} carried.
# Writes logs and JSON to $OUT (or ./out).
set -u
MODE=${1:-all}
OUTDIR=${OUT:-$PWD/out}
mkdir -p "$OUTDIR"
. packages/kernels-cuda/bench/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv,noheader
echo "cublas: $ANYPREC_CUBLAS"
cd packages/kernels-cuda
if [ "$MODE" = test ] || [ "$MODE" = all ] || [ "$MODE" = quick ]; then
  [ "$MODE" = quick ] && export ANYPREC_GPU_SHAPES=${ANYPREC_GPU_SHAPES:-medium}
  ANYPREC_TEST_LOG=$OUTDIR/correctness.json timeout 330 node --test --test-reporter=spec test/gpu/ > "$OUTDIR/test.log" 2>&1
  echo "test exit $?"
  grep -E "^# (tests|pass|fail|skipped)|✖|not ok|Error" "$OUTDIR/test.log" | head -30
fi
if [ "$MODE" = bench ] || [ "$MODE" = all ] || [ "$MODE" = quick ]; then
  Q=""; [ "$MODE" = quick ] && Q=--quick
  timeout 300 node bench/bench.mjs $Q --out "$OUTDIR/bench.json" 2> "$OUTDIR/bench.log"
  echo "bench exit $?"
  tail -5 "$OUTDIR/bench.log"
fi

#!/usr/bin/env bash
# Final device run: correctness of a candidate addon, then the full benchmark with the
# candidate if it passed, else with the built addon. (repo root; carries .gpu, dist, build/Release)
set -u
N=$(mktemp -d) && xz -dc .gpu/node-v20.20.2-linux-x64.xz > "$N/node" && chmod +x "$N/node" && export PATH=$N:$PATH
export ANYPREC_CUBLAS=${ANYPREC_CUBLAS:-$(find /usr/local/cuda*/lib64 /opt -name 'libcublas.so.1[23]*' 2>/dev/null | sort | head -1)}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv,noheader
cd packages/kernels-cuda
CAND=${1:-}
USE=$PWD/build/Release/anyprec_cuda.node
if [ -n "$CAND" ]; then
  ANYPREC_CUDA_ADDON=$CAND ANYPREC_GPU_SHAPES=${SHAPES:-medium} ANYPREC_TEST_LOG=$OUT/correctness.json timeout 200 node --test --test-reporter=spec test/gpu/ > "$OUT/test.log" 2>&1
  rc=$?; echo "candidate tests exit $rc"; grep -E "^ℹ (tests|pass|fail)|✖" "$OUT/test.log" | head -8
  [ $rc = 0 ] && USE=$CAND
fi
echo "benchmarking $USE"
ANYPREC_CUDA_ADDON=$USE timeout 280 node bench/bench.mjs ${BENCH_ARGS:-} --out "$OUT/bench.json" 2> "$OUT/bench.log" | tail -80

#!/usr/bin/env bash
# Final device run, from the repo root, carrying .gpu/node-v20.20.2-linux-x64.xz,
# packages/kernels-cuda/dist and packages/kernels-cuda/build/Release: the GPU correctness
# suite (ANYPREC_GPU_SHAPES=${SHAPES:-medium}), then the full benchmark (cuBLAS fp16 in the
# same process). Logs and JSON go to $OUT.
set -u
N=$(mktemp -d) && xz -dc .gpu/node-v20.20.2-linux-x64.xz > "$N/node" && chmod +x "$N/node" && export PATH=$N:$PATH
export ANYPREC_CUBLAS=${ANYPREC_CUBLAS:-$(find /usr/local/cuda*/lib64 /opt /usr/lib /usr/local/lib -name 'libcublas.so.1[23]*' 2>/dev/null | sort | head -1)}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv,noheader
cd packages/kernels-cuda
ANYPREC_GPU_SHAPES=${SHAPES:-medium} ANYPREC_TEST_LOG=$OUT/correctness.json timeout ${TTEST:-200} node --test --test-reporter=spec test/gpu/ > "$OUT/test.log" 2>&1
echo "tests exit $?"; grep -E "^ℹ (tests|pass|fail)|✖" "$OUT/test.log" | head -12
timeout ${TBENCH:-330} node bench/bench.mjs ${BENCH_ARGS:-} --out "$OUT/bench.json" 2> "$OUT/bench.log"
echo "bench exit $?"

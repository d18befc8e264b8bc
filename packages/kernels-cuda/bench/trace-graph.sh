#!/usr/bin/env bash
# Steady-state timelines of graph replays (device machine, repo root; carry build/variants/trace.node,
# or TRACE=NAME for build/variants/NAME.node).
set -u
. packages/kernels-cuda/bench/device-env.sh
cd packages/kernels-cuda
for c in "$@"; do
  f=$OUT/graph-${TRACE:-trace}-${c// /-}.bin
  ANYPREC_TRACE_GRAPH=$f ANYPREC_CUDA_ADDON=$PWD/build/variants/${TRACE:-trace}.node ANYPREC_TRACE=1 timeout 60 node bench/one.mjs $c 2>&1 | grep -v "^{.trace"
done

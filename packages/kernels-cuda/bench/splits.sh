#!/usr/bin/env bash
# Development aid (device machine, repo root; carry the node archive, dist/ and
# build/Release/): time configurations under forced cluster size / tiles per CTA.
#   CFGS="lut 3 1024 4096 8|..." FORCE="1:0 2:0 8:4" bash packages/kernels-cuda/bench/splits.sh
. packages/kernels-cuda/bench/device-env.sh
cd packages/kernels-cuda
IFS='|' read -ra cfgs <<< "${CFGS:-lut 3 1024 4096 8}"
for cfg in "${cfgs[@]}"; do
  for f in ${FORCE:-0:0}; do
    sk=${f%%:*}; tl=${f#*:}
    ANYPREC_FUSED_DEBUG=1 ANYPREC_SPLITK=$sk ANYPREC_TILES=$tl node bench/one.mjs $cfg 2>&1 | sort -u | tr '\n' ' ' | sed -E 's/\{"method.*"us":([0-9.]+).*/us=\1/'; echo
  done
done

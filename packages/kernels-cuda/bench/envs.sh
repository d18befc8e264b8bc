#!/usr/bin/env bash
# Compare run-time overrides of the package build in one device run (repo root):
#   bash packages/kernels-cuda/bench/envs.sh "old=ANYPREC_COLOCATE=0 ANYPREC_PAIR=0" "auto=" ...
# Quick bench per setting (bench-NAME.json in $OUT) + the same summary lines as variants.sh.
. packages/kernels-cuda/bench/device-env.sh
cd packages/kernels-cuda
for spec in "$@"; do
  name=${spec%%=*}; vars=${spec#*=}
  env $vars timeout 150 node bench/bench.mjs ${BENCH_ARGS:---quick} --out "$OUT/bench-$name.json" 2>/dev/null >/dev/null
  python3 - "$OUT/bench-$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d['summary']
print(sys.argv[2], 'sum-speedup', {k: v['speedup'] for k, v in s['llama3_8b_decoder_sum_M1'].items()})
print(sys.argv[2], 'GB/s 14336x4096', s['gbps_14336x4096_M1'])
print(sys.argv[2], 'M8/M1', {k: v['worst'] for k, v in s['m8_over_m1'].items()})
PY
done

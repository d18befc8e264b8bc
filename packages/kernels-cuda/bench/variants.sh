#!/usr/bin/env bash
# Compare addon builds (tuning knobs) or run-time overrides in one device run: quick bench per
# variant + summary (repo root).
#   bash packages/kernels-cuda/bench/variants.sh NAME=/abs/path.node ...        another build
#   bash packages/kernels-cuda/bench/variants.sh "NAME=env:ANYPREC_COLOCATE=0" ...  the package build
#                                                                            with these variables
. packages/kernels-cuda/bench/device-env.sh
cd packages/kernels-cuda
for spec in "$@"; do
  name=${spec%%=*}; value=${spec#*=}
  if [ "${value#env:}" != "$value" ]; then vars=(${value#env:}); else vars=("ANYPREC_CUDA_ADDON=$value"); fi
  env "${vars[@]}" timeout 150 node bench/bench.mjs ${BENCH_ARGS:---quick} --out "$OUT/bench-$name.json" 2>/dev/null >/dev/null
  python3 - "$OUT/bench-$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d['summary']
print(sys.argv[2], 'sum-speedup', {k: v['speedup'] for k, v in s['llama3_8b_decoder_sum_M1'].items()})
print(sys.argv[2], 'GB/s 14336x4096', s['gbps_14336x4096_M1'])
print(sys.argv[2], 'M8/M1', {k: v['worst'] for k, v in s['m8_over_m1'].items()})
PY
done

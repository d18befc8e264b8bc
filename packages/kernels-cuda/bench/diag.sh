#!/usr/bin/env bash
# Development diagnostics on the device machine (repo root): quick suite + bench of the
# production build, the variants given as NAME=relative/path.node, single-launch phase
# timelines of the configurations in TRACE_CFGS (needs build/variants/trace.node), then the
# per-launch time of the FLOOR_CFGS configurations.
set -u
. packages/kernels-cuda/bench/device-env.sh
ROOT=$PWD
[ "${SKIPITER:-0}" = 1 ] || bash packages/kernels-cuda/bench/iter.sh
specs=()
for v in "$@"; do specs+=("${v%%=*}=$ROOT/${v#*=}"); done
[ ${#specs[@]} -gt 0 ] && bash packages/kernels-cuda/bench/variants.sh "${specs[@]}"
cd packages/kernels-cuda
if [ -n "${TRACE_CFGS:-}" ] && [ -f build/variants/trace.node ]; then
  IFS=, read -ra cfgs <<< "$TRACE_CFGS"  # e.g. TRACE_CFGS="lut 3 14336 4096 1,bcq 3 14336 4096 1"
  for c in "${cfgs[@]}"; do
    echo "== trace $c"
    ANYPREC_TRACE_FILE=$OUT/trace-${c// /-}.bin ANYPREC_CUDA_ADDON=$ROOT/packages/kernels-cuda/build/variants/trace.node ANYPREC_TRACE=1 timeout 60 node bench/one.mjs $c 2>&1 | tail -2
  done
fi
IFS=, read -ra floors <<< "${FLOOR_CFGS:-lut 3 16 512 1,lut 3 128 512 1,lut 3 1024 4096 1}"
for c in "${floors[@]}"; do node bench/one.mjs $c; done
[ "${SASS:-0}" = 1 ] && cd "$ROOT" && bash packages/kernels-cuda/bench/sass-dump.sh

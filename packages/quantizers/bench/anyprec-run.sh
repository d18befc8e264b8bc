#!/usr/bin/env bash
# Runs a TypeScript bench script against the workspace *sources* (no package needs a
# fresh dist): esbuild bundles it with @anyprec/* aliased to packages/*/src, the native
# CPU addon is the built packages/kernels-cpu/build/Release/anyprec_cpu.node.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
script="$1"; shift
esbuild="$(ls -d "$root"/node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)"
out="$(mktemp -d)/bench.mjs"
"$esbuild" "$here/$script" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --alias:@anyprec/format/node="$root/packages/format/src/node.ts" \
  --alias:@anyprec/format="$root/packages/format/src/index.ts" \
  --alias:@anyprec/runtime="$root/packages/runtime/src/index.ts" \
  --alias:@anyprec/kernels-cpu="$root/packages/kernels-cpu/src/index.ts" \
  --alias:@anyprec/kernels-cuda="$root/packages/kernels-cuda/src/index.ts" \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$out"
ANYPREC_CPU_ADDON="${ANYPREC_CPU_ADDON:-$root/packages/kernels-cpu/build/Release/anyprec_cpu.node}" node "$out" "$@"

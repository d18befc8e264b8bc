#!/usr/bin/env bash
# Build a copy of the addon with extra compile-time knobs into build/variants/NAME.node
# and a compressed copy into build/vx/NAME.node.xz for carrying to the device machine
# (development aid, local machine, after `npx cmake-js compile --out build`):
#   bash bench/build-variant.sh NAME -DANYPREC_TRACE=1 [...]
set -eu
cd "$(dirname "$0")/../build"
name=$1; shift
mkdir -p variants
cu=$(ninja -t commands | grep -m1 'nvcc .*bitplane.cu')
obj="variants/$name.o"
eval "${cu/ -o CMakeFiles\/anyprec_cuda.dir\/native\/bitplane.cu.o/ $* -o $obj}"
link=$(ninja -t commands | grep -m1 -- '-shared')
link=${link/Release\/anyprec_cuda.node/variants\/$name.node}
link=${link/CMakeFiles\/anyprec_cuda.dir\/native\/bitplane.cu.o/$obj}
eval "$link"
rm -f "$obj"
mkdir -p vx && xz -T4 -6 -c "variants/$name.node" > "vx/$name.node.xz"
echo "built build/variants/$name.node (+ build/vx/$name.node.xz)"

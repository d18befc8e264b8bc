# Sourced by the device scripts (repo root): Node on PATH from the carried archive, cuBLAS
# located, and addons carried compressed as packages/kernels-cuda/build/vx/NAME.node.xz
# unpacked (prod = the package's own build/Release addon; others to build/variants/NAME.node).
# Runs once per process tree: scripts that call each other inherit the environment.
[ -n "${ANYPREC_DEVICE_ENV:-}" ] && return 0
export ANYPREC_DEVICE_ENV=1
for f in packages/kernels-cuda/build/vx/*.node.xz; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .node.xz)
  mkdir -p packages/kernels-cuda/build/variants packages/kernels-cuda/build/Release
  if [ "$n" = prod ]; then xz -dc "$f" > packages/kernels-cuda/build/Release/anyprec_cuda.node
  else xz -dc "$f" > "packages/kernels-cuda/build/variants/$n.node"; fi
done
N=$(mktemp -d) && xz -dc .gpu/node-v20.20.2-linux-x64.xz > "$N/node" && chmod +x "$N/node" && export PATH=$N:$PATH
export ANYPREC_CUBLAS=${ANYPREC_CUBLAS:-$(find /usr/local/cuda*/lib64 /opt /usr/lib /usr/local/lib -name 'libcublas.so.1[23]*' 2>/dev/null | sort | head -1)}

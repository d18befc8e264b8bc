#!/usr/bin/env bash
# SASS of selected kernels and an instruction-mix summary (device machine, repo root).
set -u
CUOBJ=$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)
NODEF=${NODEF:-packages/kernels-cuda/build/Release/anyprec_cuda.node}
"$CUOBJ" -sass "$NODEF" > /tmp/all.sass 2>&1
echo "sass lines $(wc -l < /tmp/all.sass)"
for K in ${KERNELS:-fusedKernelILi0ELi3ELi1EEE fusedKernelILi0ELi8ELi1EEE fusedKernelILi1ELi3ELi1EEE fusedKernelILi0ELi4ELi1EEE}; do
  awk -v k="$K" '/Function : /{p = index($0, k) > 0} p' /tmp/all.sass > "$OUT/$K.sass"
  echo "== $K $(wc -l < "$OUT/$K.sass") lines"
  grep -oE '^\s+/\*[0-9a-f]+\*/\s+(@!?U?P[0-9T] )?[A-Z0-9_.]+' "$OUT/$K.sass" | awk '{print $NF}' | sed 's/\..*//' | sort | uniq -c | sort -rn | head -25 | tr '\n' ' '; echo
done

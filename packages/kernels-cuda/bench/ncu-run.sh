#!/usr/bin/env bash
# Nsight Compute profile of one launch per configuration (device machine, repo root; carry
# the node archive, dist/ and build/Release/). CONFIGS as in bench/profile.mjs.
set -u
. packages/kernels-cuda/bench/device-env.sh
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
cd packages/kernels-cuda
"$NCU" --clock-control none -k regex:"${KERNEL:-fusedKernel}" \
  --section SpeedOfLight --section Occupancy --section WarpStateStats --section ComputeWorkloadAnalysis \
  --section SchedulerStats --section LaunchStats --section InstructionStats --section MemoryWorkloadAnalysis \
  node bench/profile.mjs "${CONFIGS:-lut:3:14336:4096:1,lut:3:14336:4096:8,bcq:3:14336:4096:1,lut:8:14336:4096:1}" > "$OUT/ncu.txt" 2>&1
echo "ncu exit $?"
grep -E "fusedKernel|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|Executed Ipc A|Theoretical Occ|Block Limit|Grid Size|Dynamic Shared" "$OUT/ncu.txt" | head -120

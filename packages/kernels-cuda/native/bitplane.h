// Host-side declarations of the CUDA bit-plane kernels (bitplane.cu), shared with the
// N-API layer (kernels.cpp). All pointers are device pointers; callers validate shapes
// and buffer sizes before calling (kernels.cpp does), these functions only launch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

namespace anyprec_cuda {

enum Method : int { kMethodLut = 0, kMethodBcq = 1 };

/** Grid choice of the fused kernel (README, "Colocation"): the measured rules, or never a grid
 *  of one CTA per SM (for launches that follow a different kernel on the stream). */
enum Colocate : int { kColocateAuto = 0, kColocateNever = 1 };

/** Largest token count of the fused tensor-core kernel; more tokens go through prefill. */
constexpr int kFusedMaxTokens = 16;

struct BitplaneArgs {
  int method = kMethodLut;
  float* out = nullptr;              // f32 [tokens, rows]
  const uint16_t* x = nullptr;       // f16 [tokens, cols]
  const uint32_t* planes = nullptr;  // u32 [P, rows, cols/32], P >= bits (layout v1)
  const uint16_t* table = nullptr;   // lut: f16 [rows, 2^bits]; bcq: scales f16 [rows, groups, bits]
  const uint16_t* offsets = nullptr; // bcq only, optional: f16 [rows, groups]
  int tokens = 0, rows = 0, cols = 0, bits = 0, groupSize = 0;
  int colocate = kColocateAuto;
};

/** Largest `cols` the fused kernel accepts for this token count (x slice must fit shared memory). */
int fusedMaxCols(int tokens);

/** Whether launchFused would size this launch's grid at one CTA per SM ("colocation"). */
bool fusedColocates(const BitplaneArgs& a);

/** out = x · Wᵀ through the fused kernel; tokens in 1..kFusedMaxTokens. */
cudaError_t launchFused(const BitplaneArgs& a, cudaStream_t stream);

/** W (f16 [rows, cols]) = dequantised weights at `bits`, the prefill path's first half. */
cudaError_t launchDequant(const BitplaneArgs& a, uint16_t* weightF16, cudaStream_t stream);

/** Rows [rowBegin, rowBegin + rowCount) of W into weightF16 (f16 [rowCount, cols]). */
cudaError_t launchDequantRows(const BitplaneArgs& a, int rowBegin, int rowCount, uint16_t* weightF16, cudaStream_t stream);

/** Deterministic pseudo-random fill (benchmarks, tests): u32 words, or f16 values in [lo, hi). */
cudaError_t launchFillU32(uint32_t* dst, size_t count, uint32_t seed, cudaStream_t stream);
cudaError_t launchFillF16(uint16_t* dst, size_t count, uint32_t seed, float lo, float hi, cudaStream_t stream);

}  // namespace anyprec_cuda

// Issue rate of three mma.sync shapes (fp16 m16n8k16, binary m16n8k256 AND+popc, int8
// m16n8k32) per SM: each warp runs CHAINS independent accumulator chains of ITERS mmas, one CTA
// of 4 / 8 / 16 warps per SM. Why: the binary-mma AnyBCQ kernel (native/bitplane.cu, mmaPopc)
// relies on the binary shape issuing as fast as the fp16 one. Build here, run on the device:
//   nvcc -O3 -arch=sm_90a -o .gpu/mma-rate packages/kernels-cuda/bench/mma-rate.cu   (carry .gpu/mma-rate)
// The mma/clk figure divides by the maximum SM clock, so it is a lower bound.
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>
constexpr int ITERS = 4096, CHAINS = 4;
enum Shape { kF16, kB1, kS8 };
template <int SHAPE>
__global__ void mmaLoop(float* out, uint32_t seed) {
  const uint32_t a0 = seed ^ threadIdx.x, a1 = a0 * 3, a2 = a0 * 5, a3 = a0 * 7, b0 = a0 * 11, b1 = a0 * 13;
  uint32_t c[CHAINS][4] = {};  // fp32 or s32 accumulators, as bits
  for (int i = 0; i < ITERS; ++i)
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
      if constexpr (SHAPE == kF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[k][0]), "+r"(c[k][1]), "+r"(c[k][2]), "+r"(c[k][3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
      else if constexpr (SHAPE == kB1)
        asm volatile("mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[k][0]), "+r"(c[k][1]), "+r"(c[k][2]), "+r"(c[k][3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
      else
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(c[k][0]), "+r"(c[k][1]), "+r"(c[k][2]), "+r"(c[k][3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  uint32_t s = 0;  // keep every chain live
  for (int k = 0; k < CHAINS; ++k) s ^= c[k][0] ^ c[k][1] ^ c[k][2] ^ c[k][3];
  out[blockIdx.x * blockDim.x + threadIdx.x] = (float)s;
}
template <typename K> void run(const char* name, K kernel, int warps) {
  int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  int clk; cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, 0);
  float* out; cudaMalloc(&out, sms * warps * 32 * 4 * 4);
  kernel<<<sms, warps * 32>>>(out, 1); cudaDeviceSynchronize();
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  cudaEventRecord(e0); kernel<<<sms, warps * 32>>>(out, 2); cudaEventRecord(e1); cudaEventSynchronize(e1);
  float ms; cudaEventElapsedTime(&ms, e0, e1);
  const double mmasPerSm = (double)warps * ITERS * CHAINS;
  const double cyc = ms * 1e-3 * clk * 1e3;
  printf("%s warps/SM %d: %.3f ms, %.2f mma/clk/SM (at %d MHz max clock), err %s\n", name, warps, ms, mmasPerSm / cyc, clk / 1000,
         cudaGetErrorString(cudaGetLastError()));
  cudaFree(out);
}
int main() {
  for (int w : {4, 8, 16}) {
    run("f16 m16n8k16", mmaLoop<kF16>, w);
    run("b1 m16n8k256 and.popc", mmaLoop<kB1>, w);
    run("s8 m16n8k32", mmaLoop<kS8>, w);
  }
}

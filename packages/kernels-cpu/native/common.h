#pragma once
// Shared helpers for the kernel files: argument validation (done before any memory is
// touched), half-precision conversion, run-time ISA selection and the thread pool.
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace anyprec {

// ---------------------------------------------------------------------------------------
// Instruction set chosen at run time. Tests may force a lower level to exercise fallbacks.
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };
Isa ActiveIsa();        // what kernels use now
Isa BestIsa();          // what this CPU supports
void ForceIsa(Isa isa);  // clamps to BestIsa()
const char* IsaName(Isa isa);

// ---------------------------------------------------------------------------------------
// Thread pool: created once, reused by every call. ParallelFor(n, fn) runs fn(i) for every
// chunk i in [0, n), handing chunks out dynamically: the calling thread works too and never
// waits for a worker that has not started (the machine may be shared), only for chunks
// already taken. Each output element must belong to exactly one chunk, so results do not
// depend on the thread count.
int Threads();
void SetThreads(int n);
void ParallelFor(int64_t chunks, const std::function<void(int64_t chunk)>& fn);
// Static split: fn(tid, n) on exactly n threads (the caller is tid 0); returns when all have
// finished, so it waits for every worker. Prefer ParallelFor on a shared machine.
void ParallelRun(int n, const std::function<void(int tid, int nthreads)>& fn);
// Splits [0, total) into n nearly equal contiguous ranges (in units of `grain`).
inline void SplitRange(int64_t total, int tid, int n, int64_t grain, int64_t* begin, int64_t* end) {
  int64_t units = (total + grain - 1) / grain;
  int64_t b = units * tid / n, e = units * (tid + 1) / n;
  *begin = b * grain < total ? b * grain : total;
  *end = e * grain < total ? e * grain : total;
}

// ---------------------------------------------------------------------------------------
// Half precision <-> f32 (scalar; vector paths convert in registers).
inline float Bf16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float F16ToF32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        mant <<= 1;
        ++e;
      } while ((mant & 0x400) == 0);
      u = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | mant << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
void F16RowToF32(const uint16_t* src, float* dst, int64_t n);

// ---------------------------------------------------------------------------------------
// Argument validation. Every exported function reads its arguments through these, so a
// wrong type throws TypeError and a wrong size throws RangeError, both naming the argument.
[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);

template <typename T>
struct ArrayArg {
  T* data = nullptr;
  size_t length = 0;
};

ArrayArg<float> F32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
ArrayArg<uint16_t> U16Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
ArrayArg<uint32_t> U32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
// Non-negative integer below 2^31 (at least `min`).
int64_t DimArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min = 0);
double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name);
bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* name, bool defaultValue);
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name);
bool IsNullish(const Napi::CallbackInfo& info, size_t i);
// Throws RangeError unless `have >= need` ("<name> has <have> elements, needs <need> (<shape>)").
void NeedLength(Napi::Env env, const char* name, size_t have, int64_t need, const std::string& shape);
// Throws RangeError unless `have == need`.
void ExactLength(Napi::Env env, const char* name, size_t have, int64_t need, const std::string& shape);

}  // namespace anyprec

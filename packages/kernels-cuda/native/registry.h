#pragma once
#include <napi.h>

namespace anyprec_cuda {
void RegisterInfo(Napi::Env env, Napi::Object exports);  // info.cpp: availability, device name
#if ANYPREC_HAS_CUDA
void RegisterKernels(Napi::Env env, Napi::Object exports);  // kernels.cpp: buffers, launches
#endif
}  // namespace anyprec_cuda

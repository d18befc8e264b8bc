#include <string>
#include "registry.h"
#if ANYPREC_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace anyprec_cuda {
static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#if ANYPREC_HAS_CUDA
  out.Set("compiled", Napi::Boolean::New(env, true));
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    out.Set("available", Napi::Boolean::New(env, false));
    std::string reason = err != cudaSuccess ? std::string("CUDA runtime: ") + cudaGetErrorString(err)
                                            : std::string("no CUDA device found");
    out.Set("reason", Napi::String::New(env, reason));
    return out;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  out.Set("available", Napi::Boolean::New(env, true));
  out.Set("deviceCount", Napi::Number::New(env, count));
  out.Set("device", Napi::String::New(env, prop.name));
  out.Set("computeCapability", Napi::String::New(env, std::to_string(prop.major) + "." + std::to_string(prop.minor)));
#else
  out.Set("compiled", Napi::Boolean::New(env, false));
  out.Set("available", Napi::Boolean::New(env, false));
  out.Set("reason", Napi::String::New(env,
      "@anyprec/kernels-cuda was built without CUDA (nvcc was not found at build time); "
      "install the CUDA toolkit and run `pnpm --filter @anyprec/kernels-cuda build`"));
#endif
  return out;
}

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
}
}  // namespace anyprec_cuda

#include <thread>
#include "registry.h"

namespace anyprec {
static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("hardwareThreads", Napi::Number::New(env, std::thread::hardware_concurrency()));
#if defined(__x86_64__)
  __builtin_cpu_init();
  out.Set("avx2", Napi::Boolean::New(env, __builtin_cpu_supports("avx2")));
  out.Set("avx512f", Napi::Boolean::New(env, __builtin_cpu_supports("avx512f")));
#endif
  return out;
}

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
}
}  // namespace anyprec

// Capability report and thread/ISA controls.
#include <thread>

#include "common.h"
#include "registry.h"

namespace anyprec {
static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("hardwareThreads", Napi::Number::New(env, std::thread::hardware_concurrency()));
  out.Set("threads", Napi::Number::New(env, Threads()));
  out.Set("isa", Napi::String::New(env, IsaName(ActiveIsa())));
  out.Set("bestIsa", Napi::String::New(env, IsaName(BestIsa())));
#if defined(__x86_64__)
  __builtin_cpu_init();
  out.Set("avx2", Napi::Boolean::New(env, __builtin_cpu_supports("avx2")));
  out.Set("fma", Napi::Boolean::New(env, __builtin_cpu_supports("fma")));
  out.Set("avx512f", Napi::Boolean::New(env, __builtin_cpu_supports("avx512f")));
  out.Set("avx512bw", Napi::Boolean::New(env, __builtin_cpu_supports("avx512bw")));
  out.Set("avx512vl", Napi::Boolean::New(env, __builtin_cpu_supports("avx512vl")));
  out.Set("avx512bf16", Napi::Boolean::New(env, __builtin_cpu_supports("avx512bf16")));
  out.Set("avx512vnni", Napi::Boolean::New(env, __builtin_cpu_supports("avx512vnni")));
#endif
  return out;
}

static Napi::Value SetThreadsJs(const Napi::CallbackInfo& info) {
  int64_t n = DimArg(info, 0, "n", 1);
  if (n > 256) ThrowRange(info.Env(), "n must be at most 256, got " + std::to_string(n));
  SetThreads(static_cast<int>(n));
  return info.Env().Undefined();
}

static Napi::Value ThreadsJs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Threads()); }

// Forces a lower instruction set (tests use it to check the AVX2 and scalar fallbacks).
static Napi::Value SetIsaJs(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "isa");
  if (name == "avx512") ForceIsa(Isa::Avx512);
  else if (name == "avx2") ForceIsa(Isa::Avx2);
  else if (name == "scalar") ForceIsa(Isa::Scalar);
  else if (name == "best") ForceIsa(BestIsa());
  else ThrowType(info.Env(), "isa must be 'avx512', 'avx2', 'scalar' or 'best', got '" + name + "'");
  return Napi::String::New(info.Env(), IsaName(ActiveIsa()));
}

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreadsJs, "setThreads"));
  exports.Set("threads", Napi::Function::New(env, ThreadsJs, "threads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsaJs, "setIsa"));
}
}  // namespace anyprec

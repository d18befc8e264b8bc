// Module entry: each kernel family lives in its own file and registers its exports here.
#include <napi.h>
#include "registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  anyprec::RegisterInfo(env, exports);
  anyprec::RegisterGemm(env, exports);
  anyprec::RegisterPlanes(env, exports);
  anyprec::RegisterAttention(env, exports);
  anyprec::RegisterQuant(env, exports);
  anyprec::RegisterBcq(env, exports);
  return exports;
}

NODE_API_MODULE(anyprec_cpu, Init)

// Module entry for @anyprec/kernels-cuda. Loading this file must never fail for
// lack of a GPU or driver: availability is reported by info(), not by throwing.
#include <napi.h>
#include "registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  anyprec_cuda::RegisterInfo(env, exports);
#if ANYPREC_HAS_CUDA
  anyprec_cuda::RegisterKernels(env, exports);
#endif
  return exports;
}

NODE_API_MODULE(anyprec_cuda, Init)

#include "registry.h"

namespace anyprec_cuda {
#if ANYPREC_HAS_CUDA
void RegisterKernels(Napi::Env, Napi::Object) {}
#endif
}  // namespace anyprec_cuda

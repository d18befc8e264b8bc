#include "registry.h"

namespace anyprec {
void RegisterAttention(Napi::Env, Napi::Object) {}
}  // namespace anyprec

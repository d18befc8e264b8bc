#include "registry.h"

namespace anyprec {
void RegisterBcq(Napi::Env, Napi::Object) {}
}  // namespace anyprec

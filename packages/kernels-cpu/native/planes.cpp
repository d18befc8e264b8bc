#include "registry.h"

namespace anyprec {
void RegisterPlanes(Napi::Env, Napi::Object) {}
}  // namespace anyprec

#pragma once
#include <napi.h>

// One Register* per native/*.cpp file; addon.cpp calls them all at load.
namespace anyprec {
void RegisterInfo(Napi::Env env, Napi::Object exports);       // info.cpp
void RegisterGemm(Napi::Env env, Napi::Object exports);       // gemm.cpp
void RegisterPlanes(Napi::Env env, Napi::Object exports);     // planes.cpp
void RegisterAttention(Napi::Env env, Napi::Object exports);  // attention.cpp
void RegisterQuant(Napi::Env env, Napi::Object exports);      // quant.cpp (Any-Precision quantizer hot loops)
void RegisterBcq(Napi::Env env, Napi::Object exports);        // bcq.cpp (AnyBCQ quantizer hot loops)
}  // namespace anyprec

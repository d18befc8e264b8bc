// N-API surface of the CUDA kernels: device buffers, streams, graphs, events, launches.
// Every launch validates its integer arguments and the byte sizes of the buffers it will
// touch before anything reaches the GPU, so a bad call throws and never faults the device.
// Launches go to the caller's non-blocking stream (never the default stream) and allocate
// nothing, so a sequence of them can be captured into a CUDA graph.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <glob.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "bitplane.h"
#include "registry.h"

namespace anyprec_cuda {
namespace {

[[noreturn]] void ThrowCuda(Napi::Env env, cudaError_t err, const std::string& what) {
  cudaGetLastError();  // clear a sticky non-fatal error so the next call starts clean
  throw Napi::Error::New(env, "CUDA error in " + what + ": " + cudaGetErrorName(err) + " (" +
                                  cudaGetErrorString(err) + ")");
}

void Check(Napi::Env env, cudaError_t err, const std::string& what) {
  if (err != cudaSuccess) ThrowCuda(env, err, what);
}

[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  if (i >= info.Length() || !info[i].IsNumber()) ThrowType(info.Env(), std::string(name) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    ThrowRange(info.Env(), std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

// ---------------------------------------------------------------- DeviceBuffer
class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "DeviceBuffer",
                                   {InstanceAccessor<&DeviceBuffer::ByteLength>("byteLength"),
                                    InstanceAccessor<&DeviceBuffer::Freed>("freed"),
                                    InstanceMethod<&DeviceBuffer::Upload>("upload"),
                                    InstanceMethod<&DeviceBuffer::Download>("download"),
                                    InstanceMethod<&DeviceBuffer::Free>("free")});
    ctor = Napi::Persistent(f);
    exports.Set("DeviceBuffer", f);
  }
  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    bytes_ = static_cast<size_t>(IntArg(info, 0, "byteLength", 1, int64_t(1) << 40));
    Check(info.Env(), cudaMalloc(&ptr_, bytes_), "cudaMalloc(" + std::to_string(bytes_) + " bytes)");
  }
  ~DeviceBuffer() override { Release(); }

  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }

  static DeviceBuffer* From(const Napi::CallbackInfo& info, size_t i, const char* name, bool optional = false) {
    if (optional && (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined())) return nullptr;
    if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(ctor.Value()))
      ThrowType(info.Env(), std::string(name) + " must be a DeviceBuffer");
    DeviceBuffer* b = Unwrap(info[i].As<Napi::Object>());
    if (!b->ptr_) ThrowType(info.Env(), std::string(name) + " was freed");
    return b;
  }
  void Need(Napi::Env env, const char* name, size_t need) const {
    if (bytes_ < need)
      ThrowRange(env, std::string(name) + " holds " + std::to_string(bytes_) + " bytes, the call reads or writes " +
                          std::to_string(need));
  }

 private:
  void Release() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
  }
  Napi::Value ByteLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes_)); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }
  void Free(const Napi::CallbackInfo&) { Release(); }
  // upload(view, deviceByteOffset = 0): synchronous host -> device copy.
  void Upload(const Napi::CallbackInfo& info) { Copy(info, true); }
  void Download(const Napi::CallbackInfo& info) { Copy(info, false); }
  void Copy(const Napi::CallbackInfo& info, bool toDevice) {
    Napi::Env env = info.Env();
    if (!ptr_) ThrowType(env, "DeviceBuffer was freed");
    if (info.Length() < 1 || !info[0].IsTypedArray()) ThrowType(env, "expected a TypedArray");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    const size_t n = ta.ByteLength();
    const size_t off = info.Length() > 1 ? size_t(IntArg(info, 1, "byteOffset", 0, int64_t(bytes_))) : 0;
    if (off + n > bytes_)
      ThrowRange(env, "copy of " + std::to_string(n) + " bytes at offset " + std::to_string(off) +
                          " overruns the " + std::to_string(bytes_) + "-byte DeviceBuffer");
    uint8_t* host = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    uint8_t* dev = static_cast<uint8_t*>(ptr_) + off;
    Check(env, toDevice ? cudaMemcpy(dev, host, n, cudaMemcpyHostToDevice) : cudaMemcpy(host, dev, n, cudaMemcpyDeviceToHost),
          toDevice ? "upload" : "download");
  }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};
Napi::FunctionReference DeviceBuffer::ctor;

// ---------------------------------------------------------------- Stream / Graph / Event
class Graph : public Napi::ObjectWrap<Graph> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Graph", {InstanceMethod<&Graph::Launch>("launch"), InstanceMethod<&Graph::Free>("free")});
    ctor = Napi::Persistent(f);
    exports.Set("Graph", f);
  }
  explicit Graph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Graph>(info) {}
  ~Graph() override { Release(); }
  void Set(cudaGraphExec_t e) { exec_ = e; }

 private:
  void Release() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  void Free(const Napi::CallbackInfo&) { Release(); }
  void Launch(const Napi::CallbackInfo& info);
  cudaGraphExec_t exec_ = nullptr;
};
Napi::FunctionReference Graph::ctor;

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Stream",
                                   {InstanceMethod<&Stream::Synchronize>("synchronize"),
                                    InstanceMethod<&Stream::BeginCapture>("beginCapture"),
                                    InstanceMethod<&Stream::EndCapture>("endCapture"),
                                    InstanceMethod<&Stream::Free>("free")});
    ctor = Napi::Persistent(f);
    exports.Set("Stream", f);
  }
  explicit Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
    Check(info.Env(), cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  }
  ~Stream() override { Release(); }
  static cudaStream_t From(const Napi::CallbackInfo& info, size_t i) {
    if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(ctor.Value()))
      ThrowType(info.Env(), "stream must be a Stream");
    Stream* s = Unwrap(info[i].As<Napi::Object>());
    if (!s->s_) ThrowType(info.Env(), "stream was freed");
    return s->s_;
  }

 private:
  void Release() {
    if (s_) cudaStreamDestroy(s_);
    s_ = nullptr;
  }
  void Free(const Napi::CallbackInfo&) { Release(); }
  void Synchronize(const Napi::CallbackInfo& info) { Check(info.Env(), cudaStreamSynchronize(s_), "stream.synchronize"); }
  void BeginCapture(const Napi::CallbackInfo& info) {
    Check(info.Env(), cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  }
  Napi::Value EndCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cudaGraph_t graph = nullptr;
    Check(env, cudaStreamEndCapture(s_, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    Check(env, err, "cudaGraphInstantiate");
    Napi::Object obj = Graph::ctor.New({});
    Graph::Unwrap(obj)->Set(exec);
    return obj;
  }
  cudaStream_t s_ = nullptr;
};
Napi::FunctionReference Stream::ctor;

void Graph::Launch(const Napi::CallbackInfo& info) {
  if (!exec_) ThrowType(info.Env(), "graph was freed");
  Check(info.Env(), cudaGraphLaunch(exec_, Stream::From(info, 0)), "cudaGraphLaunch");
}

class Event : public Napi::ObjectWrap<Event> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Event",
                                   {InstanceMethod<&Event::Record>("record"), InstanceMethod<&Event::Synchronize>("synchronize"),
                                    InstanceMethod<&Event::ElapsedMs>("elapsedMsSince")});
    ctor = Napi::Persistent(f);
    exports.Set("Event", f);
  }
  explicit Event(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Event>(info) {
    Check(info.Env(), cudaEventCreate(&e_), "cudaEventCreate");
  }
  ~Event() override {
    if (e_) cudaEventDestroy(e_);
  }

 private:
  void Record(const Napi::CallbackInfo& info) { Check(info.Env(), cudaEventRecord(e_, Stream::From(info, 0)), "cudaEventRecord"); }
  void Synchronize(const Napi::CallbackInfo& info) { Check(info.Env(), cudaEventSynchronize(e_), "cudaEventSynchronize"); }
  // end.elapsedMsSince(start)
  Napi::Value ElapsedMs(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctor.Value()))
      ThrowType(info.Env(), "start must be an Event");
    float ms = 0;
    Check(info.Env(), cudaEventElapsedTime(&ms, Unwrap(info[0].As<Napi::Object>())->e_, e_), "cudaEventElapsedTime");
    return Napi::Number::New(info.Env(), ms);
  }
  cudaEvent_t e_ = nullptr;
};
Napi::FunctionReference Event::ctor;

// ---------------------------------------------------------------- cuBLAS (dlopen)
// Only the few entry points used here; enum values from cublas_api.h / library_types.h.
typedef struct cublasContext* cublasHandle_t;
constexpr int kCublasOpN = 0, kCublasOpT = 1, kCublasCompute32F = 68, kCublasGemmDefault = -1;
struct Cublas {
  bool tried = false;
  void* lib = nullptr;
  std::string path, error;
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
  int (*create)(cublasHandle_t*) = nullptr;
  int (*setStream)(cublasHandle_t, cudaStream_t) = nullptr;
  int (*setWorkspace)(cublasHandle_t, void*, size_t) = nullptr;
  int (*gemmEx)(cublasHandle_t, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                const void*, void*, int, int, int, int) = nullptr;
};
Cublas g_cublas;

std::vector<std::string> CublasCandidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("ANYPREC_CUBLAS")) out.push_back(env);
  for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) out.push_back(name);
  for (const char* pattern : {"/usr/local/cuda/lib64/libcublas.so.1*", "/usr/local/cuda*/lib64/libcublas.so.1*",
                              "/opt/*/.venv/lib/python3*/site-packages/nvidia/cu1*/lib/libcublas.so.1*",
                              "/opt/*/.venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.1*",
                              "/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib/libcublas.so.1*",
                              "/usr/lib/x86_64-linux-gnu/libcublas.so.1*"}) {
    glob_t g{};
    if (glob(pattern, 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}

Cublas& LoadCublas() {
  Cublas& c = g_cublas;
  if (c.tried) return c;
  c.tried = true;
  std::string errors;
  for (const std::string& cand : CublasCandidates()) {
    void* lib = dlopen(cand.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      if (errors.size() < 600) errors += std::string(e ? e : cand.c_str()) + "; ";
      continue;
    }
    c.create = reinterpret_cast<decltype(c.create)>(dlsym(lib, "cublasCreate_v2"));
    c.setStream = reinterpret_cast<decltype(c.setStream)>(dlsym(lib, "cublasSetStream_v2"));
    c.setWorkspace = reinterpret_cast<decltype(c.setWorkspace)>(dlsym(lib, "cublasSetWorkspace_v2"));
    c.gemmEx = reinterpret_cast<decltype(c.gemmEx)>(dlsym(lib, "cublasGemmEx"));
    if (!c.create || !c.setStream || !c.setWorkspace || !c.gemmEx) {
      errors += cand + ": missing symbols; ";
      dlclose(lib);
      continue;
    }
    int st = c.create(&c.handle);
    if (st != 0) {
      errors += cand + ": cublasCreate status " + std::to_string(st) + "; ";
      dlclose(lib);
      continue;
    }
    // A fixed workspace keeps cuBLAS from allocating during graph capture.
    constexpr size_t kWorkspaceBytes = size_t(32) << 20;
    if (cudaMalloc(&c.workspace, kWorkspaceBytes) == cudaSuccess) c.setWorkspace(c.handle, c.workspace, kWorkspaceBytes);
    c.lib = lib;
    c.path = cand;
    return c;
  }
  c.error = "cuBLAS not found (set ANYPREC_CUBLAS to libcublas.so.13 or .12): " + errors;
  return c;
}

// Prefill tuning, overridable for benchmarks: ANYPREC_PREFILL_CHUNK_MB (0 = whole matrix at
// once) and ANYPREC_PREFILL_FUSED_MAX (token counts up to which the fused kernel may win).
size_t PrefillChunkBytes() {
  static const size_t v = [] {
    const char* e = std::getenv("ANYPREC_PREFILL_CHUNK_MB");
    return size_t(e ? std::atof(e) * (1 << 20) : 0.0);
  }();
  return v;
}
int PrefillFusedMaxTokens() {
  static const int v = [] {
    const char* e = std::getenv("ANYPREC_PREFILL_FUSED_MAX");
    return e ? std::atoi(e) : 3 * kFusedMaxTokens;
  }();
  return v;
}

// out f32 [tokens, rows] = x f16 [tokens, cols] · W f16 [rows, cols]ᵀ (column-major view: C = Wᵀᵀ·x).
// ldOut: row stride of out (default rows), so a row block of W can fill columns of a wider out.
void GemmF16(Napi::Env env, cudaStream_t stream, float* out, const void* x, const void* w, int tokens, int rows, int cols,
             int ldOut = 0) {
  Cublas& c = LoadCublas();
  if (!c.lib) throw Napi::Error::New(env, c.error);
  const float alpha = 1.f, beta = 0.f;
  int st = c.setStream(c.handle, stream);
  if (st == 0)
    st = c.gemmEx(c.handle, kCublasOpT, kCublasOpN, rows, tokens, cols, &alpha, w, CUDA_R_16F, cols, x, CUDA_R_16F, cols,
                  &beta, out, CUDA_R_32F, ldOut > 0 ? ldOut : rows, kCublasCompute32F, kCublasGemmDefault);
  if (st != 0) throw Napi::Error::New(env, "cublasGemmEx failed with status " + std::to_string(st));
}

Napi::Value CublasInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Cublas& c = LoadCublas();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, c.lib != nullptr));
  if (c.lib) o.Set("path", Napi::String::New(env, c.path));
  else o.Set("reason", Napi::String::New(env, c.error));
  return o;
}

// ---------------------------------------------------------------- launches
// Reads (method, planes, table, offsets, rows, cols, bits, groupSize) starting at argument i and
// checks them and the buffers' sizes; returns args with pointers filled in.
BitplaneArgs WeightArgs(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  BitplaneArgs a;
  a.method = int(IntArg(info, i, "method", 0, 1));
  DeviceBuffer* planes = DeviceBuffer::From(info, i + 1, "planes");
  DeviceBuffer* table = DeviceBuffer::From(info, i + 2, a.method == kMethodLut ? "lut" : "scales");
  DeviceBuffer* offsets = DeviceBuffer::From(info, i + 3, "offsets", true);
  a.rows = int(IntArg(info, i + 4, "rows", 1, 1 << 24));
  a.cols = int(IntArg(info, i + 5, "cols", 32, 1 << 24));
  if (a.cols % 32) ThrowRange(env, "cols must be a multiple of 32 (layout v1), got " + std::to_string(a.cols));
  a.bits = int(IntArg(info, i + 6, "bits", a.method == kMethodLut ? 2 : 1, 8));
  const size_t rows = size_t(a.rows), cols = size_t(a.cols);
  planes->Need(env, "planes", size_t(a.bits) * rows * (cols / 32) * 4);
  if (a.method == kMethodLut) {
    if (offsets) ThrowType(env, "offsets are only for the anybcq method");
    table->Need(env, "lut", rows * (size_t(1) << a.bits) * 2);
  } else {
    a.groupSize = int(IntArg(info, i + 7, "groupSize", 32, 1 << 24));
    if (a.groupSize % 32)
      ThrowRange(env, "groupSize must be a multiple of 32 for the CUDA kernels, got " + std::to_string(a.groupSize));
    const size_t groups = (cols + a.groupSize - 1) / a.groupSize;
    table->Need(env, "scales", rows * groups * a.bits * 2);
    if (offsets) offsets->Need(env, "offsets", rows * groups * 2);
  }
  a.planes = static_cast<const uint32_t*>(planes->ptr());
  a.table = static_cast<const uint16_t*>(table->ptr());
  a.offsets = offsets ? static_cast<const uint16_t*>(offsets->ptr()) : nullptr;
  return a;
}

// matmul(stream, out, x, tokens, scratch|null, method, planes, table, offsets|null, rows, cols, bits, groupSize,
//        colocate 0 auto | 1 never)
// -> which path ran: 'fused' | 'fused-chunked' | 'dequant-cublas'
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaStream_t stream = Stream::From(info, 0);
  DeviceBuffer* out = DeviceBuffer::From(info, 1, "out");
  DeviceBuffer* x = DeviceBuffer::From(info, 2, "x");
  const int tokens = int(IntArg(info, 3, "tokens", 1, 1 << 20));
  DeviceBuffer* scratch = DeviceBuffer::From(info, 4, "scratch", true);
  BitplaneArgs a = WeightArgs(info, 5);
  a.tokens = tokens;
  a.colocate = int(IntArg(info, 13, "colocate", kColocateAuto, kColocateNever));
  out->Need(env, "out", size_t(tokens) * a.rows * 4);
  x->Need(env, "x", size_t(tokens) * a.cols * 2);
  a.out = static_cast<float*>(out->ptr());
  a.x = static_cast<const uint16_t*>(x->ptr());

  // Prefill: dequantise into the scratch and call cuBLAS, except for a few 16-token chunks of
  // narrow weights whose fp16 copy would not fit L2, where re-running the fused kernel is faster
  // (H100, bench/bench.mjs: 14336x4096 3-bit at 33 tokens 78 us fused vs ~113 us dequant+cuBLAS).
  const bool fusedWins = tokens <= PrefillFusedMaxTokens() && a.bits <= 4 && size_t(a.rows) * a.cols * 2 > (size_t(40) << 20);
  const bool useCublas = tokens > kFusedMaxTokens && scratch && !fusedWins && LoadCublas().lib;
  if (useCublas) {
    scratch->Need(env, "scratch", size_t(a.rows) * a.cols * 2);
    uint16_t* w = static_cast<uint16_t*>(scratch->ptr());
    // Optionally in row blocks of at most PrefillChunkBytes() of fp16, each consumed by cuBLAS
    // while still in L2. Measured slower on H100 (14336x4096 3-bit, 128 tokens: 141 us with
    // 16 MiB blocks, 190 us with 8 MiB, 113 us whole; README), so off unless asked for.
    const size_t chunkBytes = PrefillChunkBytes();
    int chunkRows = a.rows;
    if (chunkBytes > 0 && size_t(a.rows) * a.cols * 2 > chunkBytes)
      chunkRows = std::max(64, int(chunkBytes / (size_t(a.cols) * 2)) / 64 * 64);
    for (int r0 = 0; r0 < a.rows; r0 += chunkRows) {
      const int n = std::min(chunkRows, a.rows - r0);
      Check(env, launchDequantRows(a, r0, n, w, stream), "dequant launch");
      GemmF16(env, stream, a.out + r0, a.x, w, tokens, n, a.cols, a.rows);
    }
    return Napi::String::New(env, chunkRows < a.rows ? "dequant-cublas-chunked" : "dequant-cublas");
  }
  const int maxCols = fusedMaxCols(tokens < kFusedMaxTokens ? tokens : kFusedMaxTokens);
  if (a.cols > maxCols)
    ThrowRange(env, "cols " + std::to_string(a.cols) + " exceeds the fused kernel's limit of " + std::to_string(maxCols) +
                        " at " + std::to_string(tokens) + " tokens");
  for (int t0 = 0; t0 < tokens; t0 += kFusedMaxTokens) {
    BitplaneArgs c = a;
    c.tokens = tokens - t0 < kFusedMaxTokens ? tokens - t0 : kFusedMaxTokens;
    c.x = a.x + size_t(t0) * a.cols;
    c.out = a.out + size_t(t0) * a.rows;
    // A shorter last chunk follows a 16-token launch of the same matrix. A grid sized for one
    // CTA per SM after a launch that filled the SMs can land two CTAs on the SMs that free up
    // first (4096x14336 at 33 tokens 65 -> 77 us, session 8); after a colocated one it overlaps
    // as intended (4096x4096 3-bit at 33 tokens 27.7 us colocated, 39.5 with 'never', session 10).
    if (t0 > 0 && c.tokens < kFusedMaxTokens) {
      BitplaneArgs before = a;
      before.tokens = kFusedMaxTokens;
      if (!fusedColocates(before)) c.colocate = kColocateNever;
    }
    Check(env, launchFused(c, stream), "fused bit-plane matmul launch");
  }
  return Napi::String::New(env, tokens > kFusedMaxTokens ? "fused-chunked" : "fused");
}

// dequant(stream, outF16, method, planes, table, offsets|null, rows, cols, bits, groupSize)
void Dequant(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaStream_t stream = Stream::From(info, 0);
  DeviceBuffer* out = DeviceBuffer::From(info, 1, "out");
  BitplaneArgs a = WeightArgs(info, 2);
  out->Need(env, "out", size_t(a.rows) * a.cols * 2);
  Check(env, launchDequant(a, static_cast<uint16_t*>(out->ptr()), stream), "dequant launch");
}

// gemmF16(stream, out f32, x f16, weight f16, tokens, rows, cols): the cuBLAS fp16 baseline.
void GemmF16Js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaStream_t stream = Stream::From(info, 0);
  DeviceBuffer* out = DeviceBuffer::From(info, 1, "out");
  DeviceBuffer* x = DeviceBuffer::From(info, 2, "x");
  DeviceBuffer* w = DeviceBuffer::From(info, 3, "weight");
  const int tokens = int(IntArg(info, 4, "tokens", 1, 1 << 20));
  const int rows = int(IntArg(info, 5, "rows", 1, 1 << 24));
  const int cols = int(IntArg(info, 6, "cols", 1, 1 << 24));
  out->Need(env, "out", size_t(tokens) * rows * 4);
  x->Need(env, "x", size_t(tokens) * cols * 2);
  w->Need(env, "weight", size_t(rows) * cols * 2);
  GemmF16(env, stream, static_cast<float*>(out->ptr()), x->ptr(), w->ptr(), tokens, rows, cols);
}

// fill(stream, buffer, kind 'u32' | 'f16', seed, lo?, hi?): pseudo-random contents for benchmarks.
void Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaStream_t stream = Stream::From(info, 0);
  DeviceBuffer* b = DeviceBuffer::From(info, 1, "buffer");
  if (info.Length() < 3 || !info[2].IsString()) ThrowType(env, "kind must be 'u32' or 'f16'");
  const std::string kind = info[2].As<Napi::String>();
  const uint32_t seed = uint32_t(IntArg(info, 3, "seed", 0, 0xFFFFFFFFll));
  if (kind == "u32") {
    Check(env, launchFillU32(static_cast<uint32_t*>(b->ptr()), b->bytes() / 4, seed, stream), "fill launch");
  } else if (kind == "f16") {
    const float lo = info.Length() > 4 ? info[4].As<Napi::Number>().FloatValue() : -1.f;
    const float hi = info.Length() > 5 ? info[5].As<Napi::Number>().FloatValue() : 1.f;
    Check(env, launchFillF16(static_cast<uint16_t*>(b->ptr()), b->bytes() / 2, seed, lo, hi, stream), "fill launch");
  } else {
    ThrowType(env, "kind must be 'u32' or 'f16'");
  }
}

Napi::Value FusedMaxCols(const Napi::CallbackInfo& info) {
  const int tokens = int(IntArg(info, 0, "tokens", 1, kFusedMaxTokens));
  return Napi::Number::New(info.Env(), fusedMaxCols(tokens));
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  DeviceBuffer::Init(env, exports);
  Graph::Init(env, exports);
  Stream::Init(env, exports);
  Event::Init(env, exports);
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("dequant", Napi::Function::New(env, Dequant, "dequant"));
  exports.Set("gemmF16", Napi::Function::New(env, GemmF16Js, "gemmF16"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("cublasInfo", Napi::Function::New(env, CublasInfo, "cublasInfo"));
  exports.Set("fusedMaxCols", Napi::Function::New(env, FusedMaxCols, "fusedMaxCols"));
  exports.Set("fusedMaxTokens", Napi::Number::New(env, kFusedMaxTokens));
}

}  // namespace anyprec_cuda

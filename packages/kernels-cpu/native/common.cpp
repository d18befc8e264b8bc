// Implementation of common.h: ISA selection, the persistent thread pool, argument checks.
#include "common.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace anyprec {

// ------------------------------------------------------------------------------ ISA ----
static Isa DetectIsa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

static Isa g_best = DetectIsa();
static std::atomic<int> g_active{static_cast<int>(g_best)};

Isa BestIsa() { return g_best; }
Isa ActiveIsa() { return static_cast<Isa>(g_active.load(std::memory_order_relaxed)); }
void ForceIsa(Isa isa) {
  g_active.store(std::min(static_cast<int>(isa), static_cast<int>(g_best)), std::memory_order_relaxed);
}
const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    default:
      return "scalar";
  }
}

// ---------------------------------------------------------------------- thread pool ----
// Chunks are claimed through one 64-bit ticket = job id (24 bits) | chunk count (20) | next
// chunk (20). A worker that wakes up late holds a stale job id, so its compare-and-swap
// fails and it can never run a chunk (or a function) of a job it did not see start; the
// caller therefore only waits for chunks actually claimed, never for a worker to be
// scheduled. Workers spin briefly after each job (decode issues many sub-millisecond kernels
// back to back and a condition-variable wake-up costs tens of microseconds), then sleep.
namespace {
constexpr int kIdBits = 24, kCountBits = 20;
constexpr uint64_t kCountMask = (1ull << kCountBits) - 1;
constexpr int64_t kMaxTickets = static_cast<int64_t>(kCountMask);

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    // The starting job id is read here, not in the new thread: a pool destroyed before its
    // worker first runs must still find the worker able to see the stop signal.
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, start = jobId_.load()] { Work(start); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true);
      jobId_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void For(int64_t chunks, const std::function<void(int64_t)>& fn) {
    if (chunks <= 0) return;
    if (n_ == 1 || chunks == 1) {
      for (int64_t c = 0; c < chunks; ++c) fn(c);
      return;
    }
    // Tickets stand for runs of `per` chunks when there are more than the ticket field holds.
    const int64_t per = (chunks + kMaxTickets - 1) / kMaxTickets;
    const int64_t tickets = (chunks + per - 1) / per;
    const uint64_t id = (jobId_.load(std::memory_order_relaxed) + 1) & ((1ull << kIdBits) - 1);
    body_.store(&fn, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_relaxed);
    per_.store(per, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    ticket_.store(id << (2 * kCountBits) | static_cast<uint64_t>(tickets) << kCountBits, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(m_);
      jobId_.store(id, std::memory_order_release);
    }
    cv_.notify_all();
    RunTickets(id);
    while (done_.load(std::memory_order_acquire) != tickets) _mm_pause();
  }

 private:
  // Claims and runs tickets of job `id` until none is left.
  void RunTickets(uint64_t id) {
    for (;;) {
      uint64_t t = ticket_.load(std::memory_order_acquire);
      const std::function<void(int64_t)>* fn = body_.load(std::memory_order_acquire);
      int64_t chunks = chunks_.load(std::memory_order_relaxed), per = per_.load(std::memory_order_relaxed);
      if ((t >> (2 * kCountBits)) != id) return;
      uint64_t next = t & kCountMask, count = t >> kCountBits & kCountMask;
      if (next >= count) return;
      if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
      // The claim succeeded while job `id` was open, so fn / chunks / per belong to it.
      int64_t c0 = static_cast<int64_t>(next) * per, c1 = std::min(chunks, c0 + per);
      for (int64_t c = c0; c < c1; ++c) (*fn)(c);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void Work(uint64_t seen) {
    for (;;) {
      if (stop_.load()) return;
      uint64_t id = jobId_.load(std::memory_order_acquire);
      if (id == seen) {
        auto start = std::chrono::steady_clock::now();
        for (int spin = 0; id == seen; ++spin) {
          _mm_pause();
          id = jobId_.load(std::memory_order_acquire);
          if ((spin & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(200))
            break;
        }
        if (id == seen) {
          std::unique_lock<std::mutex> lk(m_);
          cv_.wait(lk, [&] { return jobId_.load(std::memory_order_acquire) != seen || stop_.load(); });
          id = jobId_.load(std::memory_order_acquire);
        }
      }
      seen = id;
      if (stop_.load()) return;
      RunTickets(id);
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> jobId_{0};
  std::atomic<uint64_t> ticket_{0};
  std::atomic<const std::function<void(int64_t)>*> body_{nullptr};
  std::atomic<int64_t> chunks_{0}, per_{1};
  std::atomic<int64_t> done_{0};
  std::atomic<bool> stop_{false};
};

int DefaultThreads() {
  if (const char* env = std::getenv("ANYPREC_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 256) return n;
  }
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  return hw >= 1 ? hw : 1;
}

std::mutex g_poolMutex;  // one kernel at a time (calls may come from several JS threads)
std::unique_ptr<Pool> g_pool;
int g_threads = DefaultThreads();
}  // namespace

int Threads() { return g_threads; }

void SetThreads(int n) {
  std::lock_guard<std::mutex> lk(g_poolMutex);
  if (n == g_threads && g_pool) return;
  g_pool.reset();
  g_threads = n;
}

void ParallelFor(int64_t chunks, const std::function<void(int64_t)>& fn) {
  std::lock_guard<std::mutex> lk(g_poolMutex);
  if (!g_pool) g_pool = std::make_unique<Pool>(g_threads);
  g_pool->For(chunks, fn);
}

void ParallelRun(int n, const std::function<void(int, int)>& fn) {
  if (n <= 1) {
    fn(0, 1);
    return;
  }
  ParallelFor(n, [&](int64_t c) { fn(static_cast<int>(c), n); });
}

// ----------------------------------------------------------------------- conversion ----
__attribute__((target("avx2,fma,f16c"))) static void F16RowToF32Avx2(const uint16_t* src, float* dst,
                                                                      int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = F16ToF32(src[i]);
}

void F16RowToF32(const uint16_t* src, float* dst, int64_t n) {
  if (ActiveIsa() >= Isa::Avx2) {
    F16RowToF32Avx2(src, dst, n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(src[i]);
  }
}

// ----------------------------------------------------------------------- validation ----
void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
void ThrowRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

template <typename T>
static ArrayArg<T> TypedArg(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type type,
                            const char* typeName) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowType(env, std::string(name) + " must be a " + typeName);
  auto arr = info[i].As<Napi::TypedArrayOf<T>>();
  return ArrayArg<T>{arr.Data(), arr.ElementLength()};
}

ArrayArg<float> F32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<float>(info, i, name, napi_float32_array, "Float32Array");
}
ArrayArg<uint16_t> U16Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<uint16_t>(info, i, name, napi_uint16_array, "Uint16Array");
}
ArrayArg<uint32_t> U32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return TypedArg<uint32_t>(info, i, name, napi_uint32_array, "Uint32Array");
}

int64_t DimArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) ThrowType(env, std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= static_cast<double>(min)) || v > 2147483647.0 || v != static_cast<double>(static_cast<int64_t>(v)))
    ThrowRange(env, std::string(name) + " must be an integer in [" + std::to_string(min) + ", 2^31), got " +
                        info[i].ToString().Utf8Value());
  return static_cast<int64_t>(v);
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) ThrowType(env, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* name, bool defaultValue) {
  if (i >= info.Length() || info[i].IsUndefined()) return defaultValue;
  if (!info[i].IsBoolean()) ThrowType(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) ThrowType(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

bool IsNullish(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsNull() || info[i].IsUndefined();
}

void NeedLength(Napi::Env env, const char* name, size_t have, int64_t need, const std::string& shape) {
  if (static_cast<int64_t>(have) < need)
    ThrowRange(env, std::string(name) + " has " + std::to_string(have) + " elements, needs at least " +
                        std::to_string(need) + " (" + shape + ")");
}

void ExactLength(Napi::Env env, const char* name, size_t have, int64_t need, const std::string& shape) {
  if (static_cast<int64_t>(have) != need)
    ThrowRange(env, std::string(name) + " has " + std::to_string(have) + " elements, expected " +
                        std::to_string(need) + " (" + shape + ")");
}

}  // namespace anyprec

// Dense kernels: the packed GEMM core (gemm.h), matmul (x * W^T with f32/bf16/f16 weights,
// GEMV path for few tokens) and sgemm (general f32 GEMM with transposes).
#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "registry.h"

namespace anyprec {

// ------------------------------------------------------------------ scratch buffers ----
namespace {
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* Get(size_t need) {
    if (need > n) {
      std::free(p);
      size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      n = need;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
thread_local Scratch tlsB, tlsRow;  // per-thread packed weight panel, dequantised rows

constexpr int MR = kGemmMR, NR = kGemmNR, KC = kGemmKC, MC = kGemmMC;

// ------------------------------------------------------------------------- packing ----
void PackA(const float* A, int64_t lda, bool transA, int64_t i0, int mc, int64_t k0, int kc, float* dst) {
  for (int p = 0; p * MR < mc; ++p) {
    int64_t ib = i0 + p * MR;
    int mr = std::min(MR, mc - p * MR);
    float* d = dst + static_cast<int64_t>(p) * MR * kc;
    if (!transA) {
      for (int ii = 0; ii < mr; ++ii) {
        const float* s = A + (ib + ii) * lda + k0;
        for (int k = 0; k < kc; ++k) d[k * MR + ii] = s[k];
      }
    } else {
      for (int k = 0; k < kc; ++k) {
        const float* s = A + (k0 + k) * lda + ib;
        for (int ii = 0; ii < mr; ++ii) d[k * MR + ii] = s[ii];
      }
    }
    if (mr < MR)
      for (int k = 0; k < kc; ++k)
        for (int ii = mr; ii < MR; ++ii) d[k * MR + ii] = 0.f;
  }
}

// Weight element types of matmul; halves are widened to f32 in registers.
enum class WDtype { F32, Bf16, F16 };

template <WDtype D>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) inline __m512 Load16(const void* w, int64_t k) {
  if constexpr (D == WDtype::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(w) + k);
  } else if constexpr (D == WDtype::Bf16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + k));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + k)));
  }
}

template <WDtype D>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) inline __m512 Load16Mask(const void* w, int64_t k,
                                                                                   __mmask16 m) {
  if constexpr (D == WDtype::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + k);
  } else if constexpr (D == WDtype::Bf16) {
    __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + k));
  }
}

constexpr size_t ElemBytes(WDtype d) { return d == WDtype::F32 ? 4 : 2; }

// Transposes 16 rows x 16 columns (rows loaded as vectors) into 16 column vectors.
__attribute__((target("avx512f"))) inline void Transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q + 0], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q + 0], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  // u[4q + j] holds rows 4q..4q+3 at columns j, j+4, j+8, j+12 (one per 128-bit lane).
  for (int j = 0; j < 4; ++j) {
    __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

// Packs kc columns of NR rows (rows[i] points at the row's first packed column; null rows
// are zero) into dst[k * NR + i], converting halves in registers and transposing 16x16 tiles.
template <WDtype D>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void PackRows512(const void* const* rows, int kc,
                                                                            float* dst) {
  for (int i0 = 0; i0 < NR; i0 += 16) {
    for (int k = 0; k < kc; k += 16) {
      __mmask16 m = kc - k >= 16 ? 0xffff : static_cast<__mmask16>((1u << (kc - k)) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = rows[i0 + i] ? Load16Mask<D>(rows[i0 + i], k, m) : _mm512_setzero_ps();
      Transpose16(r);
      for (int c = 0; c < 16 && k + c < kc; ++c) _mm512_store_ps(dst + (k + c) * NR + i0, r[c]);
    }
  }
}

template <WDtype D>
void PackRowsScalar(const void* const* rows, int kc, float* dst) {
  for (int i = 0; i < NR; ++i)
    for (int k = 0; k < kc; ++k) {
      float v = 0.f;
      if (rows[i]) {
        if constexpr (D == WDtype::F32) v = static_cast<const float*>(rows[i])[k];
        else if constexpr (D == WDtype::Bf16) v = Bf16ToF32(static_cast<const uint16_t*>(rows[i])[k]);
        else v = F16ToF32(static_cast<const uint16_t*>(rows[i])[k]);
      }
      dst[k * NR + i] = v;
    }
}

template <WDtype D>
void PackRows(const void* const* rows, int kc, float* dst) {
  if (ActiveIsa() == Isa::Avx512) PackRows512<D>(rows, kc, dst);
  else PackRowsScalar<D>(rows, kc, dst);
}
}  // namespace

void RowSource::Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const {
  float* tmp = tlsRow.Get(static_cast<size_t>(NR) * KC);
  const void* rows[NR];
  for (int i = 0; i < NR; ++i) {
    rows[i] = i < nr ? tmp + i * KC : nullptr;
    if (i < nr) Row(n0 + i, k0, kc, tmp + i * KC);
  }
  PackRows<WDtype::F32>(rows, kc, dst);
}

void DenseB::Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const {
  for (int k = 0; k < kc; ++k) {
    const float* s = b + (k0 + k) * ldb + n0;
    float* d = dst + k * NR;
    int i = 0;
    for (; i < nr; ++i) d[i] = s[i];
    for (; i < NR; ++i) d[i] = 0.f;
  }
}

void DenseTransB::Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const {
  const void* rows[NR];
  for (int i = 0; i < NR; ++i) rows[i] = i < nr ? b + (n0 + i) * ldb + k0 : nullptr;
  PackRows<WDtype::F32>(rows, kc, dst);
}

namespace {
// bf16 / f16 weights [N, K]: converted to f32 while packing.
struct HalfRows : BSource {
  const uint16_t* w;
  int64_t cols;
  bool bf16;
  HalfRows(const uint16_t* w_, int64_t cols_, bool bf16_) : w(w_), cols(cols_), bf16(bf16_) {}
  void Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const override {
    const void* rows[NR];
    for (int i = 0; i < NR; ++i) rows[i] = i < nr ? w + (n0 + i) * cols + k0 : nullptr;
    if (bf16) PackRows<WDtype::Bf16>(rows, kc, dst);
    else PackRows<WDtype::F16>(rows, kc, dst);
  }
};

// ------------------------------------------------------------------ micro-kernels ----
// Each computes the MR x NR tile sum_k a[k*MR + i] * b[k*NR + j] and adds alpha * tile to
// the top-left mr x nr corner of C.

__attribute__((target("avx512f"))) void Kernel512(int kc, const float* a, const float* b, float* c, int64_t ldc,
                                                  float alpha, int mr, int nr) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += NR;
  }
  __m512 va = _mm512_set1_ps(alpha);
  if (mr == MR && nr == NR) {
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(acc0[i], va, _mm512_loadu_ps(ci)));
      _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(acc1[i], va, _mm512_loadu_ps(ci + 16)));
    }
  } else {
    __mmask16 m0 = nr >= 16 ? 0xffff : static_cast<__mmask16>((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1) : 0;
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      if (i < mr) {
        float* ci = c + i * ldc;
        _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(acc0[i], va, _mm512_maskz_loadu_ps(m0, ci)));
        _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(acc1[i], va, _mm512_maskz_loadu_ps(m1, ci + 16)));
      }
    }
  }
}

template <int R>
__attribute__((target("avx2,fma"))) void Kernel256Part(int kc, const float* a, const float* b, float* tile) {
  __m256 acc0[R], acc1[R];
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(b + k * NR), b1 = _mm256_load_ps(b + k * NR + 8);
    for (int i = 0; i < R; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + k * MR + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  for (int i = 0; i < R; ++i) {
    _mm256_storeu_ps(tile + i * NR, acc0[i]);
    _mm256_storeu_ps(tile + i * NR + 8, acc1[i]);
  }
}

__attribute__((target("avx2,fma"))) void Kernel256(int kc, const float* a, const float* b, float* c, int64_t ldc,
                                                   float alpha, int mr, int nr) {
  alignas(64) float tile[MR * NR];
  for (int j0 = 0; j0 < nr; j0 += 16) {
    int i0 = 0;
    for (; i0 + 6 <= mr; i0 += 6) Kernel256Part<6>(kc, a + i0, b + j0, tile + i0 * NR + j0);
    switch (mr - i0) {
      case 5: Kernel256Part<5>(kc, a + i0, b + j0, tile + i0 * NR + j0); break;
      case 4: Kernel256Part<4>(kc, a + i0, b + j0, tile + i0 * NR + j0); break;
      case 3: Kernel256Part<3>(kc, a + i0, b + j0, tile + i0 * NR + j0); break;
      case 2: Kernel256Part<2>(kc, a + i0, b + j0, tile + i0 * NR + j0); break;
      case 1: Kernel256Part<1>(kc, a + i0, b + j0, tile + i0 * NR + j0); break;
      default: break;
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] += alpha * tile[i * NR + j];
}

void KernelScalar(int kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, int mr, int nr) {
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      float s = 0.f;
      for (int k = 0; k < kc; ++k) s += a[k * MR + i] * b[k * NR + j];
      c[i * ldc + j] += alpha * s;
    }
}

using KernelFn = void (*)(int, const float*, const float*, float*, int64_t, float, int, int);

KernelFn PickKernel() {
  switch (ActiveIsa()) {
    case Isa::Avx512: return Kernel512;
    case Isa::Avx2: return Kernel256;
    default: return KernelScalar;
  }
}

void ScaleC(float* C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float beta) {
  if (beta == 1.f) return;
  for (int64_t i = m0; i < m1; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) {
      std::memset(c + n0, 0, (n1 - n0) * sizeof(float));  // BLAS semantics: beta = 0 ignores C
    } else {
      for (int64_t j = n0; j < n1; ++j) c[j] *= beta;
    }
  }
}
}  // namespace

void Gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, bool transA,
          const BSource& B, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K == 0 || alpha == 0.f) {
    ScaleC(C, ldc, 0, M, 0, N, beta);
    return;
  }
  KernelFn kernel = PickKernel();
  const int64_t mPanels = (M + MR - 1) / MR, nPanels = (N + NR - 1) / NR, kBlocks = (K + KC - 1) / KC;
  const int64_t mPad = mPanels * MR;
  const bool parallel = static_cast<double>(M) * N * K >= 1e5 && Threads() > 1;

  // Phase 1: pack all of op(A) once, shared by every chunk: k-block kb holds mPanels panels
  // of [kc][MR] at Ap + kb*KC*mPad (A is the activations: small next to the weights).
  thread_local Scratch packedA;
  float* Ap = packedA.Get(static_cast<size_t>(kBlocks) * KC * mPad);
  const int64_t aGroups = (mPanels + 7) / 8;
  auto packA = [&](int64_t chunk) {
    int64_t kb = chunk / aGroups, g = chunk % aGroups;
    int64_t k0 = kb * KC;
    int kc = static_cast<int>(std::min<int64_t>(KC, K - k0));
    int64_t p0 = g * 8, p1 = std::min(mPanels, p0 + 8);
    int mc = static_cast<int>(std::min<int64_t>(M - p0 * MR, (p1 - p0) * MR));
    PackA(A, lda, transA, p0 * MR, mc, k0, kc, Ap + kb * KC * mPad + p0 * MR * kc);
  };
  if (parallel) {
    ParallelFor(kBlocks * aGroups, packA);
  } else {
    for (int64_t c = 0; c < kBlocks * aGroups; ++c) packA(c);
  }

  // Phase 2: chunks of (MC rows of C) x (a few NR-column panels); each owns its C tile, packs
  // its weight panels (dequantising if B is a bit-plane source) and runs the micro-kernel.
  int64_t mcPanels = MC / MR;
  if (parallel && nPanels < 4 * Threads()) {
    // Few column panels (small N): split M finer so both threads get work.
    mcPanels = std::max<int64_t>(1, std::min<int64_t>(mcPanels, (mPanels + 4 * Threads() - 1) / (4 * Threads())));
  }
  const int64_t mBlocks = (mPanels + mcPanels - 1) / mcPanels;
  int64_t ng = 1;
  while (ng < 4 && mBlocks * ((nPanels + 2 * ng - 1) / (2 * ng)) >= 8 * Threads()) ng *= 2;
  const int64_t nGroups = (nPanels + ng - 1) / ng;
  auto compute = [&](int64_t chunk) {
    int64_t mb = chunk % mBlocks, gn = chunk / mBlocks;
    int64_t pm0 = mb * mcPanels, pm1 = std::min(mPanels, pm0 + mcPanels);
    int64_t pn0 = gn * ng, pn1 = std::min(nPanels, pn0 + ng);
    ScaleC(C, ldc, pm0 * MR, std::min(M, pm1 * MR), pn0 * NR, std::min(N, pn1 * NR), beta);
    float* Bp = tlsB.Get(static_cast<size_t>(KC) * NR);
    for (int64_t kb = 0; kb < kBlocks; ++kb) {
      int64_t k0 = kb * KC;
      int kc = static_cast<int>(std::min<int64_t>(KC, K - k0));
      const float* Ak = Ap + kb * KC * mPad;
      for (int64_t pn = pn0; pn < pn1; ++pn) {
        int64_t j0 = pn * NR;
        int nr = static_cast<int>(std::min<int64_t>(NR, N - j0));
        B.Pack(k0, kc, j0, nr, Bp);
        for (int64_t pm = pm0; pm < pm1; ++pm) {
          int64_t i0 = pm * MR;
          int mr = static_cast<int>(std::min<int64_t>(MR, M - i0));
          kernel(kc, Ak + pm * MR * kc, Bp, C + i0 * ldc + j0, ldc, alpha, mr, nr);
        }
      }
    }
  };
  if (parallel) {
    ParallelFor(mBlocks * nGroups, compute);
  } else {
    for (int64_t c = 0; c < mBlocks * nGroups; ++c) compute(c);
  }
}

// -------------------------------------------------------------------- dense GEMV ----
// Few tokens: every weight is read once from memory, so the kernel streams W rows and
// converts bf16/f16 in registers (never materialising f32 weights).
namespace {

// out[t, r] (+)= x[t, :] . W[r, :] for R rows starting at r and T tokens starting at x.
template <WDtype D, int R, int T>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void Gemv512Block(const float* x, int64_t K,
                                                                              const void* W, int64_t r,
                                                                              float* out, int64_t ldo, bool acc) {
  __m512 s[R][T];
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < T; ++t) s[i][t] = _mm512_setzero_ps();
  const char* wb = static_cast<const char*>(W);
  const void* rows[R];
  for (int i = 0; i < R; ++i) rows[i] = wb + (r + i) * K * ElemBytes(D);
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * K + k);
    for (int i = 0; i < R; ++i) {
      __m512 w = Load16<D>(rows[i], k);
      for (int t = 0; t < T; ++t) s[i][t] = _mm512_fmadd_ps(w, xv[t], s[i][t]);
    }
  }
  if (k < K) {
    __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, x + t * K + k);
    for (int i = 0; i < R; ++i) {
      __m512 w = Load16Mask<D>(rows[i], k, m);
      for (int t = 0; t < T; ++t) s[i][t] = _mm512_fmadd_ps(w, xv[t], s[i][t]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < T; ++t) {
      float v = _mm512_reduce_add_ps(s[i][t]);
      float* o = out + t * ldo + r + i;
      *o = acc ? *o + v : v;
    }
}

template <WDtype D, int R>
void Gemv512Rows(const float* x, int64_t tokens, int64_t K, const void* W, int64_t r, float* out, int64_t ldo,
                 bool acc) {
  for (int64_t t0 = 0; t0 < tokens; t0 += 4) {
    const float* xt = x + t0 * K;
    float* ot = out + t0 * ldo;
    switch (std::min<int64_t>(4, tokens - t0)) {
      case 4: Gemv512Block<D, R, 4>(xt, K, W, r, ot, ldo, acc); break;
      case 3: Gemv512Block<D, R, 3>(xt, K, W, r, ot, ldo, acc); break;
      case 2: Gemv512Block<D, R, 2>(xt, K, W, r, ot, ldo, acc); break;
      default: Gemv512Block<D, R, 1>(xt, K, W, r, ot, ldo, acc); break;
    }
  }
}

template <WDtype D>
__attribute__((target("avx2,fma,f16c"))) inline __m256 Load8(const void* w, int64_t k) {
  if constexpr (D == WDtype::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + k);
  } else if constexpr (D == WDtype::Bf16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + k)));
  }
}

template <WDtype D>
inline float LoadScalar(const void* w, int64_t k) {
  if constexpr (D == WDtype::F32) return static_cast<const float*>(w)[k];
  else if constexpr (D == WDtype::Bf16) return Bf16ToF32(static_cast<const uint16_t*>(w)[k]);
  else return F16ToF32(static_cast<const uint16_t*>(w)[k]);
}

template <WDtype D>
__attribute__((target("avx2,fma,f16c"))) void Gemv256Row(const float* x, int64_t tokens, int64_t K, const void* W,
                                                         int64_t r, float* out, int64_t ldo, bool acc) {
  const void* row = static_cast<const char*>(W) + r * K * ElemBytes(D);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * K;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      s0 = _mm256_fmadd_ps(Load8<D>(row, k), _mm256_loadu_ps(xt + k), s0);
      s1 = _mm256_fmadd_ps(Load8<D>(row, k + 8), _mm256_loadu_ps(xt + k + 8), s1);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(s0, s1));
    float v = 0.f;
    for (float l : lanes) v += l;
    for (; k < K; ++k) v += LoadScalar<D>(row, k) * xt[k];
    float* o = out + t * ldo + r;
    *o = acc ? *o + v : v;
  }
}

template <WDtype D>
void GemvScalarRow(const float* x, int64_t tokens, int64_t K, const void* W, int64_t r, float* out, int64_t ldo,
                   bool acc) {
  const void* row = static_cast<const char*>(W) + r * K * ElemBytes(D);
  for (int64_t t = 0; t < tokens; ++t) {
    float v = 0.f;
    for (int64_t k = 0; k < K; ++k) v += LoadScalar<D>(row, k) * x[t * K + k];
    float* o = out + t * ldo + r;
    *o = acc ? *o + v : v;
  }
}

// Rows per parallel chunk: enough chunks for dynamic balancing, each still a few microseconds.
inline int64_t RowChunk(int64_t rows, int64_t workPerRow) {
  int64_t target = std::max<int64_t>(4, (rows + 31) / 32);
  int64_t minRows = std::max<int64_t>(4, 32768 / std::max<int64_t>(1, workPerRow));
  return (std::max(target, minRows) + 3) / 4 * 4;
}

template <WDtype D>
void Gemv(float* out, const float* x, const void* W, int64_t tokens, int64_t rows, int64_t cols, bool acc) {
  Isa isa = ActiveIsa();
  const int64_t chunkRows = RowChunk(rows, cols * tokens);
  ParallelFor((rows + chunkRows - 1) / chunkRows, [&](int64_t chunk) {
    int64_t r = chunk * chunkRows, r1 = std::min(rows, r + chunkRows);
    if (isa == Isa::Avx512) {
      for (; r + 4 <= r1; r += 4) Gemv512Rows<D, 4>(x, tokens, cols, W, r, out, rows, acc);
      for (; r < r1; ++r) Gemv512Rows<D, 1>(x, tokens, cols, W, r, out, rows, acc);
    } else if (isa == Isa::Avx2) {
      for (; r < r1; ++r) Gemv256Row<D>(x, tokens, cols, W, r, out, rows, acc);
    } else {
      for (; r < r1; ++r) GemvScalarRow<D>(x, tokens, cols, W, r, out, rows, acc);
    }
  });
}

// Up to this many tokens, matmul streams weights row by row (GEMV); above, it packs panels.
constexpr int64_t kGemvMaxTokens = 24;

// ------------------------------------------------------------------------ exports ----
bool Overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return aBytes && bBytes && pa < pb + bBytes && pb < pa + aBytes;
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  auto x = F32Arg(info, 1, "x");
  std::string dtype = StringArg(info, 3, "weightDtype");
  WDtype d;
  if (dtype == "f32") d = WDtype::F32;
  else if (dtype == "bf16") d = WDtype::Bf16;
  else if (dtype == "f16") d = WDtype::F16;
  else ThrowType(env, "weightDtype must be 'f32', 'bf16' or 'f16', got '" + dtype + "'");
  const void* w;
  size_t wLen;
  if (d == WDtype::F32) {
    auto a = F32Arg(info, 2, "weight (weightDtype 'f32')");
    w = a.data;
    wLen = a.length;
  } else {
    auto a = U16Arg(info, 2, d == WDtype::Bf16 ? "weight (weightDtype 'bf16')" : "weight (weightDtype 'f16')");
    w = a.data;
    wLen = a.length;
  }
  int64_t tokens = DimArg(info, 4, "tokens");
  int64_t rows = DimArg(info, 5, "rows");
  int64_t cols = DimArg(info, 6, "cols");
  bool accumulate = BoolArg(info, 7, "accumulate", false);
  std::string t = std::to_string(tokens), r = std::to_string(rows), c = std::to_string(cols);
  NeedLength(env, "out", out.length, tokens * rows, "tokens*rows = " + t + "*" + r);
  NeedLength(env, "x", x.length, tokens * cols, "tokens*cols = " + t + "*" + c);
  ExactLength(env, "weight", wLen, rows * cols, "rows*cols = " + r + "*" + c);
  size_t outBytes = tokens * rows * 4;
  if (Overlaps(out.data, outBytes, x.data, tokens * cols * 4) ||
      Overlaps(out.data, outBytes, w, rows * cols * ElemBytes(d)))
    ThrowRange(env, "out must not overlap x or weight");
  if (tokens == 0 || rows == 0) return env.Undefined();
  if (tokens <= kGemvMaxTokens) {
    switch (d) {
      case WDtype::F32: Gemv<WDtype::F32>(out.data, x.data, w, tokens, rows, cols, accumulate); break;
      case WDtype::Bf16: Gemv<WDtype::Bf16>(out.data, x.data, w, tokens, rows, cols, accumulate); break;
      case WDtype::F16: Gemv<WDtype::F16>(out.data, x.data, w, tokens, rows, cols, accumulate); break;
    }
    return env.Undefined();
  }
  float beta = accumulate ? 1.f : 0.f;
  if (d == WDtype::F32) {
    DenseTransB B(static_cast<const float*>(w), cols);
    Gemm(tokens, rows, cols, 1.f, x.data, cols, false, B, beta, out.data, rows);
  } else {
    HalfRows B(static_cast<const uint16_t*>(w), cols, d == WDtype::Bf16);
    Gemm(tokens, rows, cols, 1.f, x.data, cols, false, B, beta, out.data, rows);
  }
  return env.Undefined();
}

// Minimum length of a row-major matrix with `rows` rows of `cols` used columns, stride ld.
int64_t MatrixSpan(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool transA = BoolArg(info, 0, "transA", false);
  bool transB = BoolArg(info, 1, "transB", false);
  int64_t m = DimArg(info, 2, "m"), n = DimArg(info, 3, "n"), k = DimArg(info, 4, "k");
  double alpha = NumberArg(info, 5, "alpha");
  auto a = F32Arg(info, 6, "a");
  int64_t lda = DimArg(info, 7, "lda");
  auto b = F32Arg(info, 8, "b");
  int64_t ldb = DimArg(info, 9, "ldb");
  double beta = NumberArg(info, 10, "beta");
  auto c = F32Arg(info, 11, "c");
  int64_t ldc = DimArg(info, 12, "ldc");
  // Stored shapes: A is [m, k] (or [k, m] when transA), B is [k, n] (or [n, k]), C is [m, n].
  int64_t aRows = transA ? k : m, aCols = transA ? m : k;
  int64_t bRows = transB ? n : k, bCols = transB ? k : n;
  auto s = [](int64_t v) { return std::to_string(v); };
  if (lda < std::max<int64_t>(1, aCols))
    ThrowRange(env, "lda (" + s(lda) + ") must be at least " + s(std::max<int64_t>(1, aCols)) +
                        (transA ? " (m, as transA)" : " (k)"));
  if (ldb < std::max<int64_t>(1, bCols))
    ThrowRange(env, "ldb (" + s(ldb) + ") must be at least " + s(std::max<int64_t>(1, bCols)) +
                        (transB ? " (k, as transB)" : " (n)"));
  if (ldc < std::max<int64_t>(1, n)) ThrowRange(env, "ldc (" + s(ldc) + ") must be at least " + s(std::max<int64_t>(1, n)) + " (n)");
  NeedLength(env, "a", a.length, MatrixSpan(aRows, aCols, lda), s(aRows) + " rows of stride lda " + s(lda));
  NeedLength(env, "b", b.length, MatrixSpan(bRows, bCols, ldb), s(bRows) + " rows of stride ldb " + s(ldb));
  NeedLength(env, "c", c.length, MatrixSpan(m, n, ldc), s(m) + " rows of stride ldc " + s(ldc));
  size_t cBytes = MatrixSpan(m, n, ldc) * 4;
  if (Overlaps(c.data, cBytes, a.data, MatrixSpan(aRows, aCols, lda) * 4) ||
      Overlaps(c.data, cBytes, b.data, MatrixSpan(bRows, bCols, ldb) * 4))
    ThrowRange(env, "c must not overlap a or b");
  if (transB) {
    DenseTransB B(b.data, ldb);
    Gemm(m, n, k, static_cast<float>(alpha), a.data, lda, transA, B, static_cast<float>(beta), c.data, ldc);
  } else {
    DenseB B(b.data, ldb);
    Gemm(m, n, k, static_cast<float>(alpha), a.data, lda, transA, B, static_cast<float>(beta), c.data, ldc);
  }
  return env.Undefined();
}
}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm, "sgemm"));
}

}  // namespace anyprec

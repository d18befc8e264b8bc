// Bit-plane kernels reading layout v1 (docs/architecture.md) directly: matmulLut /
// dequantLut (Any-Precision LLM, Park et al. ICML 2024: per-row LUT of 2^b centroids indexed
// by the top b bits) and matmulBcq / dequantBcq (AnyBCQ, Park et al. ICLR 2026: per-group
// binary-coded scales, weight = offset + sum_i scale_i * (+-1)).
//
// Few tokens: a GEMV that rebuilds 32 weights at a time in registers from the b plane
// words (b-bit indices assembled with masked adds in 16-bit lanes and looked up with
// vpermw/vpermt2w in the f16 LUT, or vpermps/vpermt2ps in BCQ sign-pattern tables; BCQ at
// b > 5 flips scale signs with masked xors). More tokens: the same dequantisation fills
// packed panels for the dense GEMM micro-kernel (gemm.h).
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "registry.h"

namespace anyprec {
namespace {

// Up to this many tokens the bit-plane kernels run as a GEMV (one pass over the planes);
// above, dequantised panels feed the packed GEMM (measured crossover at 8-16 tokens).
constexpr int64_t kPlaneGemvMaxTokens = 8;

struct Planes {
  const uint32_t* data;  // [P, rows, cols/32]
  int64_t rows, cols, words, planeStride;  // words = cols/32, planeStride = rows*words
  int bits;
  // Plane p word w of row r.
  uint32_t Word(int p, int64_t r, int64_t w) const { return data[p * planeStride + r * words + w]; }
};

// ------------------------------------------------------------------ Any-Precision ----
struct LutMat {
  Planes pl;
  const uint16_t* lut;  // f16 [rows, 2^bits]
};

// Index of column j (0..31) of word w, row r.
inline uint32_t LutIndex(const Planes& pl, int64_t r, int64_t w, int j) {
  uint32_t idx = 0;
  for (int p = 0; p < pl.bits; ++p) idx = idx << 1 | (pl.Word(p, r, w) >> j & 1u);
  return idx;
}

void LutRowScalar(const LutMat& m, int64_t r, int64_t k0, int kc, float* dst) {
  int n = 1 << m.pl.bits;
  float table[256];
  for (int e = 0; e < n; ++e) table[e] = F16ToF32(m.lut[r * n + e]);
  for (int64_t w = k0 / 32; w < (k0 + kc) / 32; ++w)
    for (int j = 0; j < 32; ++j) *dst++ = table[LutIndex(m.pl, r, w, j)];
}

// Per-row table for the AVX-512 paths: the row's f16 LUT as 32-entry registers (for
// vpermw / vpermt2w); unused entries of a short table are zero.
struct LutRegs {
  __m512i h[8];  // f16 entries 32i .. 32i+31
};

__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void LoadLutRow(const LutMat& m, int64_t r,
                                                                             LutRegs& regs) {
  int n = 1 << m.pl.bits;
  const uint16_t* src = m.lut + r * n;
  if (n >= 32) {
    for (int i = 0; i < n / 32; ++i) regs.h[i] = _mm512_loadu_si512(src + 32 * i);
  } else {
    regs.h[0] = _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << n) - 1), src);
  }
}

// AnyBCQ, B <= 5: the 32 weights of one plane word position, looked up in 32-entry f32
// tables of sign-pattern values ((t0lo, t1lo) for columns 0..15, (t0hi, t1hi) for 16..31).
// The b-bit indices (plane 0 = most significant bit) are assembled for all 32 columns at
// once in 16-bit lanes, then widened to 32-bit lanes for vpermps / vpermt2ps.
template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void TableWord(const uint32_t* words, __m512 t0lo,
                                                                          __m512 t1lo, __m512 t0hi, __m512 t1hi,
                                                                          __m512& lo, __m512& hi) {
  static_assert(B <= 5, "TableWord handles up to 5 bits");
  const __m512i one = _mm512_set1_epi16(1);
  __m512i idx = _mm512_setzero_si512();
#pragma GCC unroll 5
  for (int p = 0; p < B; ++p) {
    __m512i twice = _mm512_add_epi16(idx, idx);
    idx = _mm512_mask_add_epi16(twice, static_cast<__mmask32>(words[p]), twice, one);
  }
  __m512i ilo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(idx));
  __m512i ihi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(idx, 1));
  if constexpr (B <= 4) {
    lo = _mm512_permutexvar_ps(ilo, t0lo);
    hi = _mm512_permutexvar_ps(ihi, t0hi);
  } else {
    lo = _mm512_permutex2var_ps(t0lo, ilo, t1lo);
    hi = _mm512_permutex2var_ps(t0hi, ihi, t1hi);
  }
}

// Rebuilds the 32 weights of word w of row r into lo (columns 0..15) and hi (16..31). All
// 32 indices are assembled at once in 16-bit lanes (one masked add per plane, the plane
// word itself being the lane mask), then looked up among the row's f16 entries with
// vpermw (b <= 5) or vpermt2w (64 entries) plus, for b > 6, mask blends driven by the top
// planes' words; the f16 results are widened with vcvtph2ps.
template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) inline void LutWord(const Planes& pl, int64_t r,
                                                                              int64_t w, const LutRegs& regs,
                                                                              __m512& lo, __m512& hi) {
  constexpr int LB = B < 6 ? B : 6;  // index bits resolved by the permute
  uint32_t words[B];
  const uint32_t* src = pl.data + r * pl.words + w;
#pragma GCC unroll 8
  for (int p = 0; p < B; ++p) words[p] = src[p * pl.planeStride];
  const __m512i one = _mm512_set1_epi16(1);
  __m512i idx = _mm512_setzero_si512();
#pragma GCC unroll 6
  for (int p = B - LB; p < B; ++p) {
    __m512i twice = _mm512_add_epi16(idx, idx);
    idx = _mm512_mask_add_epi16(twice, static_cast<__mmask32>(words[p]), twice, one);
  }
  __m512i v;
  if constexpr (B <= 5) {
    v = _mm512_permutexvar_epi16(idx, regs.h[0]);
  } else {
    constexpr int kPairs = 1 << (B - 6);
    __m512i t[kPairs];
#pragma GCC unroll 4
    for (int j = 0; j < kPairs; ++j) t[j] = _mm512_permutex2var_epi16(regs.h[2 * j], idx, regs.h[2 * j + 1]);
    // Index bit 6 + l comes from plane B-7-l: blend pairs level by level.
#pragma GCC unroll 2
    for (int l = 0, n = kPairs; n > 1; ++l, n >>= 1) {
      __mmask32 m = static_cast<__mmask32>(words[B - 7 - l]);
      for (int j = 0; j < n / 2; ++j) t[j] = _mm512_mask_blend_epi16(m, t[2 * j], t[2 * j + 1]);
    }
    v = t[0];
  }
  lo = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
  hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
}

template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void LutRow512(const LutMat& m, int64_t r, int64_t k0,
                                                                         int kc, float* dst) {
  LutRegs regs;
  LoadLutRow(m, r, regs);
  for (int64_t w = k0 / 32; w < (k0 + kc) / 32; ++w) {
    __m512 lo, hi;
    LutWord<B>(m.pl, r, w, regs, lo, hi);
    _mm512_storeu_ps(dst, lo);
    _mm512_storeu_ps(dst + 16, hi);
    dst += 32;
  }
}

// out[t, r] = x[t, :] . W[r, :] for T tokens, rows [r0, r1).
template <int B, int T>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void LutGemv512(const LutMat& m, const float* x,
                                                                          float* out, int64_t r0, int64_t r1) {
  const int64_t K = m.pl.cols, N = m.pl.rows;
  LutRegs regs;
  for (int64_t r = r0; r < r1; ++r) {
    LoadLutRow(m, r, regs);
    __m512 a0[T], a1[T];
    for (int t = 0; t < T; ++t) a0[t] = a1[t] = _mm512_setzero_ps();
    for (int64_t w = 0; w < m.pl.words; ++w) {
      __m512 lo, hi;
      LutWord<B>(m.pl, r, w, regs, lo, hi);
      for (int t = 0; t < T; ++t) {
        a0[t] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + t * K + w * 32), a0[t]);
        a1[t] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + t * K + w * 32 + 16), a1[t]);
      }
    }
    for (int t = 0; t < T; ++t) out[t * N + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[t], a1[t]));
  }
}

template <int B>
void LutGemv512Tokens(const LutMat& m, const float* x, float* out, int64_t tokens, int64_t r0, int64_t r1) {
  switch (tokens) {
    case 1: LutGemv512<B, 1>(m, x, out, r0, r1); break;
    case 2: LutGemv512<B, 2>(m, x, out, r0, r1); break;
    case 3: LutGemv512<B, 3>(m, x, out, r0, r1); break;
    case 4: LutGemv512<B, 4>(m, x, out, r0, r1); break;
    case 5: LutGemv512<B, 5>(m, x, out, r0, r1); break;
    case 6: LutGemv512<B, 6>(m, x, out, r0, r1); break;
    case 7: LutGemv512<B, 7>(m, x, out, r0, r1); break;
    default: LutGemv512<B, 8>(m, x, out, r0, r1); break;
  }
}

// Dispatch on the compile-time width.
template <template <int> class F, typename... Args>
void WithBits(int bits, Args&&... args) {
  switch (bits) {
    case 1: F<1>::Run(args...); break;
    case 2: F<2>::Run(args...); break;
    case 3: F<3>::Run(args...); break;
    case 4: F<4>::Run(args...); break;
    case 5: F<5>::Run(args...); break;
    case 6: F<6>::Run(args...); break;
    case 7: F<7>::Run(args...); break;
    default: F<8>::Run(args...); break;
  }
}

template <int B>
struct LutRowOp {
  static void Run(const LutMat& m, int64_t r, int64_t k0, int kc, float* dst) { LutRow512<B>(m, r, k0, kc, dst); }
};
template <int B>
struct LutGemvOp {
  static void Run(const LutMat& m, const float* x, float* out, int64_t tokens, int64_t r0, int64_t r1) {
    LutGemv512Tokens<B>(m, x, out, tokens, r0, r1);
  }
};

struct LutRows : RowSource {
  LutMat m;
  explicit LutRows(const LutMat& m_) : m(m_) {}
  void Row(int64_t n, int64_t k0, int kc, float* dst) const override {
    if (ActiveIsa() == Isa::Avx512) {
      WithBits<LutRowOp>(m.pl.bits, m, n, k0, kc, dst);
    } else {
      LutRowScalar(m, n, k0, kc, dst);
    }
  }
};

// -------------------------------------------------------------------------- AnyBCQ ----
struct BcqMat {
  Planes pl;
  const uint16_t* scales;   // f16 [rows, groups, bits]
  const uint16_t* offsets;  // f16 [rows, groups] or null
  int64_t groupSize, groups;
  bool halvesInOneGroup;  // groupSize % 16 == 0: each 16-column half lies in one group
};

// Weights of row r, columns [k0, k0+kc) (k0 % 32 == 0), summed as offset + s_0*sign_0 + ...
void BcqRowScalar(const BcqMat& m, int64_t r, int64_t k0, int kc, float* dst) {
  const int b = m.pl.bits;
  for (int64_t w = k0 / 32; w < (k0 + kc) / 32; ++w) {
    uint32_t words[8];
    for (int p = 0; p < b; ++p) words[p] = m.pl.Word(p, r, w);
    for (int j = 0; j < 32; ++j) {
      int64_t col = w * 32 + j, g = col / m.groupSize;
      const uint16_t* s = m.scales + (r * m.groups + g) * b;
      float v = m.offsets ? F16ToF32(m.offsets[r * m.groups + g]) : 0.f;
      for (int p = 0; p < b; ++p) {
        float sc = F16ToF32(s[p]);
        v += (words[p] >> j & 1u) ? sc : -sc;
      }
      *dst++ = v;
    }
  }
}

// Per-row tables for the AVX-512 paths: f32 scales and offsets, and for bits <= 5 and
// 16-aligned groups the value of every sign pattern of each group (2^bits entries, index bit
// bits-1-i = plane i), so a weight costs the same index assembly + vpermps as Any-Precision.
// Entry e = offset + s_0*sign_0(e) + s_1*sign_1(e) + ..., each step one exactly rounded
// fma by +-1, i.e. the spec's summation order.
struct BcqRowTables {
  std::vector<float> scales, offsets;  // [groups * bits], [groups]
  float* values = nullptr;             // [groups][32], 64-byte aligned
  int64_t valuesCap = 0;
  ~BcqRowTables() { std::free(values); }

  // Loads groups [g0, g1) of row r (the whole row by default), kept at their group index.
  __attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void Load(const BcqMat& m, int64_t r, int64_t g0 = 0,
                                                                      int64_t g1 = -1) {
    const int b = m.pl.bits;
    if (g1 < 0) g1 = m.groups;
    int64_t ns = m.groups * b;
    if (static_cast<int64_t>(scales.size()) < ns) scales.resize(ns);
    if (static_cast<int64_t>(offsets.size()) < m.groups) offsets.resize(m.groups);
    F16RowToF32(m.scales + r * ns + g0 * b, scales.data() + g0 * b, (g1 - g0) * b);
    if (m.offsets) F16RowToF32(m.offsets + r * m.groups + g0, offsets.data() + g0, g1 - g0);
    else std::fill(offsets.begin() + g0, offsets.begin() + g1, 0.f);
    if (b > 5 || !m.halvesInOneGroup) return;
    if (valuesCap < m.groups) {
      std::free(values);
      values = static_cast<float*>(std::aligned_alloc(64, m.groups * 32 * sizeof(float)));
      valuesCap = m.groups;
    }
    const __m512i lane0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lane1 = _mm512_add_epi32(lane0, _mm512_set1_epi32(16));
    const __m512 plus = _mm512_set1_ps(1.f), minus = _mm512_set1_ps(-1.f);
    __m512 sign0[5], sign1[5];  // sign of plane i in entries 0..15 / 16..31
    for (int i = 0; i < b; ++i) {
      __m512i bit = _mm512_set1_epi32(1 << (b - 1 - i));
      sign0[i] = _mm512_mask_blend_ps(_mm512_test_epi32_mask(lane0, bit), minus, plus);
      sign1[i] = _mm512_mask_blend_ps(_mm512_test_epi32_mask(lane1, bit), minus, plus);
    }
    for (int64_t g = g0; g < g1; ++g) {
      __m512 v0 = _mm512_set1_ps(offsets[g]), v1 = v0;
      for (int i = 0; i < b; ++i) {
        __m512 sc = _mm512_set1_ps(scales[g * b + i]);
        v0 = _mm512_fmadd_ps(sc, sign0[i], v0);
        if (b == 5) v1 = _mm512_fmadd_ps(sc, sign1[i], v1);
      }
      _mm512_store_ps(values + g * 32, v0);
      _mm512_store_ps(values + g * 32 + 16, v1);
    }
  }
};

// 16 weights (all in one group) from the 16-bit slices of the plane words, bits > 5.
template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 BcqHalf(const uint32_t* words, int shift,
                                                                            const float* s, float offset) {
  __m512 v = _mm512_set1_ps(offset);
#pragma GCC unroll 8
  for (int p = 0; p < B; ++p) {
    __m512 pos = _mm512_set1_ps(s[p]);
    __m512 neg = _mm512_set1_ps(-s[p]);
    v = _mm512_add_ps(v, _mm512_mask_blend_ps(static_cast<__mmask16>(words[p] >> shift), neg, pos));
  }
  return v;
}

// Group of columns 32w and 32w + 16, tracked without a division per word.
struct GroupCursor {
  int64_t groupSize, g0, g1, next0, next1;
  GroupCursor(int64_t gs, int64_t w) : groupSize(gs) {
    g0 = w * 32 / gs;
    g1 = (w * 32 + 16) / gs;
    next0 = (g0 + 1) * gs;
    next1 = (g1 + 1) * gs;
  }
  void Advance(int64_t w) {  // to word w (called with increasing w)
    while (w * 32 >= next0) next0 += groupSize, ++g0;
    while (w * 32 + 16 >= next1) next1 += groupSize, ++g1;
  }
};

// Rebuilds the 32 weights of word w (row tables loaded, groups g0 / g1 of its halves) into lo / hi.
template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void BcqWord(const BcqMat& m, int64_t r, int64_t w,
                                                                         const BcqRowTables& t, int64_t g0,
                                                                         int64_t g1, __m512& lo, __m512& hi) {
  uint32_t words[B];
  const uint32_t* src = m.pl.data + r * m.pl.words + w;
#pragma GCC unroll 8
  for (int p = 0; p < B; ++p) words[p] = src[p * m.pl.planeStride];
  int64_t col = w * 32;
  if (m.halvesInOneGroup) {
    if constexpr (B <= 5) {
      const float* t0 = t.values + g0 * 32;
      const float* t1 = t.values + g1 * 32;
      TableWord<B>(words, _mm512_load_ps(t0), _mm512_load_ps(t0 + 16), _mm512_load_ps(t1), _mm512_load_ps(t1 + 16),
                   lo, hi);
    } else {
      lo = BcqHalf<B>(words, 0, t.scales.data() + g0 * B, t.offsets[g0]);
      hi = BcqHalf<B>(words, 16, t.scales.data() + g1 * B, t.offsets[g1]);
    }
  } else {  // groups that split a 16-column half: per column
    alignas(64) float buf[32];
    for (int j = 0; j < 32; ++j) {
      int64_t g = (col + j) / m.groupSize;
      const float* s = t.scales.data() + g * B;
      float v = t.offsets[g];
      for (int p = 0; p < B; ++p) v += (words[p] >> j & 1u) ? s[p] : -s[p];
      buf[j] = v;
    }
    lo = _mm512_load_ps(buf);
    hi = _mm512_load_ps(buf + 16);
  }
}

template <int B>
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void BcqRow512(const BcqMat& m, int64_t r, int64_t k0,
                                                                         int kc, float* dst) {
  thread_local BcqRowTables t;
  t.Load(m, r, k0 / m.groupSize, (k0 + kc - 1) / m.groupSize + 1);  // only this k block's groups
  GroupCursor gc(m.groupSize, k0 / 32);
  for (int64_t w = k0 / 32; w < (k0 + kc) / 32; ++w) {
    __m512 lo, hi;
    gc.Advance(w);
    BcqWord<B>(m, r, w, t, gc.g0, gc.g1, lo, hi);
    _mm512_storeu_ps(dst, lo);
    _mm512_storeu_ps(dst + 16, hi);
    dst += 32;
  }
}

template <int B, int T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c"))) void BcqGemv512(const BcqMat& m, const float* x,
                                                                          float* out, int64_t r0, int64_t r1) {
  const int64_t K = m.pl.cols, N = m.pl.rows;
  BcqRowTables t;
  for (int64_t r = r0; r < r1; ++r) {
    t.Load(m, r);
    __m512 a0[T], a1[T];
    for (int i = 0; i < T; ++i) a0[i] = a1[i] = _mm512_setzero_ps();
    if (B <= 5 && m.groupSize % 32 == 0) {
      // Whole words per group: the group's 32-entry table stays in registers.
      const int64_t wordsPerGroup = m.groupSize / 32;
      const uint32_t* src = m.pl.data + r * m.pl.words;
      for (int64_t g = 0; g < m.groups; ++g) {
        __m512 t0 = _mm512_load_ps(t.values + g * 32), t1 = _mm512_load_ps(t.values + g * 32 + 16);
        for (int64_t w = g * wordsPerGroup; w < std::min(m.pl.words, (g + 1) * wordsPerGroup); ++w) {
          uint32_t words[B];
#pragma GCC unroll 8
          for (int p = 0; p < B; ++p) words[p] = src[p * m.pl.planeStride + w];
          __m512 lo, hi;
          TableWord<(B <= 5 ? B : 5)>(words, t0, t1, t0, t1, lo, hi);
          for (int i = 0; i < T; ++i) {
            a0[i] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + i * K + w * 32), a0[i]);
            a1[i] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + i * K + w * 32 + 16), a1[i]);
          }
        }
      }
    } else if (m.groupSize % 32 == 0) {
      // Whole words per group, bits > 5: the group's -scale_i vectors stay in registers and a
      // set bit flips the sign (xor), so each plane costs one masked xor and one add.
      const int64_t wordsPerGroup = m.groupSize / 32;
      const uint32_t* src = m.pl.data + r * m.pl.words;
      const __m512 signBit = _mm512_set1_ps(-0.f);
      for (int64_t g = 0; g < m.groups; ++g) {
        __m512 neg[B];
#pragma GCC unroll 8
        for (int p = 0; p < B; ++p) neg[p] = _mm512_set1_ps(-t.scales[g * B + p]);
        const __m512 off = _mm512_set1_ps(t.offsets[g]);
        for (int64_t w = g * wordsPerGroup; w < std::min(m.pl.words, (g + 1) * wordsPerGroup); ++w) {
          __m512 lo = off, hi = off;
#pragma GCC unroll 8
          for (int p = 0; p < B; ++p) {
            uint32_t word = src[p * m.pl.planeStride + w];
            lo = _mm512_add_ps(lo, _mm512_mask_xor_ps(neg[p], static_cast<__mmask16>(word), neg[p], signBit));
            hi = _mm512_add_ps(hi, _mm512_mask_xor_ps(neg[p], static_cast<__mmask16>(word >> 16), neg[p], signBit));
          }
          for (int i = 0; i < T; ++i) {
            a0[i] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + i * K + w * 32), a0[i]);
            a1[i] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + i * K + w * 32 + 16), a1[i]);
          }
        }
      }
    } else {
      GroupCursor gc(m.groupSize, 0);
      for (int64_t w = 0; w < m.pl.words; ++w) {
        __m512 lo, hi;
        gc.Advance(w);
        BcqWord<B>(m, r, w, t, gc.g0, gc.g1, lo, hi);
        for (int i = 0; i < T; ++i) {
          a0[i] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + i * K + w * 32), a0[i]);
          a1[i] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + i * K + w * 32 + 16), a1[i]);
        }
      }
    }
    for (int i = 0; i < T; ++i) out[i * N + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[i], a1[i]));
  }
}

template <int B>
struct BcqRowOp {
  static void Run(const BcqMat& m, int64_t r, int64_t k0, int kc, float* dst) { BcqRow512<B>(m, r, k0, kc, dst); }
};
template <int B>
struct BcqGemvOp {
  static void Run(const BcqMat& m, const float* x, float* out, int64_t tokens, int64_t r0, int64_t r1) {
    switch (tokens) {
      case 1: BcqGemv512<B, 1>(m, x, out, r0, r1); break;
      case 2: BcqGemv512<B, 2>(m, x, out, r0, r1); break;
      case 3: BcqGemv512<B, 3>(m, x, out, r0, r1); break;
      case 4: BcqGemv512<B, 4>(m, x, out, r0, r1); break;
      case 5: BcqGemv512<B, 5>(m, x, out, r0, r1); break;
      case 6: BcqGemv512<B, 6>(m, x, out, r0, r1); break;
      case 7: BcqGemv512<B, 7>(m, x, out, r0, r1); break;
      default: BcqGemv512<B, 8>(m, x, out, r0, r1); break;
    }
  }
};

struct BcqRows : RowSource {
  BcqMat m;
  explicit BcqRows(const BcqMat& m_) : m(m_) {}
  void Row(int64_t n, int64_t k0, int kc, float* dst) const override {
    if (ActiveIsa() == Isa::Avx512) {
      WithBits<BcqRowOp>(m.pl.bits, m, n, k0, kc, dst);
    } else {
      BcqRowScalar(m, n, k0, kc, dst);
    }
  }
};

// ------------------------------------------------------------------------ drivers ----
// Rows per parallel chunk: enough chunks for dynamic balancing, each still a few microseconds.
int64_t RowChunk(int64_t rows, int64_t workPerRow) {
  int64_t target = std::max<int64_t>(1, (rows + 31) / 32);
  int64_t minRows = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, workPerRow));
  return std::max(target, minRows);
}

// Dequantise rows one at a time into out [rows, cols].
void DequantRows(const RowSource& src, float* out, int64_t rows, int64_t cols) {
  const int64_t chunkRows = RowChunk(rows, cols);
  ParallelFor((rows + chunkRows - 1) / chunkRows, [&](int64_t chunk) {
    for (int64_t r = chunk * chunkRows; r < std::min(rows, (chunk + 1) * chunkRows); ++r)
      for (int64_t k0 = 0; k0 < cols; k0 += kGemmKC)
        src.Row(r, k0, static_cast<int>(std::min<int64_t>(kGemmKC, cols - k0)), out + r * cols + k0);
  });
}

// GEMV fallback for non-AVX-512 CPUs: dequantise each row, then dot products.
void GemvViaRows(const RowSource& src, const float* x, float* out, int64_t tokens, int64_t rows, int64_t cols,
                 int64_t r0, int64_t r1) {
  std::vector<float> row(cols);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t k0 = 0; k0 < cols; k0 += kGemmKC)
      src.Row(r, k0, static_cast<int>(std::min<int64_t>(kGemmKC, cols - k0)), row.data() + k0);
    for (int64_t t = 0; t < tokens; ++t) {
      float s = 0.f;
      for (int64_t k = 0; k < cols; ++k) s += row[k] * x[t * cols + k];
      out[t * rows + r] = s;
    }
  }
}

template <typename Gemv512Fn>
void PlaneMatmul(const RowSource& src, Gemv512Fn gemv512, float* out, const float* x, int64_t tokens, int64_t rows,
                 int64_t cols) {
  if (tokens == 0 || rows == 0) return;
  if (tokens > kPlaneGemvMaxTokens) {
    Gemm(tokens, rows, cols, 1.f, x, cols, false, src, 0.f, out, rows);
    return;
  }
  Isa isa = ActiveIsa();
  const int64_t chunkRows = RowChunk(rows, cols * 2);
  ParallelFor((rows + chunkRows - 1) / chunkRows, [&](int64_t chunk) {
    int64_t r0 = chunk * chunkRows, r1 = std::min(rows, r0 + chunkRows);
    if (isa == Isa::Avx512) {
      for (int64_t t0 = 0; t0 < tokens; t0 += 8)
        gemv512(x + t0 * cols, out + t0 * rows, std::min<int64_t>(8, tokens - t0), r0, r1);
    } else {
      GemvViaRows(src, x, out, tokens, rows, cols, r0, r1);
    }
  });
}

// ------------------------------------------------------------------ argument checks ----
std::string S(int64_t v) { return std::to_string(v); }

// Reads planes at index i and checks it against rows/cols/bits; returns the view.
Planes PlanesArg(const Napi::CallbackInfo& info, size_t i, int64_t rows, int64_t cols, int64_t bits) {
  Napi::Env env = info.Env();
  auto planes = U32Arg(info, i, "planes");
  if (cols % 32 != 0) ThrowRange(env, "cols (" + S(cols) + ") must be a multiple of 32 (bit-plane words)");
  if (bits < 1 || bits > 8) ThrowRange(env, "bits must be an integer in [1, 8], got " + S(bits));
  int64_t planeWords = rows * (cols / 32);
  if (planeWords > 0) {
    if (static_cast<int64_t>(planes.length) % planeWords != 0 || planes.length == 0)
      ThrowRange(env, "planes has " + S(planes.length) + " elements, not a positive multiple of rows*cols/32 = " +
                          S(planeWords) + " (layout [P, rows, cols/32])");
    int64_t P = static_cast<int64_t>(planes.length) / planeWords;
    if (bits > P) ThrowRange(env, "bits (" + S(bits) + ") exceeds the planes tensor's parent bits P = " + S(P));
  }
  return Planes{planes.data, rows, cols, cols / 32, planeWords, static_cast<int>(bits)};
}

bool Overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return aBytes && bBytes && pa < pb + bBytes && pb < pa + aBytes;
}

// matmulLut(out, x, planes, lut, tokens, rows, cols, bits)
Napi::Value MatmulLut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  auto x = F32Arg(info, 1, "x");
  auto lut = U16Arg(info, 3, "lut");
  int64_t tokens = DimArg(info, 4, "tokens"), rows = DimArg(info, 5, "rows"), cols = DimArg(info, 6, "cols");
  int64_t bits = DimArg(info, 7, "bits");
  Planes pl = PlanesArg(info, 2, rows, cols, bits);
  ExactLength(env, "lut", lut.length, rows << bits, "rows*2^bits = " + S(rows) + "*" + S(1 << bits));
  NeedLength(env, "out", out.length, tokens * rows, "tokens*rows = " + S(tokens) + "*" + S(rows));
  NeedLength(env, "x", x.length, tokens * cols, "tokens*cols = " + S(tokens) + "*" + S(cols));
  if (Overlaps(out.data, tokens * rows * 4, x.data, tokens * cols * 4)) ThrowRange(env, "out must not overlap x");
  LutMat m{pl, lut.data};
  LutRows src(m);
  PlaneMatmul(
      src,
      [&](const float* xx, float* oo, int64_t t, int64_t r0, int64_t r1) {
        WithBits<LutGemvOp>(pl.bits, m, xx, oo, t, r0, r1);
      },
      out.data, x.data, tokens, rows, cols);
  return env.Undefined();
}

// dequantLut(out, planes, lut, rows, cols, bits)
Napi::Value DequantLut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  auto lut = U16Arg(info, 2, "lut");
  int64_t rows = DimArg(info, 3, "rows"), cols = DimArg(info, 4, "cols"), bits = DimArg(info, 5, "bits");
  Planes pl = PlanesArg(info, 1, rows, cols, bits);
  ExactLength(env, "lut", lut.length, rows << bits, "rows*2^bits = " + S(rows) + "*" + S(1 << bits));
  NeedLength(env, "out", out.length, rows * cols, "rows*cols = " + S(rows) + "*" + S(cols));
  LutRows src(LutMat{pl, lut.data});
  DequantRows(src, out.data, rows, cols);
  return env.Undefined();
}

BcqMat BcqArgs(const Napi::CallbackInfo& info, size_t planesAt, size_t scalesAt, size_t offsetsAt, int64_t rows,
               int64_t cols, int64_t bits, int64_t groupSize) {
  Napi::Env env = info.Env();
  Planes pl = PlanesArg(info, planesAt, rows, cols, bits);
  auto scales = U16Arg(info, scalesAt, "scales");
  const uint16_t* offsets = nullptr;
  int64_t groups = (cols + groupSize - 1) / groupSize;
  ExactLength(env, "scales", scales.length, rows * groups * bits,
              "rows*groups*bits = " + S(rows) + "*" + S(groups) + "*" + S(bits));
  if (!IsNullish(info, offsetsAt)) {
    auto off = U16Arg(info, offsetsAt, "offsets (or null)");
    ExactLength(env, "offsets", off.length, rows * groups, "rows*groups = " + S(rows) + "*" + S(groups));
    offsets = off.data;
  }
  return BcqMat{pl, scales.data, offsets, groupSize, groups, groupSize % 16 == 0};
}

// matmulBcq(out, x, planes, scales, offsets, tokens, rows, cols, bits, groupSize)
Napi::Value MatmulBcq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  auto x = F32Arg(info, 1, "x");
  int64_t tokens = DimArg(info, 5, "tokens"), rows = DimArg(info, 6, "rows"), cols = DimArg(info, 7, "cols");
  int64_t bits = DimArg(info, 8, "bits"), groupSize = DimArg(info, 9, "groupSize", 1);
  BcqMat m = BcqArgs(info, 2, 3, 4, rows, cols, bits, groupSize);
  NeedLength(env, "out", out.length, tokens * rows, "tokens*rows = " + S(tokens) + "*" + S(rows));
  NeedLength(env, "x", x.length, tokens * cols, "tokens*cols = " + S(tokens) + "*" + S(cols));
  if (Overlaps(out.data, tokens * rows * 4, x.data, tokens * cols * 4)) ThrowRange(env, "out must not overlap x");
  BcqRows src(m);
  PlaneMatmul(
      src,
      [&](const float* xx, float* oo, int64_t t, int64_t r0, int64_t r1) {
        WithBits<BcqGemvOp>(m.pl.bits, m, xx, oo, t, r0, r1);
      },
      out.data, x.data, tokens, rows, cols);
  return env.Undefined();
}

// dequantBcq(out, planes, scales, offsets, rows, cols, bits, groupSize)
Napi::Value DequantBcq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  int64_t rows = DimArg(info, 4, "rows"), cols = DimArg(info, 5, "cols"), bits = DimArg(info, 6, "bits");
  int64_t groupSize = DimArg(info, 7, "groupSize", 1);
  BcqMat m = BcqArgs(info, 1, 2, 3, rows, cols, bits, groupSize);
  NeedLength(env, "out", out.length, rows * cols, "rows*cols = " + S(rows) + "*" + S(cols));
  BcqRows src(m);
  DequantRows(src, out.data, rows, cols);
  return env.Undefined();
}
}  // namespace

void RegisterPlanes(Napi::Env env, Napi::Object exports) {
  exports.Set("matmulLut", Napi::Function::New(env, MatmulLut, "matmulLut"));
  exports.Set("matmulBcq", Napi::Function::New(env, MatmulBcq, "matmulBcq"));
  exports.Set("dequantLut", Napi::Function::New(env, DequantLut, "dequantLut"));
  exports.Set("dequantBcq", Napi::Function::New(env, DequantBcq, "dequantBcq"));
}

}  // namespace anyprec

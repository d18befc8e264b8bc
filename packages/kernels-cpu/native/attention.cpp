// Causal attention with grouped-query heads (GQA), softmax in f32 with max subtraction.
// Prefill (many query tokens): keys of each kv head are transposed once into [headDim, L]
// so scores for 4 queries x 32 keys accumulate in registers (a small GEMM), and P*V runs
// 4 queries x 64 dims at a time. Decode (few tokens): per-key dot products, no transpose,
// one pass over the cache per kv head for all of its query heads.
// Work is spread over (head, query block) tasks, largest causal blocks first.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "registry.h"

namespace anyprec {
namespace {

constexpr int kQueryBlock = 16;  // queries per task in the prefill path
constexpr int64_t kDirectMaxTokens = 4;

struct AttnArgs {
  float* out;
  const float *q, *k, *v;
  int64_t tokens, kvLen, heads, kvHeads, headDim, posOffset;
  float scale;
  int64_t group() const { return heads / kvHeads; }
  int64_t qStride() const { return heads * headDim; }     // between tokens of q / out
  int64_t kvStride() const { return kvHeads * headDim; }  // between cache positions
};

// exp(x) for x <= 0 (after max subtraction), Cephes-style: x = n ln2 + r, degree-6
// polynomial for e^r, scaled by 2^n with vscalefps (which also underflows cleanly).
__attribute__((target("avx512f"))) inline __m512 Exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  __m512 r2 = _mm512_mul_ps(r, r);
  __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(y, n);
}

inline __mmask16 TailMask(int64_t n) { return n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1); }

// In place: s[0..n) <- exp(s - max); returns 1 / sum.
__attribute__((target("avx512f"))) float Softmax512(float* s, int64_t n) {
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < n; j += 16)
    mx = _mm512_mask_max_ps(mx, TailMask(n - j), mx, _mm512_maskz_loadu_ps(TailMask(n - j), s + j));
  float m = _mm512_reduce_max_ps(mx);
  __m512 vm = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 mk = TailMask(n - j);
    __m512 e = Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), vm));
    e = _mm512_maskz_mov_ps(mk, e);
    sum = _mm512_add_ps(sum, e);
    _mm512_mask_storeu_ps(s + j, mk, e);
  }
  return 1.f / _mm512_reduce_add_ps(sum);
}

// out[i, :] = norm_i * sum_j p[i, j] v[j, :] for Q queries (rows of p with stride ldp,
// entries past each row's length zeroed), n keys.
template <int Q>
__attribute__((target("avx512f"))) void PV512(const float* p, int64_t ldp, int64_t n, const float* v,
                                              int64_t vStride, int64_t hd, const float* norm, float* out,
                                              int64_t outStride) {
  for (int64_t d0 = 0; d0 < hd; d0 += 64) {
    int nch = static_cast<int>(std::min<int64_t>(4, (hd - d0 + 15) / 16));
    __mmask16 mk[4];
    for (int c = 0; c < 4; ++c) mk[c] = c < nch ? TailMask(hd - d0 - 16 * c) : 0;
    __m512 acc[Q][4];
    for (int i = 0; i < Q; ++i)
      for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const float* vj = v + j * vStride + d0;
      __m512 vv[4];
      for (int c = 0; c < 4; ++c) vv[c] = _mm512_maskz_loadu_ps(mk[c], vj + 16 * c);
      for (int i = 0; i < Q; ++i) {
        __m512 pij = _mm512_set1_ps(p[i * ldp + j]);
        for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_fmadd_ps(pij, vv[c], acc[i][c]);
      }
    }
    for (int i = 0; i < Q; ++i) {
      __m512 nv = _mm512_set1_ps(norm[i]);
      for (int c = 0; c < 4; ++c)
        _mm512_mask_storeu_ps(out + i * outStride + d0 + 16 * c, mk[c], _mm512_mul_ps(acc[i][c], nv));
    }
  }
}

// Decode path: query t of every head sharing kv head kvh, against n keys by per-key dot
// products, so each cached key and value row is read once per group (GQA), not per head.
// s holds group * n scores.
__attribute__((target("avx512f"))) void Direct512(const AttnArgs& a, int64_t kvh, int64_t t, float* s) {
  const int64_t hd = a.headDim, G = a.group(), n = a.posOffset + t + 1;
  const float* q0 = a.q + t * a.qStride() + kvh * G * hd;  // the group's heads are adjacent
  const float* k = a.k + kvh * hd;
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = k + j * a.kvStride();
    for (int64_t g0 = 0; g0 < G; g0 += 4) {
      int gn = static_cast<int>(std::min<int64_t>(4, G - g0));
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      for (int64_t d = 0; d < hd; d += 16) {
        __mmask16 mk = TailMask(hd - d);
        __m512 kv = _mm512_maskz_loadu_ps(mk, kj + d);
        for (int g = 0; g < 4; ++g)
          if (g < gn) acc[g] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q0 + (g0 + g) * hd + d), kv, acc[g]);
      }
      for (int g = 0; g < gn; ++g) s[(g0 + g) * n + j] = _mm512_reduce_add_ps(acc[g]) * a.scale;
    }
  }
  float norm[4];
  const float* v = a.v + kvh * hd;
  float* out = a.out + t * a.qStride() + kvh * G * hd;
  for (int64_t g0 = 0; g0 < G; g0 += 4) {
    int gn = static_cast<int>(std::min<int64_t>(4, G - g0));
    for (int g = 0; g < gn; ++g) norm[g] = Softmax512(s + (g0 + g) * n, n);
    const float* p = s + g0 * n;
    float* o = out + g0 * hd;
    switch (gn) {
      case 4: PV512<4>(p, n, n, v, a.kvStride(), hd, norm, o, hd); break;
      case 3: PV512<3>(p, n, n, v, a.kvStride(), hd, norm, o, hd); break;
      case 2: PV512<2>(p, n, n, v, a.kvStride(), hd, norm, o, hd); break;
      default: PV512<1>(p, n, n, v, a.kvStride(), hd, norm, o, hd); break;
    }
  }
}

// Prefill path: queries [t0, t1) of head h; kt is this kv head's keys as [hd, ldk].
__attribute__((target("avx512f"))) void Block512(const AttnArgs& a, int64_t h, int64_t t0, int64_t t1,
                                                 const float* kt, int64_t ldk, float* s) {
  const int64_t hd = a.headDim, kvh = h / a.group();
  const int64_t nMax = a.posOffset + t1;  // keys seen by the last query of the block
  const int64_t ldp = (nMax + 31) / 32 * 32;
  const int64_t nq = t1 - t0;
  for (int64_t i0 = 0; i0 < nq; i0 += 4) {
    int qn = static_cast<int>(std::min<int64_t>(4, nq - i0));
    const float* qi[4];
    for (int i = 0; i < 4; ++i) qi[i] = a.q + (t0 + i0 + std::min(i, qn - 1)) * a.qStride() + h * hd;
    int64_t nRow = a.posOffset + t0 + i0 + qn;  // keys needed by the last of these queries
    for (int64_t j = 0; j < nRow; j += 32) {
      __m512 acc[4][2];
      for (int i = 0; i < 4; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
      for (int64_t d = 0; d < hd; ++d) {
        __m512 k0 = _mm512_loadu_ps(kt + d * ldk + j), k1 = _mm512_loadu_ps(kt + d * ldk + j + 16);
        for (int i = 0; i < 4; ++i) {
          __m512 qv = _mm512_set1_ps(qi[i][d]);
          acc[i][0] = _mm512_fmadd_ps(qv, k0, acc[i][0]);
          acc[i][1] = _mm512_fmadd_ps(qv, k1, acc[i][1]);
        }
      }
      __m512 sc = _mm512_set1_ps(a.scale);
      for (int i = 0; i < qn; ++i) {
        _mm512_storeu_ps(s + (i0 + i) * ldp + j, _mm512_mul_ps(acc[i][0], sc));
        _mm512_storeu_ps(s + (i0 + i) * ldp + j + 16, _mm512_mul_ps(acc[i][1], sc));
      }
    }
  }
  float norm[kQueryBlock];
  for (int64_t i = 0; i < nq; ++i) {
    int64_t n = a.posOffset + t0 + i + 1;
    float* row = s + i * ldp;
    norm[i] = Softmax512(row, n);
    std::fill(row + n, row + nMax, 0.f);  // causal mask for the shared P*V loop
  }
  const float* v = a.v + kvh * hd;
  float* out = a.out + t0 * a.qStride() + h * hd;
  int64_t i = 0;
  for (; i + 4 <= nq; i += 4) {
    int64_t n = a.posOffset + t0 + i + 4;
    PV512<4>(s + i * ldp, ldp, n, v, a.kvStride(), hd, norm + i, out + i * a.qStride(), a.qStride());
  }
  for (; i < nq; ++i)
    PV512<1>(s + i * ldp, ldp, a.posOffset + t0 + i + 1, v, a.kvStride(), hd, norm + i, out + i * a.qStride(),
             a.qStride());
}

// Reference-order scalar path (CPUs without AVX-512).
void DirectScalar(const AttnArgs& a, int64_t h, int64_t t, float* s) {
  const int64_t hd = a.headDim, kvh = h / a.group(), n = a.posOffset + t + 1;
  const float* q = a.q + t * a.qStride() + h * hd;
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = a.k + j * a.kvStride() + kvh * hd;
    float acc = 0.f;
    for (int64_t d = 0; d < hd; ++d) acc += q[d] * kj[d];
    s[j] = acc * a.scale;
    m = std::max(m, s[j]);
  }
  float sum = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  float* o = a.out + t * a.qStride() + h * hd;
  for (int64_t d = 0; d < hd; ++d) o[d] = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    const float* vj = a.v + j * a.kvStride() + kvh * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] += s[j] * vj[d];
  }
  for (int64_t d = 0; d < hd; ++d) o[d] /= sum;
}

void Attention(const AttnArgs& a) {
  if (a.tokens == 0 || a.heads == 0 || a.headDim == 0) return;
  Isa isa = ActiveIsa();
  const int64_t L = a.posOffset + a.tokens;  // cache positions anyone looks at
  bool direct = isa != Isa::Avx512 || a.tokens <= kDirectMaxTokens;

  if (direct) {
    // latest (longest) queries first; AVX-512 tasks cover a kv head's whole query group
    const int64_t units = isa == Isa::Avx512 ? a.kvHeads : a.heads;
    ParallelFor(units * a.tokens, [&](int64_t task) {
      thread_local std::vector<float> s;
      if (static_cast<int64_t>(s.size()) < a.group() * (L + 16)) s.resize(a.group() * (L + 16));
      int64_t t = a.tokens - 1 - task / units, u = task % units;
      if (isa == Isa::Avx512) Direct512(a, u, t, s.data());
      else DirectScalar(a, u, t, s.data());
    });
    return;
  }

  // Transposed keys, [kvHeads, hd, ldk], zero-padded to a multiple of 32 positions.
  const int64_t ldk = (L + 31) / 32 * 32;
  thread_local std::vector<float> kt;
  if (static_cast<int64_t>(kt.size()) < a.kvHeads * a.headDim * ldk) kt.resize(a.kvHeads * a.headDim * ldk);
  float* ktp = kt.data();
  const int64_t jBlocks = ldk / 64 + 1;
  ParallelFor(a.kvHeads * jBlocks, [&](int64_t chunk) {
    int64_t kvh = chunk / jBlocks, j0 = chunk % jBlocks * 64, j1 = std::min(ldk, j0 + 64);
    float* dst = ktp + kvh * a.headDim * ldk;
    for (int64_t j = j0; j < j1; ++j) {
      if (j < L) {
        const float* src = a.k + j * a.kvStride() + kvh * a.headDim;
        for (int64_t d = 0; d < a.headDim; ++d) dst[d * ldk + j] = src[d];
      } else {
        for (int64_t d = 0; d < a.headDim; ++d) dst[d * ldk + j] = 0.f;
      }
    }
  });
  const int64_t nBlocks = (a.tokens + kQueryBlock - 1) / kQueryBlock;
  ParallelFor(a.heads * nBlocks, [&](int64_t task) {
    thread_local std::vector<float> s;
    if (static_cast<int64_t>(s.size()) < kQueryBlock * ldk) s.resize(kQueryBlock * ldk);
    int64_t b = nBlocks - 1 - task / a.heads, h = task % a.heads;
    int64_t t0 = b * kQueryBlock, t1 = std::min(a.tokens, t0 + kQueryBlock);
    Block512(a, h, t0, t1, ktp + (h / a.group()) * a.headDim * ldk, ldk, s.data());
  });
}

// attention(out, q, k, v, tokens, kvLen, heads, kvHeads, headDim, posOffset, scale)
Napi::Value AttentionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = F32Arg(info, 0, "out");
  auto q = F32Arg(info, 1, "q");
  auto k = F32Arg(info, 2, "k");
  auto v = F32Arg(info, 3, "v");
  int64_t tokens = DimArg(info, 4, "tokens"), kvLen = DimArg(info, 5, "kvLen");
  int64_t heads = DimArg(info, 6, "heads", 1), kvHeads = DimArg(info, 7, "kvHeads", 1);
  int64_t headDim = DimArg(info, 8, "headDim", 1), posOffset = DimArg(info, 9, "posOffset");
  double scale = NumberArg(info, 10, "scale");
  auto S = [](int64_t x) { return std::to_string(x); };
  if (heads % kvHeads != 0)
    ThrowRange(env, "heads (" + S(heads) + ") must be a multiple of kvHeads (" + S(kvHeads) + ")");
  if (posOffset + tokens > kvLen)
    ThrowRange(env, "posOffset + tokens (" + S(posOffset) + " + " + S(tokens) + ") exceeds kvLen (" + S(kvLen) +
                        "): append the new keys/values to the cache first");
  if (!std::isfinite(scale)) ThrowRange(env, "scale must be finite");
  std::string qShape = "tokens*heads*headDim = " + S(tokens) + "*" + S(heads) + "*" + S(headDim);
  std::string kvShape = "kvLen*kvHeads*headDim = " + S(kvLen) + "*" + S(kvHeads) + "*" + S(headDim);
  NeedLength(env, "out", out.length, tokens * heads * headDim, qShape);
  NeedLength(env, "q", q.length, tokens * heads * headDim, qShape);
  NeedLength(env, "k", k.length, kvLen * kvHeads * headDim, kvShape);
  NeedLength(env, "v", v.length, kvLen * kvHeads * headDim, kvShape);
  size_t outBytes = tokens * heads * headDim * 4, kvBytes = kvLen * kvHeads * headDim * 4;
  auto overlaps = [](const void* x, size_t xb, const void* y, size_t yb) {
    auto px = reinterpret_cast<uintptr_t>(x), py = reinterpret_cast<uintptr_t>(y);
    return xb && yb && px < py + yb && py < px + xb;
  };
  if (overlaps(out.data, outBytes, q.data, outBytes) || overlaps(out.data, outBytes, k.data, kvBytes) ||
      overlaps(out.data, outBytes, v.data, kvBytes))
    ThrowRange(env, "out must not overlap q, k or v");
  AttnArgs a{out.data, q.data, k.data, v.data, tokens, kvLen, heads, kvHeads, headDim, posOffset,
             static_cast<float>(scale)};
  Attention(a);
  return env.Undefined();
}
}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, AttentionJs, "attention"));
}

}  // namespace anyprec

// AnyBCQ quantizer hot loops (Park et al., ICLR 2026): the data-aware refit of the
// per-group scales and offsets with the sign planes frozen.
//
// The refit minimises, per output row r, ‖X_q ŵ_r − X_f w_r‖² where ŵ_r = A_r θ_r is
// linear in the row's scales/offsets θ_r (A_r holds the row's ±1 planes, one column per
// (group, plane) masked to its group, plus one ones-column per group for the offset).
// Its normal equations are (A_rᵀ H A_r) θ_r = A_rᵀ C w_r with H = X_qᵀX_q and C = X_qᵀX_f.
//
//   bcqFit: the data-free per-group fit (base width + progressive expansion), see below.
//   bcqNormalEquations: the per-row (A_rᵀ H A_r, A_rᵀ C w_r); the TypeScript side solves them
//   (H and C themselves come from sgemm over the captured activations).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "registry.h"

namespace anyprec {
namespace {

template <typename T>
ArrayArg<T> TypedArg(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type type,
                     const char* typeName) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowType(info.Env(), std::string(name) + " must be a " + typeName);
  }
  auto arr = info[i].As<Napi::TypedArray>();
  ArrayArg<T> out;
  out.data = reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
  out.length = arr.ElementLength();
  return out;
}

// Σ a[d]·b[d] with 8 independent partial sums, so the compiler vectorises it without
// reassociating a single accumulator (no -ffast-math here).
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[d + u] * b[d + u];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

inline float Sum(const float* a, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[d + u];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; d < n; ++d) s += a[d];
  return s;
}

// Per row r, with per = bits (+1 with offsets) unknowns per group and m = groups·per:
//   g[r, (gi,i), (gj,k)] = Σ_{c∈gi, d∈gj} z_{r,i,c} h[c, d] z_{r,k,d}      (z of the offset = 1)
//   y[r, (gi,i)]        = Σ_{c∈gi} z_{r,i,c} (C w_r)_c
// For every (group gi, plane i) the vectors t_r = Σ_{c∈gi} z_{r,i,c} h[c, :] of all rows at
// once are one GEMM, T = Z_i[:, gi] · H[gi, :] ([rows, cols]); each t_r is then reduced
// against every group and plane of its row. V = W Cᵀ (all C w_r) is one GEMM too.
Napi::Value BcqNormalEquations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = TypedArg<double>(info, 0, "g", napi_float64_array, "Float64Array");
  auto y = TypedArg<double>(info, 1, "y", napi_float64_array, "Float64Array");
  auto signs = TypedArg<int8_t>(info, 2, "signs", napi_int8_array, "Int8Array");
  auto h = F32Arg(info, 3, "h");
  const bool cIsH = IsNullish(info, 4);
  ArrayArg<float> c;
  if (!cIsH) c = F32Arg(info, 4, "c");
  auto w = F32Arg(info, 5, "w");
  const int64_t rows = DimArg(info, 6, "rows", 1);
  const int64_t cols = DimArg(info, 7, "cols", 1);
  const int64_t bits = DimArg(info, 8, "bits", 1);
  const int64_t groupSize = DimArg(info, 9, "groupSize", 1);
  const bool withOffset = BoolArg(info, 10, "withOffset", false);
  if (bits > 8) ThrowRange(env, "bits must be 1..8");
  const int64_t groups = (cols + groupSize - 1) / groupSize;
  const int64_t per = bits + (withOffset ? 1 : 0);
  const int64_t m = groups * per;
  ExactLength(env, "g", g.length, rows * m * m, "[rows, m, m], m = groups*(bits+offset)");
  ExactLength(env, "y", y.length, rows * m, "[rows, m]");
  NeedLength(env, "signs", signs.length, bits * rows * cols, "[P >= bits, rows, cols]");
  if (signs.length % static_cast<size_t>(rows * cols) != 0) ThrowRange(env, "signs length must be P*rows*cols");
  ExactLength(env, "h", h.length, cols * cols, "[cols, cols]");
  if (!cIsH) ExactLength(env, "c", c.length, cols * cols, "[cols, cols]");
  ExactLength(env, "w", w.length, rows * cols, "[rows, cols]");

  const float* H = h.data;
  const float* C = cIsH ? h.data : c.data;
  const int8_t* S = signs.data;
  const int64_t planeStride = rows * cols;
  // ±1 planes as f32 [bits, rows, cols] (GEMM operands and reduction weights).
  std::vector<float> z(static_cast<size_t>(bits * rows * cols));
  for (int64_t i = 0; i < bits * planeStride; ++i) z[i] = S[i];
  // Offset vectors Σ_{c∈gi} h[c, :] are the same for every row.
  std::vector<float> offT(withOffset ? static_cast<size_t>(groups * cols) : 0);
  if (withOffset)
    for (int64_t gi = 0; gi < groups; ++gi) {
      float* t = offT.data() + gi * cols;
      for (int64_t cc = gi * groupSize; cc < std::min(cols, (gi + 1) * groupSize); ++cc)
        for (int64_t d = 0; d < cols; ++d) t[d] += H[cc * cols + d];
    }
  // V = W Cᵀ: row r is C w_r.
  std::vector<float> v(static_cast<size_t>(rows * cols));
  Gemm(rows, cols, cols, 1.f, w.data, cols, false, DenseTransB(C, cols), 0.f, v.data(), cols);
  std::vector<float> t(static_cast<size_t>(rows * cols));

  // Reduces row r's vector tv (the (gi, i) unknown) against every group and plane.
  auto reduce = [&](int64_t r, int64_t gi, int64_t i, const float* tv) {
    double* G = g.data + r * m * m;
    const int64_t row = gi * per + i;
    for (int64_t gj = 0; gj < groups; ++gj) {
      const int64_t d0 = gj * groupSize, d1 = std::min(cols, d0 + groupSize);
      for (int64_t k = 0; k < per; ++k) {
        G[row * m + gj * per + k] =
            k < bits ? Dot(tv + d0, z.data() + k * planeStride + r * cols + d0, d1 - d0) : Sum(tv + d0, d1 - d0);
      }
    }
  };
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t c0 = gi * groupSize, c1 = std::min(cols, c0 + groupSize);
    for (int64_t i = 0; i < bits; ++i) {
      // T = Z_i[:, c0:c1] · H[c0:c1, :]
      Gemm(rows, cols, c1 - c0, 1.f, z.data() + i * planeStride + c0, cols, false, DenseB(H + c0 * cols, cols), 0.f,
           t.data(), cols);
      ParallelRun(Threads(), [&](int tid, int n) {
        int64_t r0, r1;
        SplitRange(rows, tid, n, 1, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) {
          reduce(r, gi, i, t.data() + r * cols);
          y.data[r * m + gi * per + i] =
              Dot(z.data() + i * planeStride + r * cols + c0, v.data() + r * cols + c0, c1 - c0);
        }
      });
    }
    if (withOffset)
      ParallelRun(Threads(), [&](int tid, int n) {
        int64_t r0, r1;
        SplitRange(rows, tid, n, 1, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) {
          reduce(r, gi, bits, offT.data() + gi * cols);
          y.data[r * m + gi * per + bits] = Sum(v.data() + r * cols + c0, c1 - c0);
        }
      });
  }
  // Symmetrise: f32 rounding makes the two triangles differ in the last bits.
  ParallelRun(Threads(), [&](int tid, int n) {
    int64_t r0, r1;
    SplitRange(rows, tid, n, 1, &r0, &r1);
    for (int64_t r = r0; r < r1; ++r) {
      double* G = g.data + r * m * m;
      for (int64_t a = 0; a < m; ++a)
        for (int64_t b = 0; b < a; ++b) {
          const double sym = 0.5 * (G[a * m + b] + G[b * m + a]);
          G[a * m + b] = sym;
          G[b * m + a] = sym;
        }
    }
  });
  return env.Undefined();
}

// bcqInverseCholeskyUpper(h f64 [n, n], n, lambda, u f64 [n, n] out): upper-triangular U with
// (H + λI)⁻¹ = UᵀU (the factor GPTQ propagates its errors with). With J the reversal, J(H+λI)J
// = L Lᵀ (lower Cholesky, row-oriented dot products), and U = J L⁻¹ J (L⁻¹ by forward
// substitution, row-oriented axpys): both walk contiguous rows. Returns false (u untouched)
// when a pivot is not positive.
Napi::Value BcqInverseCholeskyUpper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = TypedArg<double>(info, 0, "h", napi_float64_array, "Float64Array");
  const int64_t n = DimArg(info, 1, "n", 1);
  const double lambda = NumberArg(info, 2, "lambda");
  auto u = TypedArg<double>(info, 3, "u", napi_float64_array, "Float64Array");
  ExactLength(env, "h", h.length, n * n, "[n, n]");
  ExactLength(env, "u", u.length, n * n, "[n, n]");
  std::vector<double> l(static_cast<size_t>(n * n), 0.0);
  const double* H = h.data;
  // a[i][j] = H[n-1-i][n-1-j] + λδ
  for (int64_t i = 0; i < n; ++i) {
    double* li = l.data() + i * n;
    for (int64_t j = 0; j <= i; ++j) {
      const double* lj = l.data() + j * n;
      double acc[4] = {0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 4 <= j; k += 4)
        for (int q = 0; q < 4; ++q) acc[q] += li[k + q] * lj[k + q];
      double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      for (; k < j; ++k) s += li[k] * lj[k];
      const double a = H[(n - 1 - i) * n + (n - 1 - j)] + (i == j ? lambda : 0.0);
      if (i == j) {
        const double d = a - s;
        if (!(d > 0)) return Napi::Boolean::New(env, false);
        li[i] = std::sqrt(d);
      } else {
        li[j] = (a - s) / lj[j];
      }
    }
  }
  // X = L⁻¹ (lower): x_i = (e_i − Σ_{k<i} L[i,k] x_k) / L[i,i]
  std::vector<double> x(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double* xi = x.data() + i * n;
    const double* li = l.data() + i * n;
    for (int64_t k = 0; k < i; ++k) {
      const double f = li[k];
      if (f == 0.0) continue;
      const double* xk = x.data() + k * n;
      for (int64_t j = 0; j <= k; ++j) xi[j] -= f * xk[j];
    }
    xi[i] += 1.0;
    const double inv = 1.0 / li[i];
    for (int64_t j = 0; j <= i; ++j) xi[j] *= inv;
  }
  // U[a][b] = X[n-1-a][n-1-b]
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < n; ++b) u.data[a * n + b] = x[(n - 1 - a) * n + (n - 1 - b)];
  return Napi::Boolean::New(env, true);
}

// ------------------------------------------------------------------ data-free fit ----
// Same algorithm as packages/quantizers/src/anybcq/fit.ts (the readable reference, tested
// against brute force and direct least squares): per group, greedy residual binarisation,
// `cycles` alternating rounds of least-squares refit + optimal codes (binary search over the
// sorted 2^b levels) at the base width, then expansion one plane at a time (new plane = sign
// of the residual, all scales and the offset refit). Groups are independent: rows are split
// across threads and the result does not depend on the thread count.

// Cholesky solve of the SPD m×m system, dropping numerically dependent columns (unknown = 0).
void SolveSpdDrop(const double* a, const double* y, int m, double* x) {
  double l[10 * 10] = {0};
  bool keep[10] = {false};
  for (int j = 0; j < m; ++j) {
    double d = a[j * m + j];
    for (int k = 0; k < j; ++k) d -= l[j * m + k] * l[j * m + k];
    if (!(d > 1e-12 * std::fabs(a[j * m + j])) || !(d > 1e-300)) continue;
    keep[j] = true;
    const double s = std::sqrt(d);
    l[j * m + j] = s;
    for (int i = j + 1; i < m; ++i) {
      double v = a[i * m + j];
      for (int k = 0; k < j; ++k) v -= l[i * m + k] * l[j * m + k];
      l[i * m + j] = v / s;
    }
  }
  double z[10] = {0};
  for (int i = 0; i < m; ++i) {
    if (!keep[i]) continue;
    double v = y[i];
    for (int k = 0; k < i; ++k) v -= l[i * m + k] * z[k];
    z[i] = v / l[i * m + i];
  }
  for (int i = m - 1; i >= 0; --i) {
    if (!keep[i]) {
      x[i] = 0;
      continue;
    }
    double v = z[i];
    for (int k = i + 1; k < m; ++k) v -= l[k * m + i] * x[k];
    x[i] = v / l[i * m + i];
  }
}

// Least-squares scales (+ offset) of one group for fixed codes; returns the offset.
// With importance d (nullable), input j is weighted by d[j].
double RefitGroup(const double* w, int n, const int8_t* s, int stride, int p, bool off, double* alpha,
                  const double* d) {
  const int m = p + (off ? 1 : 0);
  double a[10 * 10] = {0}, y[10] = {0}, x[10];
  for (int j = 0; j < n; ++j) {
    const double dj = d ? d[j] : 1.0;
    const double wj = w[j] * dj;
    for (int i = 0; i < p; ++i) {
      const double si = s[i * stride + j];
      y[i] += si * wj;
      for (int k = 0; k <= i; ++k) a[i * m + k] += si * s[k * stride + j] * dj;
      if (off) a[p * m + i] += si * dj;
    }
    if (off) {
      y[p] += wj;
      a[p * m + p] += dj;
    }
  }
  for (int i = 0; i < m; ++i)
    for (int k = i + 1; k < m; ++k) a[i * m + k] = a[k * m + i];
  SolveSpdDrop(a, y, m, x);
  for (int i = 0; i < p; ++i) alpha[i] = x[i];
  return off ? x[p] : 0.0;
}

// Optimal codes for fixed scales (nearest of the sorted levels); true when a code changed.
bool AssignGroup(const double* r, int n, const double* alpha, int q, int8_t* s, int stride) {
  const int count = 1 << q;
  std::pair<double, int> lv[256];
  for (int pat = 0; pat < count; ++pat) {
    double v = 0;
    for (int i = 0; i < q; ++i) v += (pat & (1 << i)) ? alpha[i] : -alpha[i];
    lv[pat] = {v, pat};
  }
  std::sort(lv, lv + count);
  double mids[255];
  for (int k = 0; k + 1 < count; ++k) mids[k] = 0.5 * (lv[k].first + lv[k + 1].first);
  bool changed = false;
  for (int j = 0; j < n; ++j) {
    int lo = 0, hi = count - 1;
    const double v = r[j];
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (v < mids[mid]) hi = mid;
      else lo = mid + 1;
    }
    const int pat = lv[lo].second;
    for (int i = 0; i < q; ++i) {
      const int8_t sg = (pat & (1 << i)) ? 1 : -1;
      if (s[i * stride + j] != sg) {
        s[i * stride + j] = sg;
        changed = true;
      }
    }
  }
  return changed;
}

struct FitConfig {
  int bits, base, cycles;
  bool off;
};

// Fits one group: s gets `bits` planes (stride), scales[b] (b values) / offsets[b] per width.
void FitGroup(const double* w, int n, const FitConfig& c, int8_t* s, int stride, double* r, double scales[9][8],
              double* offsets, const double* d) {
  double alpha[8] = {0};
  const int q = c.base;
  double dSum = 0;
  for (int j = 0; j < n; ++j) dSum += d ? d[j] : 1.0;
  double beta = 0;
  if (c.off) {
    for (int j = 0; j < n; ++j) beta += (d ? d[j] : 1.0) * w[j];
    beta /= dSum;
  }
  for (int j = 0; j < n; ++j) r[j] = w[j] - beta;
  for (int i = 0; i < q; ++i) {
    double m = 0;
    for (int j = 0; j < n; ++j) {
      s[i * stride + j] = r[j] >= 0 ? 1 : -1;
      m += (d ? d[j] : 1.0) * std::fabs(r[j]);
    }
    m /= dSum;
    alpha[i] = m;
    for (int j = 0; j < n; ++j) r[j] -= m * s[i * stride + j];
  }
  for (int t = 0; t < c.cycles; ++t) {
    beta = RefitGroup(w, n, s, stride, q, c.off, alpha, d);
    for (int i = 0; i < q; ++i) alpha[i] = std::fabs(alpha[i]);
    std::sort(alpha, alpha + q, [](double x, double y) { return x > y; });
    for (int j = 0; j < n; ++j) r[j] = w[j] - beta;
    if (!AssignGroup(r, n, alpha, q, s, stride)) break;
  }
  beta = RefitGroup(w, n, s, stride, q, c.off, alpha, d);
  for (int i = 0; i < q; ++i) scales[q][i] = alpha[i];
  offsets[q] = beta;
  for (int p = q + 1; p <= c.bits; ++p) {
    const int np = p - 1;
    alpha[np] = 0;
    const int rounds = c.cycles > 1 ? c.cycles : 1;
    for (int t = 0; t < rounds; ++t) {
      bool changed = false;
      for (int j = 0; j < n; ++j) {
        double v = w[j] - beta;
        for (int i = 0; i < np; ++i) v -= alpha[i] * s[i * stride + j];
        const int8_t sg = v >= 0 ? 1 : -1;
        if (t == 0 || s[np * stride + j] != sg) {
          s[np * stride + j] = sg;
          changed = true;
        }
      }
      if (!changed) break;
      beta = RefitGroup(w, n, s, stride, p, c.off, alpha, d);
      if (alpha[np] < 0) {
        alpha[np] = -alpha[np];
        for (int j = 0; j < n; ++j) s[np * stride + j] = static_cast<int8_t>(-s[np * stride + j]);
      }
    }
    for (int i = 0; i < p; ++i) scales[p][i] = alpha[i];
    offsets[p] = beta;
  }
}

// bcqFit(weight f32 [rows, cols], rows, cols, bits, baseBits, groupSize, offsets, cycles,
//        signs Int8 [bits, rows, cols] out, scales f64 out (width base..bits concatenated,
//        each [rows, groups, b]), offsets f64 out [(bits - base + 1), rows, groups] or null)
Napi::Value BcqFit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto w = F32Arg(info, 0, "weight");
  const int64_t rows = DimArg(info, 1, "rows", 1);
  const int64_t cols = DimArg(info, 2, "cols", 1);
  const int64_t bits = DimArg(info, 3, "bits", 1);
  const int64_t base = DimArg(info, 4, "baseBits", 1);
  const int64_t groupSize = DimArg(info, 5, "groupSize", 1);
  const bool off = BoolArg(info, 6, "offsets", false);
  const int64_t cycles = DimArg(info, 7, "cycles", 0);
  auto signs = TypedArg<int8_t>(info, 8, "signs", napi_int8_array, "Int8Array");
  auto scales = TypedArg<double>(info, 9, "scales", napi_float64_array, "Float64Array");
  ArrayArg<double> offsets;
  if (off) offsets = TypedArg<double>(info, 10, "offsets", napi_float64_array, "Float64Array");
  const bool weighted = !IsNullish(info, 11);
  ArrayArg<double> importance;
  if (weighted) importance = TypedArg<double>(info, 11, "importance", napi_float64_array, "Float64Array");
  if (bits > 8) ThrowRange(env, "bits must be 1..8");
  if (base > bits) ThrowRange(env, "baseBits must be <= bits");
  if (weighted) ExactLength(env, "importance", importance.length, cols, "[cols]");
  const int64_t groups = (cols + groupSize - 1) / groupSize;
  int64_t scaleCount = 0;
  for (int64_t b = base; b <= bits; ++b) scaleCount += rows * groups * b;
  ExactLength(env, "weight", w.length, rows * cols, "[rows, cols]");
  ExactLength(env, "signs", signs.length, bits * rows * cols, "[bits, rows, cols]");
  ExactLength(env, "scales", scales.length, scaleCount, "Σ_b rows*groups*b for b = baseBits..bits");
  if (off) ExactLength(env, "offsets", offsets.length, (bits - base + 1) * rows * groups, "[widths, rows, groups]");

  const FitConfig cfg{static_cast<int>(bits), static_cast<int>(base), static_cast<int>(cycles), off};
  std::vector<int64_t> scaleBase(9, 0);
  for (int64_t b = base, acc = 0; b <= bits; ++b) {
    scaleBase[b] = acc;
    acc += rows * groups * b;
  }
  const float* W = w.data;
  int8_t* S = signs.data;
  double* SC = scales.data;
  double* OF = off ? offsets.data : nullptr;
  ParallelRun(Threads(), [&](int tid, int n) {
    int64_t r0, r1;
    SplitRange(rows, tid, n, 1, &r0, &r1);
    std::vector<double> wg(static_cast<size_t>(groupSize)), r(static_cast<size_t>(groupSize));
    std::vector<int8_t> local(static_cast<size_t>(bits * groupSize));
    double gs[9][8];
    double go[9];
    for (int64_t row = r0; row < r1; ++row) {
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * groupSize;
        const int gn = static_cast<int>(std::min(groupSize, cols - c0));
        for (int j = 0; j < gn; ++j) wg[j] = W[row * cols + c0 + j];
        FitGroup(wg.data(), gn, cfg, local.data(), static_cast<int>(groupSize), r.data(), gs, go,
                 weighted ? importance.data + c0 : nullptr);
        for (int64_t p = 0; p < bits; ++p)
          std::memcpy(S + (p * rows + row) * cols + c0, local.data() + p * groupSize, static_cast<size_t>(gn));
        for (int64_t b = base; b <= bits; ++b) {
          for (int64_t i = 0; i < b; ++i) SC[scaleBase[b] + (row * groups + g) * b + i] = gs[b][i];
          if (OF) OF[(b - base) * rows * groups + row * groups + g] = go[b];
        }
      }
    }
  });
  return env.Undefined();
}

}  // namespace

void RegisterBcq(Napi::Env env, Napi::Object exports) {
  exports.Set("bcqFit", Napi::Function::New(env, BcqFit, "bcqFit"));
  exports.Set("bcqNormalEquations", Napi::Function::New(env, BcqNormalEquations, "bcqNormalEquations"));
  exports.Set("bcqInverseCholeskyUpper",
              Napi::Function::New(env, BcqInverseCholeskyUpper, "bcqInverseCholeskyUpper"));
}

}  // namespace anyprec

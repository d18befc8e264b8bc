#pragma once
// Packed, register-blocked f32 GEMM core shared by dense matmul, sgemm and the bit-plane
// kernels (which dequantize weight panels while packing, so prefill runs at dense speed).
// Blocking follows the BLIS/GotoBLAS scheme (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", TOMS 2008): B micro-panels of KC x NR stay in L1
// while MR-row micro-panels of a packed MC x KC block of A stream from L2.
#include <cstdint>

namespace anyprec {

constexpr int kGemmMR = 14;   // rows of C per micro-tile
constexpr int kGemmNR = 32;   // columns of C per micro-tile (two AVX-512 vectors)
constexpr int kGemmKC = 256;  // depth of a packed panel (a multiple of 32, for bit-plane words)
constexpr int kGemmMC = 14 * 37;

// Supplies B (K x N, "C = A * B") one NR-column panel at a time.
struct BSource {
  virtual ~BSource() = default;
  // Writes B[k0 .. k0+kc) x [n0 .. n0+nr) into dst as kc rows of kGemmNR floats (columns
  // n0+nr .. n0+NR zero-filled). nr <= kGemmNR, kc <= kGemmKC, k0 % 32 == 0.
  virtual void Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const = 0;
};

// A B whose columns are rows of a row-major weight matrix W [N, K] (B = W^T, as in HF
// Linear): subclasses only produce contiguous row segments; packing transposes them.
struct RowSource : BSource {
  // dst[0 .. kc) = W[n, k0 .. k0+kc).
  virtual void Row(int64_t n, int64_t k0, int kc, float* dst) const = 0;
  void Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const override;
};

// B = b (K x N, b[k*ldb + n]).
struct DenseB : BSource {
  const float* b;
  int64_t ldb;
  DenseB(const float* b_, int64_t ldb_) : b(b_), ldb(ldb_) {}
  void Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const override;
};

// B = b^T for b (N x K, b[n*ldb + k]), e.g. the f32 weights of a Linear.
struct DenseTransB : BSource {
  const float* b;
  int64_t ldb;
  DenseTransB(const float* b_, int64_t ldb_) : b(b_), ldb(ldb_) {}
  void Pack(int64_t k0, int kc, int64_t n0, int nr, float* dst) const override;
};

// C[M x N] = alpha * op(A) * B + beta * C, row-major C with leading dimension ldc.
// op(A) = A (A[i*lda + k]) or A^T (A[k*lda + i]) when transA. Multithreaded inside.
void Gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, bool transA,
          const BSource& B, float beta, float* C, int64_t ldc);

}  // namespace anyprec

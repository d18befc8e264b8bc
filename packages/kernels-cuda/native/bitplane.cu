// Fused bit-plane matmul for layout v1 (docs/architecture.md) on Hopper tensor cores.
//
// out[t, r] = sum_k x[t, k] * W[r, k], W dequantised on the fly from `bits` planes:
//   Any-Precision (Park et al., ICML 2024): W = lut[r][index], index = top `bits` bits.
//   AnyBCQ (Park et al., ICLR 2026):       W = offset + sum_i scale_i * (bit_i ? +1 : -1).
//
// Design (see README.md and ../../shared/reference/kernels.md §4 for the budget argument):
// - mma.sync.m16n8k16 with the weights as the 16-row A operand and up to 8 tokens as the
//   n = 8 B operand ("swap AB"), so tokens 1..8 cost one mma and 9..16 two; fp32 accumulation.
// - The reduction over k does not care about the order of k, so each lane takes the
//   columns that are cheapest for it: lane (g, t) loads words 4t..4t+3 of a 512-column
//   segment (16-byte loads straight from layout v1) and, for bit class s = 0..3, feeds
//   columns s + 4i (i = 0..7) of a word into its fragment slots. Those 8 bits sit one per
//   nibble after a single shift, so a plane costs 2 integer ops per 8 weights and the
//   3-bit index of 8 weights is one register of nibbles. The activations are permuted the
//   same way once per CTA while being staged in shared memory.
// - AnyBCQ at one token (groupSize % 128 == 0): no decode at all. The binary mma m16n8k256
//   (AND + popc) multiplies the plane words as stored (two 128-column quads per A operand, as
//   ldmatrix leaves them) by 24 bit-planes of x in fixed point (staged per CTA by a warp bit
//   transpose), one plane and quad at a time; the scales apply in fp32 per 128 columns (see mmaPopc).
// - Index -> fp16 through PRMT on an 8-entry table held in registers (FLUTE-like register
//   LUT, here built per row for Any-Precision <= 3 bits and per (row, group, 3-plane
//   chunk) for AnyBCQ, whose weight is linear in its planes so wider BCQ sums chunks).
//   Any-Precision at 4 bits uses two such tables and a third PRMT; >= 5 bits read a per-row
//   table from shared memory, indexed by bytes that one 8 x 8 bit transpose per row word makes.
// - Work is cut into units of one 16-row tile x one 512-column segment. The CTAs that fit the
//   GPU at once split the tiles evenly (shares differ by at most one tile) and each warp takes
//   a contiguous run of its CTA's units, so accumulators and row tables change only with the
//   tile and a warp's copies stream from one tile into the next without a gap.
// - Planes stream through a per-warp cp.async ring in shared memory (several units in flight
//   per warp), issued before the activations are staged; programmatic dependent launch lets
//   those copies overlap the previous kernel's tail.
// - Where measured faster, a grid of one CTA per SM ("colocation"): the next launch on the
//   stream then fits beside this one and streams its first units while this one computes.
// - Split-K over a thread-block cluster when a cost model (fitted to H100 timings) says it
//   pays; partial tiles are reduced through distributed shared memory, so no atomics to global
//   memory and no memset. Within a CTA, partial tiles shared by warps are summed in warp order
//   at the end (no atomics), so every run rounds the same way.
#include <cooperative_groups.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "bitplane.h"

namespace cg = cooperative_groups;

namespace anyprec_cuda {
namespace {

// Warps per CTA: up to 4 bits one CTA of 16 warps per SM, so that every SM gets the same
// number of 16-row tiles (persistent, balanced to one tile); wider widths need more shared
// memory per warp (ring, per-row tables) and run two CTAs of 8 warps per SM.
#ifndef ANYPREC_NARROW_WARPS
#define ANYPREC_NARROW_WARPS 8  // warps per CTA up to 4 bits (16: one CTA per SM)
#endif
constexpr int warpsFor(int bits) { return bits <= 4 ? ANYPREC_NARROW_WARPS : 8; }
constexpr int ctasPerSmFor(int bits) { return 16 / warpsFor(bits); }
#ifndef ANYPREC_MIN_CTAS
#define ANYPREC_MIN_CTAS 2  // CTAs per SM the registers are budgeted for, up to 4 bits (grid: ctasPerSmFor)
#endif
constexpr int minCtasFor(int bits) { return bits <= 4 ? ANYPREC_MIN_CTAS : ctasPerSmFor(bits); }
// From these widths on, a table kernel runs one CTA of 8 warps per SM with up to 255 registers
// instead of two with 128, which spilled (the AnyBCQ table kernel at 5-8 bits: 16-464 bytes per
// thread). AnyBCQ 5-8 bits at 2-16 tokens, H100, sums of the seven Llama-3-8B linears at 2 / 8 /
// 16 tokens (us): 5-bit 123.9 / 146.7 / 203.6 -> 113.4 / 128.3 / 154.3, 8-bit 222.4 / 247.6 /
// 306.9 -> 189.5 / 200.1 / 230.1 (README, session 15; 1024x4096 5-bit at 8 tokens 8.6% slower).
// Any-Precision 6-8 bits measured mixed (8-bit at 8 tokens on 28672x4096 5.6% slower, 6-7 bits
// on 1024x4096 5-10% slower), so it keeps two CTAs. One token is unaffected where AnyBCQ runs the
// binary-mma kernel.
#ifndef ANYPREC_ONE_CTA_BCQ_BITS
#define ANYPREC_ONE_CTA_BCQ_BITS 5  // AnyBCQ table kernel (9: never)
#endif
#ifndef ANYPREC_ONE_CTA_LUT_BITS
#define ANYPREC_ONE_CTA_LUT_BITS 9  // Any-Precision fp16 table kernel (9: never)
#endif
// (the kernel-internal methods, binary-mma AnyBCQ and integer tables, keep two CTAs)
constexpr int oneCtaFromBits(int method) {
  return method == kMethodBcq ? ANYPREC_ONE_CTA_BCQ_BITS : method == kMethodLut ? ANYPREC_ONE_CTA_LUT_BITS : 99;
}
constexpr int ctasPerSmFor(int method, int bits) { return bits >= oneCtaFromBits(method) ? 1 : ctasPerSmFor(bits); }
constexpr int minCtasFor(int method, int bits) { return bits >= oneCtaFromBits(method) ? 1 : minCtasFor(bits); }
constexpr int kSegCols = 512;                 // columns per unit (16 words)
constexpr uint32_t kLutAlignBytes = 512;      // >= 5-bit row tables: one 256-entry fp16 table
constexpr int kMaxCluster = 8;                // portable cluster size
// Tuning knobs (compile-time; README lists what was measured).
#ifndef ANYPREC_ACC_CHAINS
#define ANYPREC_ACC_CHAINS 2  // independent mma accumulator chains per warp (ILP)
#endif
#ifndef ANYPREC_INT_TABLES_EARLY
#define ANYPREC_INT_TABLES_EARLY 1  // integer table kernel: row tables to int16 before griddepcontrol.wait (0: after staging)
#endif
#ifndef ANYPREC_INT_CHAINS
#define ANYPREC_INT_CHAINS 2  // the same for the integer table kernel (two mmas per step already)
#endif
#ifndef ANYPREC_RING_KB
#define ANYPREC_RING_KB 96  // shared memory per SM for the asynchronous plane rings (at most)
#endif
#ifndef ANYPREC_RING_MAX
#define ANYPREC_RING_MAX 4  // most units a warp keeps in flight
#endif
#ifndef ANYPREC_CLUSTER_OCCUPANCY
#define ANYPREC_CLUSTER_OCCUPANCY 1  // wave model counts co-resident clusters (cudaOccupancyMaxActiveClusters)
#endif
#ifndef ANYPREC_PDL
#define ANYPREC_PDL 1  // programmatic dependent launch
#endif
#ifndef ANYPREC_SPLIT_COST
#define ANYPREC_SPLIT_COST 0.7  // wave model: split-K cost in units per warp (+0.12 per tile of a CTA, +3 beyond 2: clusters of 4-8 measured slow)
#endif
#ifndef ANYPREC_STAGE_COST
#define ANYPREC_STAGE_COST 0.03  // wave model: staging one segment of one token, in units per warp
#endif
#ifndef ANYPREC_PLANES_STAGE_COST
#define ANYPREC_PLANES_STAGE_COST 0.1  // the same for the AnyBCQ binary-mma kernel (fixed point + bit transpose)
#endif
#ifndef ANYPREC_FIXED_UNITS
#define ANYPREC_FIXED_UNITS 1.5  // wave model: staging + reduction cost, in units per warp
#endif
#ifndef ANYPREC_TRANSPOSE_INDEX
#define ANYPREC_TRANSPOSE_INDEX 1  // indices of the four bit classes of 3 planes by one 4x4 bit transpose (<= 4 bits)
#endif
#ifndef ANYPREC_FIRST_WAVE
#define ANYPREC_FIRST_WAVE 0  // units each warp requests before griddepcontrol.wait (0 = a full ring)
#endif
#ifndef ANYPREC_LUT1_FIRST_WAVE
#define ANYPREC_LUT1_FIRST_WAVE 1  // the same for Any-Precision at one token
#endif
#ifndef ANYPREC_PLANES_FIRST_WAVE
#define ANYPREC_PLANES_FIRST_WAVE 1  // the same for the AnyBCQ binary-mma kernel (0 = a full ring)
#endif
#ifndef ANYPREC_TOPUP
#define ANYPREC_TOPUP 1  // slots a partial first wave left empty are requested right after the activation loads
#endif
#ifndef ANYPREC_EARLY_TABLES
#define ANYPREC_EARLY_TABLES 1  // copy Any-Precision row tables asynchronously before griddepcontrol.wait
#endif
#ifndef ANYPREC_STAGE_WORDS
#define ANYPREC_STAGE_WORDS 16  // binary-mma AnyBCQ: x words each warp transposes per round (16 measured ~1% faster than 4)
#endif
#ifndef ANYPREC_X_SWIZZLE
#define ANYPREC_X_SWIZZLE 1  // several tokens: staged x blocks of odd words hold token m at m ^ 1 (conflict-free staging stores)
#endif
#ifndef ANYPREC_PROBE
#define ANYPREC_PROBE 0  // development: 1 = loads only, 2 = compute only, 3 = binary kernel's staging without its transposes (wrong results), 4 = staging before the wait (valid for constant x only), 5 = wait only, 6 = table lookups without the byte interleave, 7 = loads only with each unit's planes read as one contiguous block (a tiled layout), 8 = the same with the real decode (wrong results)
#endif
#ifndef ANYPREC_TRACE
#define ANYPREC_TRACE 0  // development: per-warp phase timestamps (ANYPREC_TRACE=1 at run time prints them)
#endif
#if ANYPREC_TRACE
constexpr int kTracePhases = 12;  // 0 start, 1 waited, 2 staged, 3 first unit, 4 loop, 5 combined, 6 end; SM cycles of
                                  // 7 / 8 the ring waits for unit 0 / later units, 9 / 10 unit 0's refills / compute; 11 = SM
#endif
// Dynamic shared memory per CTA: the Hopper maximum (trace builds keep 2 KiB of static stamps).
constexpr int kSmemBudget = 227 * 1024 - (ANYPREC_TRACE ? 2048 : 0);
constexpr int kSmemPerSm = 228 * 1024;        // shared memory per SM (1 KiB of it reserved per CTA)

__device__ __forceinline__ void mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t h2u(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }

// ORDERED: a 16-bit global load and a PRMT that stay where they are written relative to other
// volatile asm (copies, barriers), so that a load's first use is not moved up to the load.
template <bool ORDERED>
__device__ __forceinline__ uint32_t ldgU16(const uint16_t* p) {
  if constexpr (!ORDERED) return __ldg(p);
  uint32_t v;
  asm volatile("ld.global.nc.u16 %0, [%1];\n" : "=r"(v) : "l"(p));
  return v;
}
__device__ __forceinline__ float halfBits(uint32_t bits) { return __half2float(__ushort_as_half((unsigned short)bits)); }  // fp16 bits -> float
template <bool ORDERED>
__device__ __forceinline__ uint32_t packHalves(uint32_t lo, uint32_t hi) {
  if constexpr (!ORDERED) return lo | (hi << 16);
  uint32_t r;
  asm volatile("prmt.b32 %0, %1, %2, 0x5410;\n" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
// AnyBCQ scales and offset of group grp for rows r0, r1 (a lane's rows g, g + 8) as fp16 bits:
// dst[i][b] = scale b of row ri for b < N - 1, dst[i][N - 1] = its offset (0 without offsets).
template <bool ORDERED, typename T, int N>
__device__ __forceinline__ void loadScaleBits(T (&dst)[2][N], const BitplaneArgs& a, int bits, int groups, int r0, int r1, int grp) {
  const size_t g0 = (size_t)r0 * groups + grp, g1 = (size_t)r1 * groups + grp;
#pragma unroll
  for (int b = 0; b < N - 1; ++b) dst[0][b] = ldgU16<ORDERED>(a.table + g0 * bits + b), dst[1][b] = ldgU16<ORDERED>(a.table + g1 * bits + b);
  dst[0][N - 1] = a.offsets ? ldgU16<ORDERED>(a.offsets + g0) : 0u;
  dst[1][N - 1] = a.offsets ? ldgU16<ORDERED>(a.offsets + g1) : 0u;
}

// PRMT with the hardware's selector semantics (__byte_perm masks each selector nibble to 3
// bits first, one LOP3 per call). Every selector here has bit 3 of each nibble clear.
__device__ __forceinline__ uint32_t prmt(uint32_t lo, uint32_t hi, uint32_t sel) {
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(r) : "r"(lo), "r"(hi), "r"(sel));
  return r;
}

// One fp16 entry (zero-extended) from a shared-space byte address. Not volatile and no memory
// clobber, so the compiler may schedule it freely: the row tables are written before the staging
// barrier and never during the unit loop, and every address depends on plane words read after it.
__device__ __forceinline__ uint32_t lds16(uint32_t addr) {
  unsigned short v;
  asm("ld.shared.u16 %0, [%1];\n" : "=h"(v) : "r"(addr));
  return v;
}

// Nibble i of the result = the `count`-bit index of column s + 4i of word v[first..]:
// plane first+k supplies bit (count-1-k), the most significant first (layout v1 order).
template <int COUNT>
__device__ __forceinline__ uint32_t nibbleIndex(const uint32_t* v, int S) {
  uint32_t acc = 0;
#pragma unroll
  for (int k = 0; k < COUNT; ++k) {
    constexpr uint32_t kMask = 0x11111111u;
    const int pos = COUNT - 1 - k;
    // pos and S are constants after unrolling; one shift + one LOP3 per plane. (Moving the
    // shift-and-add to the FMA pipe with IMAD measured no faster on H100.)
    acc |= (pos >= S ? (v[k] << (pos - S)) : (v[k] >> (S - pos))) & (kMask << pos);
  }
  return acc;
}

// nibbleIndex<COUNT>(v, s) for all four bit classes s at once. Nibble i of X[s] holds bit s of
// nibble i of every plane word, so the four X form the transpose of the planes' 4 x 4 bit
// blocks; two rounds of masked swaps (2-bit blocks, then single bits) build them. Measured on
// the H100 (README): 717 instead of 730 instructions per 3-bit unit, ~1% faster up to 4 bits
// (wider kernels use byteIndices).
template <int COUNT>
__device__ __forceinline__ void classIndices(const uint32_t* v, uint32_t (&X)[4]) {
  if constexpr (COUNT < 3) {
#pragma unroll
    for (int s = 0; s < 4; ++s) X[s] = nibbleIndex<COUNT>(v, s);
  } else {
    uint32_t W[4];  // W[r] supplies index bit r (the most significant plane comes first)
#pragma unroll
    for (int r = 0; r < 4; ++r) W[r] = r < COUNT ? v[COUNT - 1 - r] : 0u;
    constexpr uint32_t m2 = 0x33333333u, m1 = 0x55555555u;
    const uint32_t A = (W[0] & m2) | ((W[2] << 2) & ~m2), C = ((W[0] >> 2) & m2) | (W[2] & ~m2);
    const uint32_t B = (W[1] & m2) | ((W[3] << 2) & ~m2), D = ((W[1] >> 2) & m2) | (W[3] & ~m2);
    X[0] = (A & m1) | ((B << 1) & ~m1);
    X[1] = ((A >> 1) & m1) | (B & ~m1);
    X[2] = (C & m1) | ((D << 1) & ~m1);
    X[3] = ((C >> 1) & m1) | (D & ~m1);
  }
}

// Byte b of Q[j] = the COUNT-bit index of column 8b + j of the plane words v[0..COUNT) (plane k
// supplies bit COUNT-1-k, the most significant first): an 8 x 8 bit transpose within every byte
// of eight words (planes past COUNT are zeros, which the compiler folds), three rounds of masked
// swaps. Any-Precision >= 5 bits looks its indices up byte by byte (a shift and a mask each);
// gathering each index's bits nibble by nibble took a third more instructions per unit (H100,
// Nsight Compute, 8-bit 14336x4096: 2770 -> 2064).
// SHIFT = 1 (COUNT <= 7) makes every byte twice the index: the byte offset of an fp16 entry.
template <int COUNT, int SHIFT = 0>
__device__ __forceinline__ void byteIndices(const uint32_t* v, uint32_t (&Q)[8]) {
  static_assert(COUNT + SHIFT <= 8, "indices must fit a byte");
#pragma unroll
  for (int q = 0; q < 8; ++q) Q[q] = q >= SHIFT && q - SHIFT < COUNT ? v[COUNT - 1 - (q - SHIFT)] : 0u;  // Q[q] supplies bit q
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const uint32_t x = ((Q[q] >> 4) ^ Q[q + 4]) & 0x0F0F0F0Fu;
    Q[q + 4] ^= x, Q[q] ^= x << 4;
  }
#pragma unroll
  for (int q = 0; q < 8; q += (q & 1) ? 3 : 1) {  // 0, 1, 4, 5
    const uint32_t x = ((Q[q] >> 2) ^ Q[q + 2]) & 0x33333333u;
    Q[q + 2] ^= x, Q[q] ^= x << 2;
  }
#pragma unroll
  for (int q = 0; q < 8; q += 2) {
    const uint32_t x = ((Q[q] >> 1) ^ Q[q + 1]) & 0x55555555u;
    Q[q + 1] ^= x, Q[q] ^= x << 1;
  }
}

// 8 fp16 entries split into low and high bytes so that PRMT can index them by nibble.
struct Tab8 {
  uint32_t l0, l1, h0, h1;
};

__device__ __forceinline__ Tab8 tabFromHalves(uint32_t h01, uint32_t h23, uint32_t h45, uint32_t h67) {
  Tab8 t;
  t.l0 = __byte_perm(h01, h23, 0x6420);
  t.l1 = __byte_perm(h45, h67, 0x6420);
  t.h0 = __byte_perm(h01, h23, 0x7531);
  t.h1 = __byte_perm(h45, h67, 0x7531);
  return t;
}

// a[0] = fp16 pair of nibbles 0,1; a[1] = 2,3; a[2] = 4,5; a[3] = 6,7 (every nibble of idx < 8).
__device__ __forceinline__ void lookup8(const Tab8& T, uint32_t idx, uint32_t (&a)[4]) {
  uint32_t lo = prmt(T.l0, T.l1, idx);
  uint32_t hi = prmt(T.h0, T.h1, idx);
#if ANYPREC_PROBE == 6  // development: lookups without the byte interleave (results are wrong)
  a[0] = lo, a[1] = hi;
  a[2] = prmt(T.l0, T.l1, idx >> 16), a[3] = prmt(T.h0, T.h1, idx >> 16);
  return;
#endif
  a[0] = __byte_perm(lo, hi, 0x5140);
  a[1] = __byte_perm(lo, hi, 0x7362);
  const uint32_t idx2 = idx >> 16;
  lo = prmt(T.l0, T.l1, idx2);
  hi = prmt(T.h0, T.h1, idx2);
  a[2] = __byte_perm(lo, hi, 0x5140);
  a[3] = __byte_perm(lo, hi, 0x7362);
}

// 16-entry version for Any-Precision 4-bit: look up the low 3 index bits in the tables of
// entries 0..7 (A) and 8..15 (B), then let a third PRMT pick A or B per byte: its selector is
// 0x3210 plus 4 wherever the index's top bit is set.
__device__ __forceinline__ void lookup16(const Tab8& A, const Tab8& B, uint32_t idx3, uint32_t sel, uint32_t (&a)[4]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const uint32_t lo = prmt(prmt(A.l0, A.l1, idx3), prmt(B.l0, B.l1, idx3), sel);
    const uint32_t hi = prmt(prmt(A.h0, A.h1, idx3), prmt(B.h0, B.h1, idx3), sel);
#if ANYPREC_PROBE == 6
    a[2 * h] = lo, a[2 * h + 1] = hi;
#else
    a[2 * h] = __byte_perm(lo, hi, 0x5140);
    a[2 * h + 1] = __byte_perm(lo, hi, 0x7362);
#endif
    idx3 >>= 16;
    sel >>= 16;
  }
}

// AnyBCQ: table of one chunk of planes [FIRST, FIRST+COUNT) from scales already in registers;
// entry e = offset + sum_k scale_{FIRST+k} * (bit_{COUNT-1-k}(e) ? +1 : -1).
template <int FIRST, int COUNT>
__device__ __forceinline__ Tab8 bcqTabF(const float* scales, float offset) {
  float s2[COUNT];
  float base = offset;
#pragma unroll
  for (int k = 0; k < COUNT; ++k) {
    base -= scales[FIRST + k];
    s2[k] = 2.f * scales[FIRST + k];
  }
  float v[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    float acc = base;
#pragma unroll
    for (int k = 0; k < COUNT; ++k)
      if ((e >> (COUNT - 1 - k)) & 1) acc += s2[k];
    v[e] = e < (1 << COUNT) ? acc : 0.f;
  }
  return tabFromHalves(h2u(__floats2half2_rn(v[0], v[1])), h2u(__floats2half2_rn(v[2], v[3])),
                       h2u(__floats2half2_rn(v[4], v[5])), h2u(__floats2half2_rn(v[6], v[7])));
}

// ---- AnyBCQ at one token: binary tensor-core products on the planes ----
// AnyBCQ's weight is linear in its planes: out = sum_b scale_b * (2 x.plane_b - sum x) + offset *
// sum x per group. With x in 24-bit fixed point (two's complement, scale 2^f per CTA slice),
// x.plane_b = 2^-f sum_j w_j popc(plane_b AND xbit_j) with w_j = 2^j (-2^23 for the sign bit):
// the binary mma m16n8k256 (AND + popc) takes the plane words as they are stored as its A
// operand and eight x bit-planes as its n = 8 columns, so a plane needs no decode at all, only
// three mmas per 128 columns (24 x bits), an integer recombination and one fp32 scale.
// (An fp16 variant with one LOP3 per weight pair and plane, measured first, was slower than the
// table kernel: BITS fp16 mmas per 256 weights saturate the tensor pipe at one token.)
constexpr int kMethodBcqPlanes = 2;  // kernel-internal method id (BitplaneArgs says kMethodBcq)
constexpr int kXBits = 24;           // fixed-point bits of x (including the sign)

// D = popc(A AND B) over k = 256: a0, a1 = rows g, g + 8 of k-block t of the first 128 columns,
// a2, a3 those of the second 128, b0 / b1 the n column g of each half. A holds two quads (two
// 128-column blocks) of a plane and one of b0, b1 is zero, so each product covers one quad:
// every quad lies in one scale group (groupSize % 128 == 0). Keeping both quads in A lets
// ldmatrix write the operand in place; with one live half, every mma needed two copies and a
// zeroing first (SASS: MOV, MOV, CS2R per mma; D may not overwrite A, hence "=&r").
__device__ __forceinline__ void mmaPopc(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%10,%10,%10};\n"
      : "=&r"(d[0]), "=&r"(d[1]), "=&r"(d[2]), "=&r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(0));
}
// ---- Any-Precision at one token: integer tables, x in 8-bit digits ----
// The fp16 table path spends a PRMT per weight on interleaving the low and high bytes it
// looked up into fp16 pairs (a quarter of its instructions; leaving them out made 14336x4096
// 3-bit 12% faster, H100, README). Integer mmas take bytes as they come: each row's table is
// scaled to int16 (q = round(lut * 32767 / max|lut|)) and split into an unsigned low and a
// signed high byte table; x is put in fixed point (a power-of-two step per 512-column segment)
// as three signed 8-bit digits, X = d0 + 256 d1 + 65536 d2. Two m16n8k32 integer mmas per
// 16 x 32 weights, one per byte table, with digit g of x as B column g; per segment the counts
// go to fp32 as 2^-f sum_n 256^n (D_lo[n] + 256 D_hi[n]) (exact: |D| < 255 * 128 * 512 < 2^24),
// and the tile's sum is multiplied by the row's scale.
constexpr int kMethodLutInt = 3;  // kernel-internal method id (BitplaneArgs says kMethodLut)
// c (+)= A B; FIRST: c = A B (a segment's first product, so the counts need no zeroing)
template <bool UNSIGNED_A, bool FIRST>
__device__ __forceinline__ void imma16832(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                          uint32_t b1) {
  if constexpr (FIRST && UNSIGNED_A)
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
        : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
  else if constexpr (FIRST)
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
        : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
  else if constexpr (UNSIGNED_A)
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Four 8x8 b16 matrices from shared memory: lane l gets 32-bit element l % 4 of row l / 4 of
// each; lanes 8m..8m+7 address the rows of matrix m.
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* p) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s)
               : "memory");
}

// ---- asynchronous copies (cp.async, sm_80+) and programmatic dependent launch (sm_90) ----
__device__ __forceinline__ void cpAsync16(void* dst, const void* src, bool valid) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cpAsync4(void* dst, const void* src, bool valid) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0) : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// wait_group takes an immediate: dispatch the (uniform) run-time count.
__device__ __forceinline__ void cpAsyncWaitAtMost(int n) {
  switch (n) {
    case 0: cpAsyncWait<0>(); break;
    case 1: cpAsyncWait<1>(); break;
    case 2: cpAsyncWait<2>(); break;
    case 3: cpAsyncWait<3>(); break;
    default: cpAsyncWait<4>(); break;
  }
}
// Wait for the kernels this launch programmatically depends on (no-op without such a dependency).
__device__ __forceinline__ void gridDependencyWait() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
__device__ __forceinline__ void allowDependentLaunch() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }

// (tile, segment) of a warp's next unit: units run tile-major, one segment at a time.
struct UnitCursor {
  int tile, seg;
  __device__ __forceinline__ void advance(int nseg) {
    if (++seg == nseg) seg = 0, ++tile;
  }
};

struct KernelParams {
  BitplaneArgs a;
  int tilesPerCta;  // most 16-row tiles of one CTA (equal shares of the tiles, see extraFirst)
  int segsPerCta;   // x slice of one CTA (cluster rank = blockIdx.y), in 512-column segments
  int ringSlots;    // units each warp keeps in flight, 1..ringSlots(bits) (host picks to fit)
  int inbox;        // split-K: partial tiles pushed into the writing rank's inbox (1) or read through DSMEM (0)
  int extraFirst;   // the first CTAs take the extra tiles (1) or the extra tiles are spread (0), see launchOne
  unsigned long long* trace;  // ANYPREC_TRACE builds: [CTA][warp][kTracePhases] %globaltimer, or null
};

// Development timeline (ANYPREC_TRACE builds only): lane 0 of each warp stamps the phase.
// Stamps go to shared memory (a global store could stall behind the weight stream and
// distort the timeline) and are copied out by phase 6, the last.
#if ANYPREC_TRACE
__shared__ unsigned long long traceS[16][kTracePhases];
#endif
__device__ __forceinline__ void tracePhase(const KernelParams& kp, int phase) {
#if ANYPREC_TRACE
  if (kp.trace && (threadIdx.x & 31) == 0) {
    unsigned long long ns;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
    unsigned long long* mine = traceS[threadIdx.x >> 5];
    mine[phase] = ns;
    if (phase == 0) {
      for (int p = 1; p < kTracePhases; ++p) mine[p] = 0;
      uint32_t sm;
      asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
      mine[kTracePhases - 1] = sm;  // the last slot holds the SM
    }
    if (phase == 6) {
      const size_t cta = (size_t)blockIdx.y * gridDim.x + blockIdx.x;
      unsigned long long* slot = kp.trace + (cta * (blockDim.x >> 5) + (threadIdx.x >> 5)) * kTracePhases;
      for (int p = 0; p < kTracePhases; ++p) slot[p] = mine[p];
    }
  }
#else
  (void)kp, (void)phase;
#endif
}
// A value (not a time) into trace slot `slot` of this warp (ANYPREC_TRACE builds).
[[maybe_unused]] __device__ __forceinline__ void traceValue(const KernelParams& kp, int slot, unsigned long long value) {
#if ANYPREC_TRACE
  if (kp.trace && (threadIdx.x & 31) == 0) traceS[threadIdx.x >> 5][slot] = value;
#else
  (void)kp, (void)slot, (void)value;
#endif
}

// Most units each warp keeps in flight in its private shared-memory ring (one unit of one
// warp = 2 rows x BITS planes x 32 lanes x 16 B = BITS KiB).
constexpr int ringSlots(int bits) {
  return ANYPREC_RING_KB / (16 * bits) < 1 ? 1
         : ANYPREC_RING_KB / (16 * bits) > ANYPREC_RING_MAX ? ANYPREC_RING_MAX
                                                             : ANYPREC_RING_KB / (16 * bits);
}
constexpr size_t ringStageBytes(int bits) { return (size_t)warpsFor(bits) * bits * 1024; }
static_assert(ANYPREC_RING_MAX >= 1 && ANYPREC_RING_MAX <= 4, "cpAsyncWaitAtMost handles up to 4 slots");

// Work decomposition. A unit is one 16-row tile x one 512-column segment (one mma row tile,
// 32 k-steps). CTA (x, y) owns an equal share of the tiles (see KernelParams) and segments
// [y*segsPerCta, ...);
// its units are numbered tile-major and warp w takes the w-th of W equal contiguous ranges,
// so the work of CTAs differs by at most one tile, a warp's copies stream without gaps from
// one tile to the next, and its accumulators and row tables change only with the tile. A
// warp stores the tiles it covers completely into the CTA's output tile in shared memory and
// parks its partial first / last tile in its ring slots; the CTA sums the parked partials in
// warp order while writing (with split-K, the cluster adds the CTAs' tiles through DSMEM).
//
// Shared memory: ring [W][slots][BITS][2 rows][32 lanes] uint4 (each lane reads back only
// what it copied itself), xs [segs][qloc 4][s 4][tokens][t 4] uint4 (8 permuted fp16
// activations each), outS [NTOK][tilesPerCta*16] f32, lutS [tilesPerCta*16][2^BITS] f16
// (Any-Precision).
template <int METHOD, int BITS, int NT>
__global__ void __launch_bounds__(warpsFor(BITS) * 32, minCtasFor(METHOD, BITS)) fusedKernel(const KernelParams kp) {
  constexpr int W = warpsFor(BITS);
  constexpr int kThreadsT = W * 32;
  constexpr int NTOK = 8 * NT;
  constexpr bool kInt = METHOD == kMethodLutInt;  // Any-Precision <= 4 bits at one token, integer mmas
  constexpr bool kLutLike = METHOD == kMethodLut || kInt;
  static_assert(!kInt || (BITS <= 4 && NT == 1), "the integer table kernel is for 2-4 bits at one token");
  constexpr bool kSmemLut = kLutLike && BITS >= 5;
  constexpr bool kLut16 = kLutLike && BITS == 4;
  // AnyBCQ 4-bit: one 16-entry table per (row, group) = two 8-entry tables over planes 1..3
  // with plane 0's scale folded into the offset (-/+), looked up like Any-Precision 4-bit.
  constexpr bool kBcq16 = METHOD == kMethodBcq && BITS == 4;
  constexpr bool kSel16 = kLut16 || kBcq16;
  constexpr int kChunks = kLutLike ? (kLut16 ? 2 : 1) : (BITS + 2) / 3;
  constexpr int E = kLutLike ? 1 << BITS : 0;  // table entries per row
  constexpr bool kPlanes = METHOD == kMethodBcqPlanes;    // AnyBCQ by binary mma (see mmaPopc), 1 token
  const int S = kp.ringSlots;
  extern __shared__ uint4 smem[];
  const BitplaneArgs& a = kp.a;
  cg::cluster_group cluster = cg::this_cluster();

  const int rows = a.rows, cols = a.cols, tokens = a.tokens;
  const int K32 = cols >> 5;
  const int nsegTotal = (cols + kSegCols - 1) / kSegCols;
  const int tilesTotal = (rows + 15) >> 4;
  // The CTA's tiles: an equal share (differing by at most one); with kp.extraFirst the CTAs
  // launched first (lowest indices) take the extra tiles, otherwise they are spread evenly.
  const int tileBase = tilesTotal / gridDim.x, tileExtra = tilesTotal % gridDim.x;
  const int tile0 = kp.extraFirst ? blockIdx.x * tileBase + min((int)blockIdx.x, tileExtra)
                                  : (int)((long long)blockIdx.x * tilesTotal / gridDim.x);
  const int ntile = kp.extraFirst ? tileBase + ((int)blockIdx.x < tileExtra ? 1 : 0)
                                  : (int)((long long)(blockIdx.x + 1) * tilesTotal / gridDim.x) - tile0;
  const int seg0 = blockIdx.y * kp.segsPerCta;
  const int nseg = max(0, min(kp.segsPerCta, nsegTotal - seg0));
  const int units = ntile * nseg;
  const int tileRows = kp.tilesPerCta * 16;  // row stride of outS

  uint4* ring = smem;
  uint4* xs = smem + (size_t)S * ringStageBytes(BITS) / 16;
  // Several tokens (fp16 table kernels): a warp's 16-byte staging stores cover 32 consecutive
  // words of one token, and blocks (seg, qloc, s) lie a multiple of 128 bytes apart, so without
  // a swap only tq picks the bank group (4 of 8: twice the minimum wavefronts); with an even
  // token count the blocks of odd words hold token m at m ^ 1.
  const int xSwap = ANYPREC_X_SWIZZLE && (tokens & 1) == 0 ? 1 : 0;
  // Only real tokens are staged; lanes of padding tokens read the last real one (their
  // output columns are never stored).
  // Binary-mma AnyBCQ instead stages x bit-planes, [word of the slice][kXBits] u32, then the sum
  // of x per 128-column quad, then the raw slice.
  uint32_t* xbits = reinterpret_cast<uint32_t*>(xs);
  float* quadSum = reinterpret_cast<float*>(xbits + (size_t)kp.segsPerCta * 16 * kXBits);
  uint4* xraw = reinterpret_cast<uint4*>(quadSum + (size_t)kp.segsPerCta * 4);
  // Integer table kernel: x digits, [segment][qloc][s][t][digit 0..2][half] u32 (see computeInt),
  // then the fixed-point step 2^-f of each segment (16 bytes reserved per segment); the row
  // tables become int16 in place, with each row's scale after them (rowScaleS).
  uint32_t* xdig = reinterpret_cast<uint32_t*>(xs);
  float* segScale = reinterpret_cast<float*>(xs + (size_t)kp.segsPerCta * 96);
  float* outS = kPlanes ? reinterpret_cast<float*>(xraw + (size_t)kp.segsPerCta * 64)
                        : reinterpret_cast<float*>(xs + (size_t)kp.segsPerCta * (kInt ? 97 : 64 * tokens));
  uint16_t* lutS = reinterpret_cast<uint16_t*>(outS + NTOK * tileRows);
  // >= 5 bits: the row tables start on a 512-byte boundary (the host reserves kLutAlignBytes),
  // so that a row's base address OR twice an index is the entry's address (see compute).
  if constexpr (kSmemLut)
    lutS += ((0u - static_cast<uint32_t>(__cvta_generic_to_shared(lutS))) & (kLutAlignBytes - 1)) / 2;
  float* rowScaleS = reinterpret_cast<float*>(lutS + (size_t)tileRows * E);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const size_t planeStride = (size_t)rows * K32;
  const bool vec = (K32 & 3) == 0;
  const int uBegin = warp * units / W, mySegs = (warp + 1) * units / W - uBegin;
  // Binary-mma AnyBCQ: lane (g, t)'s 16 bytes go to chunk 4g + (t ^ (g/2 % 4)), so that ldmatrix
  // (8 rows of one t at a time) reads them without bank conflicts.
  const int myChunk = kPlanes ? (g << 2) | (t ^ ((g >> 1) & 3)) : lane;
  uint4* myRing = ring + (size_t)warp * S * BITS * 64 + myChunk;
  const UnitCursor first{nseg > 0 ? uBegin / nseg : 0, nseg > 0 ? uBegin % nseg : 0};
  UnitCursor issueAt = first;  // unit of the next issue(j) call (j increases by one per call)
  // Rows g and g + 8 of local tile tl, clamped to the matrix (rows past the end repeat the last
  // one; their outputs are never stored).
  auto laneRows = [&](int tl) {
    const int rb = (tile0 + tl) * 16;
    return make_int2(min(rb + g, rows - 1), min(rb + g + 8, rows - 1));
  };

  // Copy this warp's j-th unit (words 4t..4t+3 of rows g and g+8 of its tile, every plane) into
  // ring slot j % S; always commits a group, so that group j is always this warp's j-th unit.
  // Issue bookkeeping kept incrementally (a unit's copies are ~4-16 instructions; the
  // addresses cost ~60 more, a run-time modulo and 64-bit row products among them). Not at
  // 9..16 tokens nor in the AnyBCQ table kernel at 4 bits (measured no faster); at 5-8 bits it
  // spilled with two CTAs per SM and pays with one (5-bit sums 3% lower at 2 and 8 tokens,
  // 6-8 bits within 2%, session 15).
  constexpr bool kOneCtaBcq = METHOD == kMethodBcq && ctasPerSmFor(METHOD, BITS) == 1;  // registers to spare
  constexpr bool kLean = kPlanes || (NT == 1 && (kLutLike || BITS <= 3 || kOneCtaBcq));
  int issueSlot = 0;   // = j % S for the next issue(j) (kLean)
  int issueTile = -1;  // local tile whose row pointers P0, P1 hold (kLean)
  const uint32_t *P0 = a.planes, *P1 = a.planes;
  auto issue = [&](int j) {
    if (j < mySegs && (ANYPREC_PROBE != 2 || j < S)) {  // probe 2: compute side only (reuses the first S units)
      const int tl = issueAt.tile, sg = issueAt.seg;
      issueAt.advance(nseg);
      if (!kLean || tl != issueTile) {
        issueTile = tl;
        const int2 r = laneRows(tl);
        P0 = a.planes + (size_t)r.x * K32;
        P1 = a.planes + (size_t)r.y * K32;
      }
      const int w0 = (seg0 + sg) * 16 + 4 * t;
      uint4* dst = myRing + (kLean ? issueSlot : j % S) * BITS * 64;
      if (vec) {  // K32 % 4 == 0: a lane's 4 words are all inside the row or all past its end
        const bool ok = w0 < K32;
        const int wc = ok ? w0 : 0;
#if ANYPREC_PROBE == 7 || ANYPREC_PROBE == 8  // development: each unit's bytes as one contiguous block (a tiled layout)
        {
          const size_t unitIdx = ((size_t)(tile0 + tl) * nsegTotal + seg0 + sg) % ((size_t)rows * K32 / 256);  // whole blocks only
          const uint32_t* blk = a.planes + unitIdx * (BITS * 256) + (threadIdx.x & 31) * 4;
          for (int p = 0; p < BITS; ++p) {
            cpAsync16(dst + (2 * p) * 32, blk + (2 * p) * 128, ok);
            cpAsync16(dst + (2 * p + 1) * 32, blk + (2 * p + 1) * 128, ok);
          }
        }
#else
#pragma unroll
        for (int p = 0; p < BITS; ++p) {
          cpAsync16(dst + (2 * p) * 32, P0 + p * planeStride + wc, ok);
          cpAsync16(dst + (2 * p + 1) * 32, P1 + p * planeStride + wc, ok);
        }
#endif
      } else {
#pragma unroll
        for (int p = 0; p < BITS; ++p)
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const bool ok = w0 + q < K32;
            const int wc = ok ? w0 + q : 0;
            cpAsync4(reinterpret_cast<uint32_t*>(dst + (2 * p) * 32) + q, P0 + p * planeStride + wc, ok);
            cpAsync4(reinterpret_cast<uint32_t*>(dst + (2 * p + 1) * 32) + q, P1 + p * planeStride + wc, ok);
          }
      }
    }
    if (kLean && ++issueSlot == S) issueSlot = 0;
    cpAsyncCommit();
  };

  // AnyBCQ scales/offsets of (unit, group) for both rows, loaded one unit ahead of use.
  constexpr int kRawBits = METHOD == kMethodBcq ? BITS : 1;  // (table path only)
  // Prefetching keeps a second set of scales live: at 6-8 bits only with one CTA per SM, whose
  // registers allow it (sums 10-19% lower at 2-16 tokens, H100, session 15; two CTAs spilled).
  constexpr bool kPrefetchScales = METHOD == kMethodBcq && (BITS <= 5 || kOneCtaBcq);
  // fp16 bits, converted where the tables are built: the loads of the next unit's scales then
  // have a whole unit to return instead of stalling the warp at once (volatile loads, so that the
  // conversion is not moved up to them).
  uint32_t pre[2][kRawBits + 1];  // [row g, g + 8][scales..., offset], see loadScaleBits
  int preKey = -1;  // j * groups + group of what pre holds
  const int groups = !kLutLike ? (cols + a.groupSize - 1) / a.groupSize : 0;
  auto loadRaw = [&](int j, int tl, int grp) {
    const int2 r = laneRows(tl);
    loadScaleBits<kPrefetchScales>(pre, a, BITS, groups, r.x, r.y, grp);
    preKey = j * groups + grp;
  };
  auto firstGroupOf = [&](int sg) { return min(((seg0 + sg) * 16 + 4 * t) * 32 / a.groupSize, groups - 1); };
  // Binary-mma AnyBCQ: lane (g, t) loads the scales and offset of quad t (columns 128t.. of the
  // unit) for rows g and g + 8 as fp16 pairs, one unit ahead; the four lanes of a row pair
  // pass them round by shuffles (every quad lies in one group: groupSize % 128 == 0).
  constexpr int kPacked = kPlanes ? BITS + 1 : 1;
  uint32_t packedCur[kPacked];
  // Group of quad q = q / (groupSize / 128), a shift where that is a power of two (no division).
  const int quadsPerGroup = kPlanes ? max(1, a.groupSize / 128) : 1;
  const int quadShift = (quadsPerGroup & (quadsPerGroup - 1)) == 0 ? __ffs(quadsPerGroup) - 1 : -1;
  // Loading (fp16 bits of rows g, g + 8) and packing are separate steps, and both are volatile
  // asm so that neither the compiler nor ptxas moves the packing next to the loads: a use right
  // after the loads stalls the warp until they return. The first unit's loads go out before the
  // plane copies and are packed after staging (packing them at once stalled every warp behind
  // the full ring of copies it had just requested: Nsight Compute, one 14336x4096 2-bit launch,
  // a quarter of all stall samples on that one instruction before griddepcontrol.wait); later
  // units' are loaded while the unit before them computes and packed when they start (up to 4
  // bits; wider kernels pack at once with plain loads, as the extra live registers and the
  // fixed order made them spill more: 8-bit spill stores 48 -> 136-192 bytes, sum 1.14 -> 1.05 x).
  constexpr bool kDeferPack = BITS <= 4;
  using RawHalf = std::conditional_t<kDeferPack, uint32_t, uint16_t>;
  RawHalf rawP[2][kPacked];
  uint32_t packedNext[kPlanes && !kDeferPack ? kPacked : 1];
  auto loadPackedBits = [&](int tl, int sg) {
    const int2 r = laneRows(tl);
    const int quad = (seg0 + sg) * 4 + t;
    const int grp = min(quadShift >= 0 ? quad >> quadShift : quad / quadsPerGroup, groups - 1);
    loadScaleBits<kDeferPack>(rawP, a, BITS, groups, r.x, r.y, grp);
  };
  auto packLoaded = [&](uint32_t* packed) {
#pragma unroll
    for (int b = 0; b < kPacked; ++b) packed[b] = packHalves<kDeferPack>(rawP[0][b], rawP[1][b]);
  };

  tracePhase(kp, 0);
  // Neither the planes nor the row tables depend on earlier kernels: put the tables and the
  // first S units in flight before waiting for those kernels (programmatic dependent launch)
  // and before staging the activations, so their DRAM latencies overlap.
  constexpr bool kEarlyTables = kLutLike && ANYPREC_EARLY_TABLES;
  if constexpr (kEarlyTables) {
    // Row tables of the CTA's tiles, E/2 words per row; rows past the end are zero-filled.
    // One commit group of its own, older than every ring group (waited for before staging ends).
    const uint32_t* src = reinterpret_cast<const uint32_t*>(a.table);
    uint32_t* dst = reinterpret_cast<uint32_t*>(lutS);
    constexpr int kChunkWords = E >= 8 ? 4 : 1;  // 16-byte copies when a row has at least 4 words
    const int n = ntile * 16 * (E / 2) / kChunkWords;
    for (int i = threadIdx.x; i < n; i += kThreadsT) {
      const int w = i * kChunkWords, r = tile0 * 16 + w / (E / 2);
      const uint32_t* from = src + (size_t)min(r, rows - 1) * (E / 2) + w % (E / 2);
      if constexpr (kChunkWords == 4) cpAsync16(dst + w, from, r < rows);
      else cpAsync4(dst + w, from, r < rows);
    }
    cpAsyncCommit();
  }
  // The first wave: a full ring, or fewer units so that each warp's first unit lands sooner
  // (a unit is complete only when the last of its copies is, and the whole wave shares DRAM).
  // The binary-mma kernel requests one unit per warp first and the rest of its ring once its
  // activation loads are out, so that those wait behind less (AnyBCQ sums 3.04 / 2.53 -> 3.09 /
  // 2.68 at 2 / 3 bits against a full first wave, one device call; 4 bits have one slot). The
  // fp16 table kernel measured no gain from it (Any-Precision 3-bit 2.69 -> 2.68, session 7); with
  // the integer table kernel Any-Precision at one token does gain (sums 3-bit 2.93 -> 3.05 / 3.04,
  // 8-bit 0.94 -> 0.98 / 0.97, 2 and 4 bits equal; two runs each, session 10), while several
  // tokens lose (8 / 1 tokens AnyBCQ 2-bit 1.89 -> 2.10), so only one token does.
  const int firstWaveUnits = kPlanes                     ? ANYPREC_PLANES_FIRST_WAVE
                             : kLutLike && tokens == 1 ? ANYPREC_LUT1_FIRST_WAVE
                                                       : ANYPREC_FIRST_WAVE;
  constexpr bool kTopUp = ANYPREC_TOPUP;  // (a no-op where the first wave was a full ring)
  const int firstWave = firstWaveUnits > 0 ? min(firstWaveUnits, S) : S;
  int issued = 0;  // units (= ring commit groups) issued so far
  // Binary-mma AnyBCQ: the first unit's scales are requested ahead of the copies (loadPackedBits).
  if constexpr (kPlanes)
    if (mySegs > 0) loadPackedBits(first.tile, first.seg);
#pragma unroll 1
  for (; issued < firstWave; ++issued) issue(issued);
  if constexpr (kPrefetchScales)
    if (mySegs > 0) loadRaw(0, first.tile, firstGroupOf(first.seg));
  // Slots a partial first wave left empty are requested as soon as the activation loads are
  // out; idempotent.
  auto topUp = [&]() {
    if constexpr (kTopUp)
#pragma unroll 1
      for (; issued < S; ++issued) issue(issued);
  };
  // Integer table kernel: the row tables to int16 in place (q = round(lut * 32767 / max|lut|)),
  // each row's scale beside them; once per CTA, after the table copies have landed everywhere.
  auto convertTables = [&]() {
    if constexpr (kInt) {
      for (int r = threadIdx.x; r < ntile * 16; r += kThreadsT) {
        uint32_t* L = reinterpret_cast<uint32_t*>(lutS + r * E);
        uint32_t h[kInt ? E / 2 : 1];
#pragma unroll
        for (int i = 0; i < E / 2; ++i) h[i] = L[i];
        float amax = 0.f;
#pragma unroll
        for (int i = 0; i < E / 2; ++i) {
          const float2 f = __half22float2(__habs2(*reinterpret_cast<const __half2*>(&h[i])));
          const bool bad = ((h[i] & 0x7C00u) == 0x7C00u) || ((h[i] & 0x7C000000u) == 0x7C000000u);
          amax = bad || amax != amax ? __int_as_float(0x7FC00000) : fmaxf(amax, fmaxf(f.x, f.y));
        }
        const bool ok = isfinite(amax);
        const float toInt = ok && amax > 0.f ? 32767.f / amax : 0.f;
#pragma unroll
        for (int i = 0; i < E / 2; ++i) {
          const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h[i]));
          L[i] = ((uint32_t)__float2int_rn(f.x * toInt) & 0xFFFFu) | ((uint32_t)__float2int_rn(f.y * toInt) << 16);
        }
        rowScaleS[r] = ok ? amax * (1.f / 32767.f) : __int_as_float(0x7FC00000);  // a NaN or inf entry: NaN outputs
      }
    }
  };
  // Done before griddepcontrol.wait: the tables do not depend on the kernel before, so this
  // overlaps its tail instead of following the staging (sums 2 / 3 / 4-bit 3.41 / 2.99 / 2.06 ->
  // 3.53 / 3.15 / 2.13, H100, two runs each in one call; ANYPREC_INT_TABLES_EARLY=0: after).
  // The table copies are the oldest commit group, so waiting for all but the first wave's is
  // waiting for them.
  constexpr bool kIntTablesEarly = kInt && kEarlyTables && ANYPREC_INT_TABLES_EARLY;
  if constexpr (kIntTablesEarly) {
    cpAsyncWaitAtMost(issued);  // the table group, older than the first wave
    __syncthreads();
    convertTables();
  }
#if ANYPREC_PROBE != 4
  gridDependencyWait();
  allowDependentLaunch();
#endif
#if ANYPREC_PROBE == 5  // development: launch, first wave and wait only (results are wrong)
  cpAsyncWaitAtMost(0);
  return;
#endif
  tracePhase(kp, 1);

  // ---- stage: permute this CTA's x slice (and copy row tables if not done early) ----
  // Binary-mma AnyBCQ: 2^(1-f) times the bit weight of lane (g, t)'s n column 2t (its column
  // 2t + 1, at twice that, is already folded into the recombined counts).
  float bitScale = 0.f;
  if constexpr (kPlanes) {
    // x of the slice (one token) in fixed point: |x| * 2^f < 2^23 with f from the slice's
    // largest |x|. Pass 1: the slice to shared memory with 16-byte loads (a thread's all in
    // flight at once), the largest |x| and the sum of x per 128-column quad. Pass 2: per
    // 32-column word, lane l converts column l and a 32 x 32 bit transpose across the warp
    // (5 shuffle steps: half-words and bytes by PRMT, then bits by rotate + LOP3) leaves lane j
    // with the word of bit j (bit c = bit j of column c).
    const int sliceVecs = max(0, min(nseg * kSegCols, cols - seg0 * kSegCols)) / 8;
    const uint4* xrow = reinterpret_cast<const uint4*>(a.x + (size_t)seg0 * kSegCols);
    constexpr int kBatch = 8;
    float amax = 0.f;
    for (int base = threadIdx.x; base < nseg * 64; base += kThreadsT * kBatch) {  // warp-uniform bounds
      uint4 u[kBatch];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int v = base + b * kThreadsT;
        u[b] = v < sliceVecs ? __ldg(xrow + v) : make_uint4(0, 0, 0, 0);
      }
      topUp();
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int v = base + b * kThreadsT;
        if (base - lane + b * kThreadsT >= nseg * 64) break;  // the whole warp is past the slice
        const uint32_t hw[4] = {u[b].x, u[b].y, u[b].z, u[b].w};
        float sum = 0.f;
#pragma unroll
        for (int h = 0; h < 4; ++h) {
          const float2 f2 = __half22float2(*reinterpret_cast<const __half2*>(&hw[h]));
          amax = fmaxf(amax, fmaxf(fabsf(f2.x), fabsf(f2.y))), sum += f2.x + f2.y;
        }
#pragma unroll
        for (int d = 1; d < 16; d <<= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, d);  // 16 vectors = 1 quad
        xraw[v] = u[b];
        if ((v & 15) == 0) quadSum[v >> 4] = sum;
      }
    }
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, d));
    if (lane == 0) outS[warp] = amax;  // outS is free until the first tile is stored
    __syncthreads();
    amax = outS[0];
#pragma unroll
    for (int w = 1; w < W; ++w) amax = fmaxf(amax, outS[w]);
    int e = 0;
    frexpf(amax, &e);  // amax in [2^(e-1), 2^e)
    const int f = amax > 0.f ? 23 - e : 0;
    const float toFixed = ldexpf(1.f, f);
    // out += 2 * scale * 2^-f * x.plane; inf / NaN in x make the outputs NaN, not garbage
    const float bad = isfinite(amax) ? 1.f : __int_as_float(0x7FC00000);
    bitScale = bad * ldexpf(1.f, 2 * t + 1 - f);
    // per-lane constants of the transpose steps
    const uint32_t sel16 = lane & 16 ? 0x3276u : 0x5410u, sel8 = lane & 8 ? 0x3715u : 0x6240u;
    const uint32_t keep4 = lane & 4 ? 0xF0F0F0F0u : 0x0F0F0F0Fu, keep2 = lane & 2 ? 0xCCCCCCCCu : 0x33333333u;
    const uint32_t keep1 = lane & 1 ? 0xAAAAAAAAu : 0x55555555u;
    const int rot4 = lane & 4 ? 28 : 4, rot2 = lane & 2 ? 30 : 2, rot1 = lane & 1 ? 31 : 1;
    auto transpose = [&](uint32_t v) {
      v = prmt(v, __shfl_xor_sync(0xFFFFFFFFu, v, 16), sel16);
      v = prmt(v, __shfl_xor_sync(0xFFFFFFFFu, v, 8), sel8);
      uint32_t y = __shfl_xor_sync(0xFFFFFFFFu, v, 4);
      v = (v & keep4) | (__funnelshift_l(y, y, rot4) & ~keep4);
      y = __shfl_xor_sync(0xFFFFFFFFu, v, 2);
      v = (v & keep2) | (__funnelshift_l(y, y, rot2) & ~keep2);
      y = __shfl_xor_sync(0xFFFFFFFFu, v, 1);
      return (v & keep1) | (__funnelshift_l(y, y, rot1) & ~keep1);
    };
    const uint16_t* xh = reinterpret_cast<const uint16_t*>(xraw);
    constexpr int kWords = ANYPREC_STAGE_WORDS;  // words per iteration, independent shuffle chains
    for (int base = warp; base < nseg * 16; base += W * kWords) {
      uint32_t fx[kWords];
#pragma unroll
      for (int k = 0; k < kWords; ++k) {
        const int wd = base + k * W;
        fx[k] = wd < nseg * 16 ? (uint32_t)__float2int_rn(__half2float(__ushort_as_half(xh[wd * 32 + lane])) * toFixed) : 0u;
      }
#pragma unroll
      for (int k = 0; k < kWords; ++k) {
        const int wd = base + k * W;
#if ANYPREC_PROBE == 3  // development: staging without the transposes (results are wrong)
        const uint32_t word = fx[k];
#else
        const uint32_t word = transpose(fx[k]);
#endif
        if (wd < nseg * 16 && lane < kXBits) xbits[wd * kXBits + lane] = word;
      }
    }
  } else if constexpr (kInt) {
    // One token, two threads per 32-column word (16 columns each), so that the 32 items of a
    // 512-column segment are one warp's for each b of a batch: the warp's largest |x| gives the
    // segment's fixed-point step 2^-f (|x| 2^f < 2^22) without a CTA barrier. Each column goes to
    // X = round(x 2^f) by the float magic number (X + 1.5 * 2^23 is exact in fp32), biased by
    // 0x808080 so that its bytes minus 128 are the signed digits (X = d0 + 256 d1 + 65536 d2),
    // and the digits of columns s, s + 4, s + 8, s + 12 of the item are gathered into one word
    // per (s, digit) by PRMT.
    constexpr int kIntBatch = 4;
    const int items = nseg * 32;  // (word of the slice, half of its columns)
    for (int base = threadIdx.x; base < items; base += kThreadsT * kIntBatch) {  // warp-uniform bounds
      uint4 u[kIntBatch][2];
#pragma unroll
      for (int b = 0; b < kIntBatch; ++b) {
        const int item = base + b * kThreadsT, gw = seg0 * 16 + (item >> 1);
        const bool ok = item < items && gw < K32;
        const uint4* src = reinterpret_cast<const uint4*>(a.x + (size_t)(ok ? gw : 0) * 32 + (item & 1) * 16);
        u[b][0] = ok ? __ldg(src) : make_uint4(0, 0, 0, 0);
        u[b][1] = ok ? __ldg(src + 1) : make_uint4(0, 0, 0, 0);
      }
      topUp();
#pragma unroll
      for (int b = 0; b < kIntBatch; ++b) {
        const int item = base + b * kThreadsT;
        if (item - lane >= items) break;  // the whole warp is past the slice
        const uint32_t hw[8] = {u[b][0].x, u[b][0].y, u[b][0].z, u[b][0].w, u[b][1].x, u[b][1].y, u[b][1].z, u[b][1].w};
        __half2 m2 = __habs2(*reinterpret_cast<const __half2*>(&hw[0]));
#pragma unroll
        for (int i = 1; i < 8; ++i) m2 = __hmax2_nan(m2, __habs2(*reinterpret_cast<const __half2*>(&hw[i])));  // inf / NaN kept
        uint32_t mw = h2u(m2);
#pragma unroll
        for (int d = 16; d > 0; d >>= 1) {
          const uint32_t o = __shfl_xor_sync(0xFFFFFFFFu, mw, d);
          mw = h2u(__hmax2_nan(*reinterpret_cast<const __half2*>(&mw), *reinterpret_cast<const __half2*>(&o)));
        }
        const float m0 = __low2float(*reinterpret_cast<const __half2*>(&mw)), m1 = __high2float(*reinterpret_cast<const __half2*>(&mw));
        const float amax = m0 > m1 || m0 != m0 ? m0 : m1;
        const bool finite = isfinite(amax);
        int e = 0;
        frexpf(finite ? amax : 1.f, &e);  // amax in [2^(e-1), 2^e)
        const int f = finite && amax > 0.f ? 22 - e : 0;
        const float toFixed = finite ? ldexpf(1.f, f) : 0.f;
        const int seg = item >> 5;
        if (lane == 0) segScale[seg] = finite ? ldexpf(1.f, -f) : __int_as_float(0x7FC00000);  // inf / NaN in x: NaN outputs
        uint32_t U[16];  // X + 0x808080 of columns 16h .. 16h + 15 of the word
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float2 x2 = __half22float2(*reinterpret_cast<const __half2*>(&hw[i]));
          U[2 * i] = __float_as_uint(fmaf(x2.x, toFixed, 12582912.f)) - 0x4ABF7F80u;
          U[2 * i + 1] = __float_as_uint(fmaf(x2.y, toFixed, 12582912.f)) - 0x4ABF7F80u;
        }
        const int h = item & 1, q = (item >> 1) & 15, tq = q >> 2, qloc = q & 3;
        uint32_t* dst = xdig + ((seg * 4 + qloc) * 16 + tq) * 6 + h;  // s = 0, digit 0
#pragma unroll
        for (int sc = 0; sc < 4; ++sc)
#pragma unroll
          for (int d = 0; d < 3; ++d) {
            const uint32_t sel = d | ((4 + d) << 4);
            const uint32_t lo = prmt(U[sc], U[sc + 4], sel), hi = prmt(U[sc + 8], U[sc + 12], sel);
            dst[sc * 24 + d * 2] = prmt(lo, hi, 0x5410) ^ 0x80808080u;
          }
      }
    }
  } else {
    // kStageBatch items per thread with all their loads issued before the first is used: at
    // 8-16 tokens a thread stages several items, and serial L2 round trips would dominate.
    constexpr int kStageBatch = 4;
    const int words = nseg * 16, items = words * tokens;
    for (int base = threadIdx.x; base < items; base += kThreadsT * kStageBatch) {
      uint4 u[kStageBatch][4];
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        const int item = base + b * kThreadsT;
        const int wd = item % words, m = item / words;
        const int gw = seg0 * 16 + wd;
        const bool ok = item < items && gw < K32;
        const uint4* src = reinterpret_cast<const uint4*>(a.x + (size_t)m * cols + (size_t)gw * 32);
#pragma unroll
        for (int q = 0; q < 4; ++q) u[b][q] = ok ? __ldg(src + q) : make_uint4(0, 0, 0, 0);
      }
      topUp();
#pragma unroll
      for (int b = 0; b < kStageBatch; ++b) {
        const int item = base + b * kThreadsT;
        if (item >= items) break;
        const int wd = item % words, m = item / words;
        uint32_t h[16];
#pragma unroll
        for (int q = 0; q < 4; ++q)
          h[4 * q] = u[b][q].x, h[4 * q + 1] = u[b][q].y, h[4 * q + 2] = u[b][q].z, h[4 * q + 3] = u[b][q].w;
        const int seg = wd >> 4, q = wd & 15, tq = q >> 2, qloc = q & 3;
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          // halves j = s + 4i (slot i, columns of h = 0) then s + 16 + 4i (h = 1)
          auto half = [&](int j) { return (h[j >> 1] >> ((j & 1) * 16)) & 0xFFFFu; };
          uint4 o;
          o.x = half(s) | (half(s + 4) << 16);
          o.y = half(s + 8) | (half(s + 12) << 16);
          o.z = half(s + 16) | (half(s + 20) << 16);
          o.w = half(s + 24) | (half(s + 28) << 16);
          xs[(((seg * 4 + qloc) * 4 + s) * tokens + (m ^ (qloc & xSwap))) * 4 + tq] = o;
        }
      }
    }
  }
  topUp();  // threads without activation loads
  if constexpr (kEarlyTables) {
    cpAsyncWaitAtMost(kTopUp ? issued : firstWave);  // the table group (older than every ring group)
  } else if constexpr (kLutLike) {
    // Row tables of the CTA's tiles (E/2 words per row; rows past the end read as zeros).
    const uint32_t* src = reinterpret_cast<const uint32_t*>(a.table);
    uint32_t* dst = reinterpret_cast<uint32_t*>(lutS);
    const int n = ntile * 16 * (E / 2);
    for (int i = threadIdx.x; i < n; i += kThreadsT) {
      const int r = tile0 * 16 + i / (E / 2);
      dst[i] = r < rows ? __ldg(src + (size_t)r * (E / 2) + i % (E / 2)) : 0u;
    }
  }
  __syncthreads();
  if constexpr (kInt && !kIntTablesEarly) {
    convertTables();
    __syncthreads();
  }
#if ANYPREC_PROBE == 4  // development: activations staged before the wait (valid only for constant x)
  gridDependencyWait();
  allowDependentLaunch();
#endif
  tracePhase(kp, 2);
  if constexpr (kPlanes && !kDeferPack) packLoaded(packedNext);  // loaded before the first wave

  constexpr int kChains = kInt ? ANYPREC_INT_CHAINS : ANYPREC_ACC_CHAINS;
  Tab8 tab0[kChunks], tab1[kChunks];
  // Rows rowL0 / rowL1's row tables (Any-Precision up to 4 bits) from lutS into byte tables.
  auto loadTables = [&](int rowL0, int rowL1) {
#pragma unroll
    for (int c = 0; c < (kLut16 ? 2 : 1); ++c) {
      const uint32_t* L0 = reinterpret_cast<const uint32_t*>(lutS + rowL0 * E + 8 * c);
      const uint32_t* L1 = reinterpret_cast<const uint32_t*>(lutS + rowL1 * E + 8 * c);
      if constexpr (E >= 8) {
        const uint4 e0 = *reinterpret_cast<const uint4*>(L0), e1 = *reinterpret_cast<const uint4*>(L1);
        tab0[c] = tabFromHalves(e0.x, e0.y, e0.z, e0.w);
        tab1[c] = tabFromHalves(e1.x, e1.y, e1.z, e1.w);
      } else {
        tab0[c] = tabFromHalves(L0[0], L0[1], 0u, 0u);
        tab1[c] = tabFromHalves(L1[0], L1[1], 0u, 0u);
      }
    }
  };
  int curKey = -1;
  const int xStep = tokens * 4;  // uint4 between consecutive (qloc, s) blocks of xs
  const int tokA = min(g, tokens - 1), tokB = min(8 + g, tokens - 1);

  UnitCursor at = first;  // unit of the next compute(j) call
  float accs[kChains][NT][4] = {};
  int accTile = -1;  // local tile the accumulators belong to
  // A warp's units cover its middle tiles completely (it alone writes them into outS) and its
  // first and last tile perhaps only in part. Those partial tiles are kept (the first in
  // registers) until every warp is done and then summed in warp order: no shared-memory
  // atomics (compare-and-swap loops on Hopper) and the same rounding in every run.
  const int uEnd = uBegin + mySegs;
  auto fullTile = [&](int tl) { return uBegin <= tl * nseg && uEnd >= (tl + 1) * nseg; };
  float firstAcc[NT][4];
  auto sumChains = [&](int n, int i) {
    float v = accs[0][n][i];
#pragma unroll
    for (int c = 1; c < kChains; ++c) v += accs[c][n][i];
    return v;
  };
  // The accumulators' tile is done: store it (whole tile) or keep it (partial first tile).
  // A partial last tile stays in the accumulators until the end of the loop.
  auto flush = [&]() {
    if (accTile < 0) return;
    if (fullTile(accTile)) {
      const int rowL0 = accTile * 16 + g, rowL1 = rowL0 + 8;
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const int tk = n * 8 + 2 * t;
        outS[tk * tileRows + rowL0] = sumChains(n, 0);
        outS[(tk + 1) * tileRows + rowL0] = sumChains(n, 1);
        outS[tk * tileRows + rowL1] = sumChains(n, 2);
        outS[(tk + 1) * tileRows + rowL1] = sumChains(n, 3);
      }
    } else {  // only the first tile can be partial and be left before the end
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) firstAcc[n][i] = sumChains(n, i);
    }
  };
  // >= 5 bits: byte m of an index word as the byte offset of its fp16 entry (indices of <= 7
  // bits are made twice as large by byteIndices already; 8-bit ones are doubled here).
  constexpr int kIndexShift = kSmemLut && BITS <= 7 ? 1 : 0;
  const uint32_t lutBase = static_cast<uint32_t>(__cvta_generic_to_shared(lutS));
  auto entryOffset = [](uint32_t q, int m) -> uint32_t {
    constexpr int kUp = 1 - kIndexShift;  // doubling still to do
    const int right = 8 * m - kUp;
    return (right >= 0 ? q >> right : q << -right) & (0xFFu << kUp);
  };
  auto compute = [&](int j, const uint32_t (&v0)[BITS][4], const uint32_t (&v1)[BITS][4]) {
    const int tl = at.tile, sg = at.seg;
    at.advance(nseg);  // now the unit of j + 1
    const int rowL0 = tl * 16 + g, rowL1 = rowL0 + 8;
    const int w0 = (seg0 + sg) * 16 + 4 * t;
    if (tl != accTile) {
      flush();
      accTile = tl;
#pragma unroll
      for (int c = 0; c < kChains; ++c)
#pragma unroll
        for (int n = 0; n < NT; ++n) accs[c][n][0] = accs[c][n][1] = accs[c][n][2] = accs[c][n][3] = 0.f;
      if constexpr (METHOD == kMethodLut && !kSmemLut) loadTables(rowL0, rowL1);
    }
    // token m of an odd word's blocks sits at m ^ xSwap
    const uint4* xp0 = xs + (size_t)sg * 16 * xStep + tokA * 4 + t;
    const uint4* xp1 = xs + (size_t)sg * 16 * xStep + tokB * 4 + t;
    const int xOdd0 = ((tokA ^ xSwap) - tokA) * 4, xOdd1 = ((tokB ^ xSwap) - tokB) * 4;
#pragma unroll
    for (int qloc = 0; qloc < 4; ++qloc) {
      if constexpr (METHOD == kMethodBcq) {
        // The group is constant within a word (groupSize % 32 == 0); rebuild on change. With
        // groupSize a multiple of 128 a lane's 4 words share one group, prefetched a unit ago.
        const int grp = min(((w0 + qloc) * 32) / a.groupSize, groups - 1);
        const int key = j * groups + grp;
        if (key != curKey) {
          curKey = key;
          if (key != preKey) loadRaw(j, tl, grp);
          float sc0[kRawBits], sc1[kRawBits];
#pragma unroll
          for (int k = 0; k < kRawBits; ++k) sc0[k] = halfBits(pre[0][k]), sc1[k] = halfBits(pre[1][k]);
          const float off0 = halfBits(pre[0][kRawBits]), off1 = halfBits(pre[1][kRawBits]);
          if constexpr (kBcq16) {
            tab0[0] = bcqTabF<1, 3>(sc0, off0 - sc0[0]);
            tab0[1] = bcqTabF<1, 3>(sc0, off0 + sc0[0]);
            tab1[0] = bcqTabF<1, 3>(sc1, off1 - sc1[0]);
            tab1[1] = bcqTabF<1, 3>(sc1, off1 + sc1[0]);
          } else {
            tab0[0] = bcqTabF<0, (BITS < 3 ? BITS : 3)>(sc0, off0);
            tab1[0] = bcqTabF<0, (BITS < 3 ? BITS : 3)>(sc1, off1);
            if constexpr (kChunks > 1) {
              tab0[1] = bcqTabF<3, (BITS - 3 < 3 ? BITS - 3 : 3)>(sc0, 0.f);
              tab1[1] = bcqTabF<3, (BITS - 3 < 3 ? BITS - 3 : 3)>(sc1, 0.f);
            }
            if constexpr (kChunks > 2) {
              tab0[2] = bcqTabF<6, BITS - 6>(sc0, 0.f);
              tab1[2] = bcqTabF<6, BITS - 6>(sc1, 0.f);
            }
          }
        }
        if (kPrefetchScales && qloc == 0 && j + 1 < mySegs) loadRaw(j + 1, at.tile, firstGroupOf(at.seg));
      }
      uint32_t pw0[BITS], pw1[BITS];
#pragma unroll
      for (int p = 0; p < BITS; ++p) pw0[p] = v0[p][qloc], pw1[p] = v1[p][qloc];
      // Up to 4 bits: index words of the four bit classes by one transpose per row (X[group][s]):
      // 16-entry tables planes 1..3, then plane 0; otherwise all planes. AnyBCQ above 4 bits
      // builds each class's indices where they are used (fewer live registers: no spills);
      // Any-Precision above 4 bits makes byte indices for all classes at once (byteIndices).
      constexpr bool kT = ANYPREC_TRANSPOSE_INDEX && BITS <= 4;
      uint32_t X0[2][4], X1[2][4];
      uint32_t Q0[kSmemLut ? 8 : 1], Q1[kSmemLut ? 8 : 1];  // >= 5 bits: byte b of Q[j] = index of column 8b + j
      if constexpr (kSmemLut) {
        byteIndices<BITS, kIndexShift>(pw0, Q0), byteIndices<BITS, kIndexShift>(pw1, Q1);
      } else if constexpr (kT && kSel16) {
        classIndices<3>(pw0 + 1, X0[0]), classIndices<3>(pw1 + 1, X1[0]);
        classIndices<1>(pw0, X0[1]), classIndices<1>(pw1, X1[1]);
      } else if constexpr (kT) {
        classIndices<BITS>(pw0, X0[0]), classIndices<BITS>(pw1, X1[0]);
      }
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        uint4 xb[NT];
        xb[0] = xp0[qloc & 1 ? xOdd0 : 0];
        if constexpr (NT > 1) xb[1] = xp1[qloc & 1 ? xOdd1 : 0];
        xp0 += xStep;
        xp1 += xStep;

        uint32_t A0[kChunks][4], A1[kChunks][4];
        if constexpr (kSmemLut) {
          // slot 2m = column s + 8m (byte m of Q[s]), slot 2m + 1 = column s + 4 + 8m (of Q[s + 4]).
          // A row's table is 2E bytes on a 2E-byte boundary: its address OR 2 x index is the
          // entry's, a shift and one LOP3 per lookup (the compiler's row-major indexing took four
          // instructions: SHF, LOP3, PRMT, IMAD).
          const uint32_t rb0 = lutBase + rowL0 * (2 * E), rb1 = rb0 + 16 * E;
          uint32_t w0v[8], w1v[8];
#pragma unroll
          for (int m = 0; m < 4; ++m) {
            w0v[2 * m] = lds16(rb0 | entryOffset(Q0[s], m));
            w0v[2 * m + 1] = lds16(rb0 | entryOffset(Q0[s + 4], m));
            w1v[2 * m] = lds16(rb1 | entryOffset(Q1[s], m));
            w1v[2 * m + 1] = lds16(rb1 | entryOffset(Q1[s + 4], m));
          }
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            A0[0][i] = prmt(w0v[2 * i], w0v[2 * i + 1], 0x5410);
            A1[0][i] = prmt(w1v[2 * i], w1v[2 * i + 1], 0x5410);
          }
        } else if constexpr (kSel16) {
          const uint32_t top0 = kT ? X0[1][s] : nibbleIndex<1>(pw0, s), top1 = kT ? X1[1][s] : nibbleIndex<1>(pw1, s);
          lookup16(tab0[0], tab0[1], kT ? X0[0][s] : nibbleIndex<3>(pw0 + 1, s), 0x32103210u | (top0 << 2), A0[0]);
          lookup16(tab1[0], tab1[1], kT ? X1[0][s] : nibbleIndex<3>(pw1 + 1, s), 0x32103210u | (top1 << 2), A1[0]);
        } else {
          constexpr int kFirst = BITS < 3 ? BITS : 3;  // planes of the first (or only) 8-entry table
          lookup8(tab0[0], kT ? X0[0][s] : nibbleIndex<kFirst>(pw0, s), A0[0]);
          lookup8(tab1[0], kT ? X1[0][s] : nibbleIndex<kFirst>(pw1, s), A1[0]);
          if constexpr (kChunks > 1) {  // AnyBCQ >= 5 bits
            lookup8(tab0[1], nibbleIndex<(BITS - 3 < 3 ? BITS - 3 : 3)>(pw0 + 3, s), A0[1]);
            lookup8(tab1[1], nibbleIndex<(BITS - 3 < 3 ? BITS - 3 : 3)>(pw1 + 3, s), A1[1]);
          }
          if constexpr (kChunks > 2) {
            lookup8(tab0[2], nibbleIndex<BITS - 6>(pw0 + 6, s), A0[2]);
            lookup8(tab1[2], nibbleIndex<BITS - 6>(pw1 + 6, s), A1[2]);
          }
        }
        constexpr int kMmaChunks = kSel16 ? 1 : kChunks;  // the 16-entry lookup makes one operand
#pragma unroll
        for (int c = 0; c < kMmaChunks; ++c)
#pragma unroll
          for (int n = 0; n < NT; ++n) {
            // h = 0 and h = 1 halves go to different chains so consecutive mmas are independent.
            mma16816(accs[(2 * s) % kChains][n], A0[c][0], A1[c][0], A0[c][1], A1[c][1], xb[n].x, xb[n].y);
            mma16816(accs[(2 * s + 1) % kChains][n], A0[c][2], A1[c][2], A0[c][3], A1[c][3], xb[n].z, xb[n].w);
          }
      }
    }
  };

  // Integer table kernel unit (see imma16832): the lookups of the fp16 path without its byte
  // interleave, low bytes (unsigned) and high bytes (signed) as the A operands of two integer
  // mmas whose B column g is digit g of x (columns 3..7 carry no digit). Counted in int32 per
  // segment, folded into fp32 at the segment's step (rowAcc), scaled by the row's scale in settle().
  int accLo[kInt ? kChains : 1][4], accHi[kInt ? kChains : 1][4];  // set by each segment's first mmas
  float rowScale0 = 0.f, rowScale1 = 0.f, rowAcc[2] = {0.f, 0.f};
  // Binary-mma AnyBCQ unit: v0[b] / v1[b] = the A operands of quads 0, 1 / 2, 3 of plane b (see
  // the ring read); quad i (columns 128i.. of the segment, one group) is k-block t of three popc
  // mmas, whose n columns are x bits 8m + g. Lane (g, t) accumulates, per row, scale * (its two
  // columns' popcounts recombined over m, column 2t + 1 at twice the weight of 2t) in popAcc,
  // and (offset - sum of scales) * sum x in popCorr; settle() scales by the columns' bit
  // weight, sums the four lanes of a row and leaves the result where flush() and the parking
  // expect token 0's outputs. The recombined count is below 2^25 (128 x 3 x 65793): exact in
  // int32, rounded at 2^-24 of itself when converted to fp32.
  float popAcc[2] = {}, popCorr[2] = {};
  // Weight of m = 2's popcount in column 2t + 1 of lane t = 3 is bit 23 of x: negative.
  const int topWeight1 = t == 3 ? -131072 : 131072;
  auto settle = [&]() {
    if constexpr (kPlanes) {
      // columns 2t, 2t + 1 hold x bits 2t + 8m and 2t + 1 + 8m (2^(8m) is in the recombination)
      float r0 = bitScale * popAcc[0], r1 = bitScale * popAcc[1];
      r0 += __shfl_xor_sync(0xFFFFFFFFu, r0, 1), r1 += __shfl_xor_sync(0xFFFFFFFFu, r1, 1);
      r0 += __shfl_xor_sync(0xFFFFFFFFu, r0, 2), r1 += __shfl_xor_sync(0xFFFFFFFFu, r1, 2);
      accs[0][0][0] = r0 + popCorr[0], accs[0][0][2] = r1 + popCorr[1];
      accs[0][0][1] = accs[0][0][3] = 0.f;  // columns of padding tokens
#pragma unroll
      for (int c = 1; c < kChains; ++c) accs[c][0][0] = accs[c][0][1] = accs[c][0][2] = accs[c][0][3] = 0.f;
      popAcc[0] = popAcc[1] = popCorr[0] = popCorr[1] = 0.f;
    } else if constexpr (kInt) {
      float r0 = rowAcc[0], r1 = rowAcc[1];
      r0 += __shfl_xor_sync(0xFFFFFFFFu, r0, 1), r1 += __shfl_xor_sync(0xFFFFFFFFu, r1, 1);
      r0 += __shfl_xor_sync(0xFFFFFFFFu, r0, 2), r1 += __shfl_xor_sync(0xFFFFFFFFu, r1, 2);
      accs[0][0][0] = r0 * rowScale0, accs[0][0][2] = r1 * rowScale1;
      accs[0][0][1] = accs[0][0][3] = 0.f;  // columns of padding tokens
#pragma unroll
      for (int c = 1; c < kChains; ++c) accs[c][0][0] = accs[c][0][1] = accs[c][0][2] = accs[c][0][3] = 0.f;
      rowAcc[0] = rowAcc[1] = 0.f;
    }
  };
  auto computePlanes = [&](int j, const uint32_t (&v0)[BITS][4], const uint32_t (&v1)[BITS][4]) {
    const int tl = at.tile, sg = at.seg;
    at.advance(nseg);  // now the unit of j + 1
    if (tl != accTile) {
      if (accTile >= 0) settle();
      flush();
      accTile = tl;
    }
    if constexpr (kDeferPack) {
      packLoaded(packedCur);  // this unit's scales, loaded while the unit before it computed
      if (j + 1 < mySegs) loadPackedBits(at.tile, at.seg);
    } else {
#pragma unroll
      for (int b = 0; b < kPacked; ++b) packedCur[b] = packedNext[b];
      if (j + 1 < mySegs) loadPackedBits(at.tile, at.seg), packLoaded(packedNext);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int word = sg * 16 + 4 * i + t;  // this lane's k-block of quad i
      uint32_t xb[3];
#pragma unroll
      for (int m = 0; m < 3; ++m) xb[m] = xbits[word * kXBits + 8 * m + g];
      const float sumX = quadSum[sg * 4 + i];
      float sum0 = 0.f, sum1 = 0.f;  // sums of the scales of rows g, g + 8
#pragma unroll
      for (int b = 0; b < BITS; ++b) {
        const uint32_t u = __shfl_sync(0xFFFFFFFFu, packedCur[b], (g << 2) | i);
        const float2 sc = __half22float2(*reinterpret_cast<const __half2*>(&u));  // rows g, g + 8
        sum0 += sc.x, sum1 += sc.y;
        int d[3][4];
#pragma unroll
        for (int m = 0; m < 3; ++m) mmaPopc(d[m], i < 2 ? v0[b] : v1[b], i & 1 ? 0u : xb[m], i & 1 ? xb[m] : 0u);
        // popcounts <= 128: the recombined count is exact in int32 (below 2^25, see popAcc)
        const int c0 = d[0][0] + 2 * d[0][1] + 256 * d[1][0] + 512 * d[1][1] + 65536 * d[2][0] + topWeight1 * d[2][1];
        const int c1 = d[0][2] + 2 * d[0][3] + 256 * d[1][2] + 512 * d[1][3] + 65536 * d[2][2] + topWeight1 * d[2][3];
        popAcc[0] += sc.x * (float)c0, popAcc[1] += sc.y * (float)c1;
      }
      const uint32_t uo = __shfl_sync(0xFFFFFFFFu, packedCur[BITS], (g << 2) | i);
      const float2 off = __half22float2(*reinterpret_cast<const __half2*>(&uo));
      popCorr[0] += (off.x - sum0) * sumX, popCorr[1] += (off.y - sum1) * sumX;
    }
  };

  auto intTables = [&](int rowL0, int rowL1) {
    loadTables(rowL0, rowL1);  // int16 by now, split into bytes the same way
    rowScale0 = rowScaleS[rowL0], rowScale1 = rowScaleS[rowL1];
  };
  auto computeInt = [&](int j, const uint32_t (&v0)[BITS][4], const uint32_t (&v1)[BITS][4]) {
    const int tl = at.tile, sg = at.seg;
    at.advance(nseg);  // now the unit of j + 1
    if (tl != accTile) {
      if (accTile >= 0) settle();
      flush();
      accTile = tl;
      intTables(tl * 16 + g, tl * 16 + g + 8);
    }
    // uint2 (halves 0, 1) of [segment][qloc][s][t][digit]. Lanes g >= 3 repeat digit 2: their
    // B columns 3..7 only feed count columns that the fold weighs by zero.
    const uint2* xd = reinterpret_cast<const uint2*>(xdig) + (size_t)sg * 192 + t * 3 + min(g, 2);
#pragma unroll
    for (int qloc = 0; qloc < 4; ++qloc) {
      uint32_t pw0[BITS], pw1[BITS];
#pragma unroll
      for (int p = 0; p < BITS; ++p) pw0[p] = v0[p][qloc], pw1[p] = v1[p][qloc];
      uint32_t X0[2][4], X1[2][4];
      if constexpr (kLut16) {
        classIndices<3>(pw0 + 1, X0[0]), classIndices<3>(pw1 + 1, X1[0]);
        classIndices<1>(pw0, X0[1]), classIndices<1>(pw1, X1[1]);
      } else {
        classIndices<BITS>(pw0, X0[0]), classIndices<BITS>(pw1, X1[0]);
      }
#pragma unroll
      for (int sc = 0; sc < 4; ++sc) {
        const uint2 xb = xd[qloc * 48 + sc * 12];
        const uint32_t i0 = X0[0][sc], i1 = X1[0][sc];
        uint32_t lo[4], hi[4];  // a0..a3: row g / g + 8, nibbles 0..3, then 4..7
        if constexpr (kLut16) {
          const uint32_t s0 = 0x32103210u | (X0[1][sc] << 2), s1 = 0x32103210u | (X1[1][sc] << 2);
          auto pick = [&](const Tab8& A, const Tab8& B, uint32_t idx, uint32_t sel, uint32_t& l, uint32_t& h) {
            l = prmt(prmt(A.l0, A.l1, idx), prmt(B.l0, B.l1, idx), sel);
            h = prmt(prmt(A.h0, A.h1, idx), prmt(B.h0, B.h1, idx), sel);
          };
          pick(tab0[0], tab0[1], i0, s0, lo[0], hi[0]);
          pick(tab1[0], tab1[1], i1, s1, lo[1], hi[1]);
          pick(tab0[0], tab0[1], i0 >> 16, s0 >> 16, lo[2], hi[2]);
          pick(tab1[0], tab1[1], i1 >> 16, s1 >> 16, lo[3], hi[3]);
        } else {
          lo[0] = prmt(tab0[0].l0, tab0[0].l1, i0), hi[0] = prmt(tab0[0].h0, tab0[0].h1, i0);
          lo[1] = prmt(tab1[0].l0, tab1[0].l1, i1), hi[1] = prmt(tab1[0].h0, tab1[0].h1, i1);
          lo[2] = prmt(tab0[0].l0, tab0[0].l1, i0 >> 16), hi[2] = prmt(tab0[0].h0, tab0[0].h1, i0 >> 16);
          lo[3] = prmt(tab1[0].l0, tab1[0].l1, i1 >> 16), hi[3] = prmt(tab1[0].h0, tab1[0].h1, i1 >> 16);
        }
        if (qloc == 0 && sc < kChains) {
          imma16832<true, true>(accLo[sc % kChains], lo[0], lo[1], lo[2], lo[3], xb.x, xb.y);
          imma16832<false, true>(accHi[sc % kChains], hi[0], hi[1], hi[2], hi[3], xb.x, xb.y);
        } else {
          imma16832<true, false>(accLo[sc % kChains], lo[0], lo[1], lo[2], lo[3], xb.x, xb.y);
          imma16832<false, false>(accHi[sc % kChains], hi[0], hi[1], hi[2], hi[3], xb.x, xb.y);
        }
      }
    }
    // The segment's counts at its fixed-point step into fp32: lane t holds digits 2t, 2t + 1
    // (weights 256^(2t), 256^(2t+1)); count columns 3..7 hold no digit and weigh zero.
    const float step = segScale[sg];
    const float wt0 = t == 0 ? step : t == 1 ? 65536.f * step : 0.f, wt1 = t == 0 ? 256.f * step : 0.f;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      int lo0 = accLo[0][2 * i], lo1 = accLo[0][2 * i + 1], hi0 = accHi[0][2 * i], hi1 = accHi[0][2 * i + 1];
#pragma unroll
      for (int c = 1; c < kChains; ++c)
        lo0 += accLo[c][2 * i], lo1 += accLo[c][2 * i + 1], hi0 += accHi[c][2 * i], hi1 += accHi[c][2 * i + 1];
      rowAcc[i] = fmaf(fmaf(256.f, (float)hi0, (float)lo0), wt0, fmaf(fmaf(256.f, (float)hi1, (float)lo1), wt1, rowAcc[i]));
    }
  };

  // ---- main loop: wait for unit j, move it to registers, refill its slot with j + S ----
  int readSlot = 0;  // = j % S (kLean)
#if ANYPREC_TRACE
  long long waitFirst = 0, waitRest = 0;  // SM cycles spent in the ring waits below
#endif
#pragma unroll 1
  for (int j = 0; j < mySegs; ++j) {
#if ANYPREC_TRACE
    const long long waitFrom = clock64();
#endif
    cpAsyncWaitAtMost(issued - j - 1);  // group j is complete
#if ANYPREC_TRACE
    (j == 0 ? waitFirst : waitRest) += clock64() - waitFrom;
#endif
    uint32_t v0[BITS][4], v1[BITS][4];
    if constexpr (kPlanes) {
      // ldmatrix hands each lane words that other lanes copied: every lane's copies must have
      // landed (each waited for its own).
      __syncwarp();
      // Matrix m (lanes 8m..8m+7 address its rows) is row half m & 1 of quad 2h + (m >> 1), so
      // v0[p] (h = 0) is the mma A operand of quads 0, 1 and v1[p] (h = 1) that of quads 2, 3.
      const uint4* slot = ring + (size_t)warp * S * BITS * 64 + readSlot * BITS * 64;
      const int row = lane & 7, half = (lane >> 3) & 1, quad = lane >> 4;
      const int chunk0 = (row << 2) | (quad ^ ((row >> 1) & 3)), chunk1 = (row << 2) | ((2 + quad) ^ ((row >> 1) & 3));
#pragma unroll
      for (int p = 0; p < BITS; ++p) {
        ldmatrixX4(v0[p], slot + (2 * p + half) * 32 + chunk0);
        ldmatrixX4(v1[p], slot + (2 * p + half) * 32 + chunk1);
      }
    } else {
      const uint4* src = myRing + (kLean ? readSlot : j % S) * BITS * 64;
#pragma unroll
      for (int p = 0; p < BITS; ++p) {
        const uint4 u0 = src[(2 * p) * 32], u1 = src[(2 * p + 1) * 32];
        v0[p][0] = u0.x, v0[p][1] = u0.y, v0[p][2] = u0.z, v0[p][3] = u0.w;
        v1[p][0] = u1.x, v1[p][1] = u1.y, v1[p][2] = u1.z, v1[p][3] = u1.w;
      }
    }
    if (kLean && ++readSlot == S) readSlot = 0;
    __syncwarp();  // orders the reads above before the asynchronous refill of the same slot
#if ANYPREC_TRACE
    const long long issueFrom = clock64();
#endif
    while (issued <= j + S) issue(issued++);  // unit j's slot and any the first wave left empty
#if ANYPREC_TRACE
    const long long computeFrom = clock64();
    if (j == 0) traceValue(kp, 9, computeFrom - issueFrom);
#endif
#if ANYPREC_PROBE == 1 || ANYPREC_PROBE == 7  // development probe: memory side only (results are wrong)
    {
      uint32_t h = 0;
#pragma unroll
      for (int p = 0; p < BITS; ++p) h ^= v0[p][0] ^ v0[p][1] ^ v0[p][2] ^ v0[p][3] ^ v1[p][0] ^ v1[p][1] ^ v1[p][2] ^ v1[p][3];
      const int tl = at.tile;
      at.advance(nseg);
      if (tl != accTile) { flush(); accTile = tl; }
      accs[0][0][0] += __uint_as_float(h & 0x007FFFFFu);
    }
#else
    if constexpr (kPlanes) computePlanes(j, v0, v1);
    else if constexpr (kInt) computeInt(j, v0, v1);
    else compute(j, v0, v1);
#endif
#if ANYPREC_TRACE
    if (j == 0) traceValue(kp, 10, clock64() - computeFrom), tracePhase(kp, 3);
#endif
  }
#if ANYPREC_TRACE
  traceValue(kp, 7, waitFirst), traceValue(kp, 8, waitRest);
#endif
  tracePhase(kp, 4);
  if (mySegs > 0) settle();
  cpAsyncWait<0>();
  // ---- partial tiles: each warp parks its partial first / last tile in its own ring slots
  // (all its copies are consumed), [first, last][NTOK tokens][16 rows] floats; after one
  // barrier the CTA sums them in warp order while writing ----
  const int firstTile = mySegs > 0 ? uBegin / nseg : 0, lastTile = mySegs > 0 ? (uEnd - 1) / nseg : -1;
  constexpr int kPark = NTOK * 16;  // floats per parked tile (the host keeps slots * BITS KiB >= 2 of them)
  auto parkedOf = [&](int w) { return reinterpret_cast<float*>(ring + (size_t)w * S * BITS * 64); };
  const bool lastPartial = mySegs > 0 && !fullTile(lastTile);
  const bool firstPartial = mySegs > 0 && !fullTile(firstTile) && firstTile != lastTile;
  if (!lastPartial) flush();  // a whole last tile goes straight to outS
  __syncwarp();               // every lane is done reading the ring
  auto park = [&](int slot, auto value) {
    float* dst = parkedOf(warp) + slot * kPark;
#pragma unroll
    for (int n = 0; n < NT; ++n) {
      const int tk = n * 8 + 2 * t;
      dst[tk * 16 + g] = value(n, 0);
      dst[(tk + 1) * 16 + g] = value(n, 1);
      dst[tk * 16 + g + 8] = value(n, 2);
      dst[(tk + 1) * 16 + g + 8] = value(n, 3);
    }
  };
  if (lastPartial) park(firstTile == lastTile ? 0 : 1, [&](int n, int i) { return sumChains(n, i); });
  if (firstPartial) park(0, [&](int n, int i) { return firstAcc[n][i]; });
  __syncthreads();
  // Output (token, row) of local tile tl: from outS if one warp covered the tile, else the sum
  // of the parked partials of the warps that share it, in warp order (warp w owns units
  // [w * units / W, (w + 1) * units / W), see uBegin).
  auto tileValue = [&](int tl, int tk, int r) {
    const int u0 = tl * nseg, u1 = u0 + nseg;
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const int b = w * units / W, en = (w + 1) * units / W;
      if (en <= b || en <= u0 || b >= u1) continue;  // an idle warp, or no unit of this tile
      if (b <= u0 && en >= u1) return outS[tk * tileRows + tl * 16 + r];
      sum += parkedOf(w)[(b >= u0 ? 0 : 1) * kPark + tk * 16 + r];  // its first tile (b in [u0, u1)) or its last
    }
    return sum;
  };
  tracePhase(kp, 5);

  // ---- write: the CTA's tiles, summed over the cluster's k slices through DSMEM ----
  const int outRows = ntile * 16;
  const int csize = cluster.num_blocks(), rank = cluster.block_rank();
  if (csize == 1) {  // no split-K: straight to global memory
    for (int e = threadIdx.x; e < tokens * outRows; e += kThreadsT) {
      const int tk = e / outRows, rl = e - tk * outRows, row = tile0 * 16 + rl;
      if (row < rows) a.out[(size_t)tk * rows + row] = tileValue(rl >> 4, tk, rl & 15);
    }
    tracePhase(kp, 6);
    return;
  }
  // Split-K: element e of the cluster's output tile is written by rank (e / threads) % csize, as
  // the sum of the ranks' partials in rank order (the same order in every run).
  const int n = tokens * outRows;
  if (kp.inbox) {
    // Each CTA stores its partial of e into slot [its rank] of the writing rank's inbox (a remote
    // store: no round trip), one cluster barrier, then each rank sums its own inbox. Nothing else
    // uses the inbox, so a peer may store into it while this CTA still computes, and nobody reads
    // another CTA's shared memory after the barrier (no second one before exiting). Measured
    // 0.4-1.1 us faster per split launch than the reads below (README, session 9).
    float* box0 = rowScaleS + (kInt ? tileRows : 0);  // [csize][n]
    for (int e = threadIdx.x; e < n; e += kThreadsT) {
      const int tk = e / outRows, rl = e - tk * outRows, owner = (e / kThreadsT) % csize;
      float* box = owner == rank ? box0 : cluster.map_shared_rank(box0, owner);
      box[rank * n + e] = tileValue(rl >> 4, tk, rl & 15);
    }
    cluster.sync();
    for (int e = rank * kThreadsT + threadIdx.x; e < n; e += csize * kThreadsT) {
      const int tk = e / outRows, rl = e - tk * outRows, row = tile0 * 16 + rl;
      if (row < rows) {
        float sum = 0.f;
        for (int r = 0; r < csize; ++r) sum += box0[r * n + e];
        a.out[(size_t)tk * rows + row] = sum;
      }
    }
    tracePhase(kp, 6);
    return;
  }
  // No room for an inbox: this CTA's partials into outS (whole tiles are there already), one
  // barrier, each rank reads the peers' through DSMEM, and a second barrier keeps every CTA's
  // shared memory alive until the peers have read it.
  for (int e = threadIdx.x; e < n; e += kThreadsT) {
    const int tk = e / outRows, rl = e - tk * outRows;
    outS[tk * tileRows + rl] = tileValue(rl >> 4, tk, rl & 15);  // reads only this element
  }
  cluster.sync();
  for (int e = rank * kThreadsT + threadIdx.x; e < n; e += csize * kThreadsT) {
    const int tk = e / outRows, rl = e - tk * outRows, row = tile0 * 16 + rl;
    if (row < rows) {
      float sum = 0.f;
      for (int r = 0; r < csize; ++r) sum += cluster.map_shared_rank(outS, r)[tk * tileRows + rl];
      a.out[(size_t)tk * rows + row] = sum;
    }
  }
  cluster.sync();
  tracePhase(kp, 6);
}

int deviceSmCount() {
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    if (!sms) sms = 132;
  }
  return sms;
}

#if ANYPREC_TRACE
// Development timeline: with ANYPREC_TRACE=1 in the environment and the stream not capturing,
// run the launch alone, then print per phase the min / median / max over warps of the time
// since the first warp started (ns), as one JSON line on stderr.
unsigned long long* graphBuf = nullptr;
size_t graphN = 0;
template <typename Kernel>
cudaError_t traceLaunch(cudaLaunchConfig_t cfg, Kernel kernel, KernelParams kp, int warps, cudaStream_t stream) {
  static const bool on = std::getenv("ANYPREC_TRACE") != nullptr;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(stream, &capturing);
  const size_t n = (size_t)cfg.gridDim.x * cfg.gridDim.y * warps * kTracePhases;
  if (on && capturing != cudaStreamCaptureStatusNone) {
    // Captured launches: each gets its own slice of one buffer (up to 64 launches of one
    // configuration); the process writes it to $ANYPREC_TRACE_GRAPH at exit, so the trace
    // shows the steady state of graph replays, gaps between kernels included.
    // (allocated by the first uncaptured launch: no allocation may happen inside a capture)
    static int launches = 0;
    if (graphBuf && n == graphN && launches < 64) kp.trace = graphBuf + (size_t)(launches++) * n;
    return cudaLaunchKernelEx(&cfg, kernel, kp);
  }
  if (!on) return cudaLaunchKernelEx(&cfg, kernel, kp);
  if (!graphBuf) {
    graphN = n;
    if (cudaMalloc(&graphBuf, 64 * n * 8) != cudaSuccess) return cudaErrorMemoryAllocation;
    cudaMemset(graphBuf, 0, 64 * n * 8);
    std::atexit([] {
        const char* file = std::getenv("ANYPREC_TRACE_GRAPH");
        if (!file) return;
        std::vector<unsigned long long> h(64 * graphN);
        cudaDeviceSynchronize();
        cudaMemcpy(h.data(), graphBuf, h.size() * 8, cudaMemcpyDeviceToHost);
        if (FILE* f = std::fopen(file, "wb")) std::fwrite(h.data(), 8, h.size(), f), std::fclose(f);
    });
  }
  static unsigned long long* buf = nullptr;
  static size_t cap = 0;
  if (n > cap) {
    if (buf) cudaFree(buf);
    if (cudaMalloc(&buf, n * 8) != cudaSuccess) return cudaErrorMemoryAllocation;
    cap = n;
  }
  cudaMemsetAsync(buf, 0, n * 8, stream);
  kp.trace = buf;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  cudaEventRecord(e0, stream);
  cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, kp);
  cudaEventRecord(e1, stream);
  if (err != cudaSuccess) return err;
  std::vector<unsigned long long> h(n);
  cudaStreamSynchronize(stream);
  float ms = 0.f;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  cudaMemcpy(h.data(), buf, n * 8, cudaMemcpyDeviceToHost);
  if (const char* file = std::getenv("ANYPREC_TRACE_FILE")) {  // raw [CTA][warp][phase], SM in the last slot
    if (FILE* f = std::fopen(file, "wb")) std::fwrite(h.data(), 8, n, f), std::fclose(f);
  }
  unsigned long long t0 = ~0ull;
  for (size_t i = 0; i < n; i += kTracePhases)
    if (h[i]) t0 = std::min(t0, h[i]);
  std::fprintf(stderr, "{\"trace\":{\"grid\":[%u,%u],\"warps\":%d,\"eventUs\":%.2f", cfg.gridDim.x, cfg.gridDim.y, warps, ms * 1000.0);
  for (int p = 0; p < 7; ++p) {  // the timestamps
    std::vector<long long> v;
    for (size_t i = p; i < n; i += kTracePhases)
      if (h[i]) v.push_back((long long)(h[i] - t0));
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    std::fprintf(stderr, ",\"p%d\":[%lld,%lld,%lld,%zu]", p, v.front(), v[v.size() / 2], v.back(), v.size());
  }
  std::fprintf(stderr, "}}\n");
  return cudaGetLastError();
}
#endif

// The colocation rule of launchOne (see there) for kernel-internal method `method`.
bool colocateRule(int method, int bits, const BitplaneArgs& a) {
  static const int forced = [] { const char* e = std::getenv("ANYPREC_COLOCATE"); return e ? std::atoi(e) : -1; }();
  const int sms = deviceSmCount(), tilesTotal = (a.rows + 15) / 16;
  const bool shortRows = a.cols <= 4096, fewTiles = tilesTotal <= 3 * sms;
  const bool lutLike = method == kMethodLut || method == kMethodLutInt;
  return forced >= 0                   ? forced > 0
         : a.colocate == kColocateNever ? false
         : lutLike                      ? (bits <= 4 ? (shortRows && (a.tokens > 1 || fewTiles)) || (bits == 2 && a.tokens == 1) ||
                                                        (method == kMethodLutInt && !shortRows)
                                                     : a.tokens == 1 && tilesTotal > 2 * sms)
         : method == kMethodBcqPlanes   ? bits <= 3 && fewTiles
                                        : bits <= 4 && shortRows && a.tokens > 1 && fewTiles;
}

// Kernel-internal method that launchFused runs for these arguments. $ANYPREC_LUT_INT=0 forces
// the fp16 table kernel for Any-Precision at one token, $ANYPREC_BCQ_PLANES=0|1 the AnyBCQ one
// (development comparisons; the GPU suite runs both).
int fusedMethod(const BitplaneArgs& a) {
  static const int intForced = [] { const char* e = std::getenv("ANYPREC_LUT_INT"); return e ? std::atoi(e) : -1; }();
  static const int planesForced = [] { const char* e = std::getenv("ANYPREC_BCQ_PLANES"); return e ? std::atoi(e) : -1; }();
  if (a.method == kMethodLut) return a.tokens == 1 && a.bits <= 4 && intForced != 0 ? kMethodLutInt : kMethodLut;
  // AnyBCQ at one token with every 128-column quad in one group: binary mma on the planes. It
  // measured faster than the table kernel on the H100 everywhere but 4096x11008 at 3 bits (5%
  // slower; README), so it is not chosen by shape.
  return a.tokens == 1 && a.groupSize % 128 == 0 && planesForced != 0 ? kMethodBcqPlanes : kMethodBcq;
}

template <int METHOD, int BITS, int NT>
cudaError_t launchOne(const BitplaneArgs& a, cudaStream_t stream) {
  constexpr int NTOK = 8 * NT;
  constexpr int W = warpsFor(BITS);
  constexpr int perSm = ctasPerSmFor(METHOD, BITS);
  const int nsegTotal = (a.cols + kSegCols - 1) / kSegCols;
  const int tilesTotal = (a.rows + 15) / 16;
  constexpr bool kLutLike = METHOD == kMethodLut || METHOD == kMethodLutInt;
  const size_t rowBytes = (size_t)NTOK * 4 + (kLutLike ? (size_t(1) << BITS) * 2 : 0) + (METHOD == kMethodLutInt ? 4 : 0);  // outS + lutS (+ rowScaleS) per row
  const size_t stageBytes = ringStageBytes(BITS);
  // staged activations per 512-column segment (binary-mma AnyBCQ: 16 words x 24 bit-planes, the
  // 4 quads' sums, the raw slice; the integer table kernel: 3 digit bytes per column)
  const size_t segBytes = METHOD == kMethodBcqPlanes ? 16 * kXBits * 4 + 4 * 4 + 1024
                          : METHOD == kMethodLutInt  ? 1536 + 16
                                                     : (size_t)1024 * a.tokens;
  const size_t cap = (size_t)kSmemPerSm / perSm - 1024;  // shared memory per CTA at perSm CTAs per SM
  // Each warp parks two partial tiles of NTOK x 16 floats in its own ring slots at the end,
  // so slots x BITS KiB must hold 2 x NTOK x 64 bytes: two slots for 1-bit at 9..16 tokens.
  constexpr int kMinSlots = (NTOK / 8 + BITS - 1) / BITS;
  static_assert(ringSlots(BITS) >= kMinSlots, "ring too small to park partial tiles");
  const size_t lutAlign = kLutLike && BITS >= 5 ? kLutAlignBytes : 0;  // the kernel aligns its row tables
  auto smemFor = [&](int segs, int tiles, int slots) {
    return (size_t)segs * segBytes + (size_t)tiles * 16 * rowBytes + slots * stageBytes + lutAlign;
  };
  static bool attributeSet = false;  // once per instantiation, never inside a capture
  auto kernel = fusedKernel<METHOD, BITS, NT>;
  if (!attributeSet) {
    cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBudget);
    if (err != cudaSuccess) return err;
    attributeSet = true;
  }
  // CTAs resident at once in clusters of s: GPC boundaries can leave SMs unusable for larger
  // clusters, so ask the occupancy calculator (cached; -1 if it cannot answer).
  static std::map<std::pair<int, size_t>, int> clusterSlotsCache;
  auto clusterSlots = [&](int s, size_t smem) {
    if (!ANYPREC_CLUSTER_OCCUPANCY) return -1;
    const auto key = std::make_pair(s, smem);
    auto it = clusterSlotsCache.find(key);
    if (it != clusterSlotsCache.end()) return it->second;
    cudaLaunchConfig_t q = {};
    q.gridDim = dim3(1, s, 1);
    q.blockDim = dim3(W * 32, 1, 1);
    q.dynamicSmemBytes = smem;
    cudaLaunchAttribute qa[1];
    qa[0].id = cudaLaunchAttributeClusterDimension;
    qa[0].val.clusterDim.x = 1;
    qa[0].val.clusterDim.y = s;
    qa[0].val.clusterDim.z = 1;
    q.attrs = qa;
    q.numAttrs = 1;
    int n = 0;
    int slots = -1;
    if (cudaOccupancyMaxActiveClusters(&n, kernel, &q) == cudaSuccess && n > 0) slots = n * s;
    else (void)cudaGetLastError();
    clusterSlotsCache[key] = slots;
    return slots;
  };
  // Colocation: a grid of one CTA per SM leaves half of every SM's registers and shared memory
  // to the next launch on the stream, which (programmatic dependent launch) becomes resident
  // while this one computes and streams its weights meanwhile; that hides most of a small
  // matrix's transfer and the staging of several tokens, but eight warps per SM decode more
  // slowly than sixteen. Chosen from H100 measurements (README, "Colocation" and session 7):
  // 4096-column matrices at 2..16 tokens (AnyBCQ only up to 4 bits and 3 x SMs tiles), small
  // ones (<= 3 x SMs tiles) of Any-Precision <= 4 bits and of the AnyBCQ binary kernel <= 3 bits
  // at one token, Any-Precision 2-bit at one token, and large ones of Any-Precision >= 5 bits
  // at one token (the integer table kernel also on rows longer than 4096 columns: 4096x14336
  // 3 / 4-bit 15.68 / 20.41 -> 13.87 / 19.40 us, 2-bit equal, session 10). These are graphs of
  // one shape, where the launch before is colocated too; after a launch that fills the SMs, a
  // colocated grid can land two CTAs on the SMs that free up first (presumably what made
  // Any-Precision 4096x14336 colocated at one token, 1.4 us faster in its own graph, cost 12 us as
  // the last chunk of a 33-token call after two 16-token launches; session 8, so that chunk now
  // passes kColocateNever). So the caller, which knows the launch order, passes kColocateNever after a
  // different kernel (a decoder layer: up to 24% faster at one token, 24-31% at 8 tokens, session
  // 9). Not decided here from the stream's previous launch: the grid decides which warps share a
  // tile and so the rounding, and the same arguments must give the same bits.
  // $ANYPREC_COLOCATE=0|1 overrides both (development).
  const bool colocate = colocateRule(METHOD, BITS, a);
  const int perGrid = colocate ? 1 : perSm;  // CTAs per SM the grid is sized for
  // The binary-mma kernel's staging (fixed point and a bit transpose of every 32 columns) costs
  // more per segment than the table kernels' permutation: at one token it makes long rows split
  // in two (4096x14336 AnyBCQ 1 / 2 / 3 / 5-bit 10.62 / 12.97 / 16.41 / 26.55 -> 10.09 / 12.28 /
  // 15.74 / 25.35 us forced, H100, session 8; 4096x11008 1-3 bits stay whole, forced split slower).
  // Rows of <= 4096 columns never split at one token: the model then split 1024x4096, which
  // measured 1.1 us slower at 2-8 bits.
  const double stageCost = METHOD == kMethodBcqPlanes ? ANYPREC_PLANES_STAGE_COST : ANYPREC_STAGE_COST;
  // Split K across a cluster only as far as it pays. For each cluster size: as many CTA rows
  // as fit the GPU at once, each with an equal share of the tiles (fewer tiles if shared
  // memory is short, at the price of waves); cost = waves x (units per warp + a fixed cost of
  // about ANYPREC_FIXED_UNITS units for staging and reduction).
  int splitK = 0, tilesPerCta = 0, segsPerCta = 0, gridRows = 0;
  double best = 1e30;
  // Development overrides (bench/splits.sh): force the cluster size and the tiles per CTA.
  static const int forcedSplit = [] { const char* e = std::getenv("ANYPREC_SPLITK"); return e ? std::atoi(e) : 0; }();
  static const int forcedTiles = [] { const char* e = std::getenv("ANYPREC_TILES"); return e ? std::atoi(e) : 0; }();
  // Any-Precision 5-8 bits, K split in two where the model above does not pick it: at one token
  // on a matrix of at most half as many tiles as SMs (the k / v projections; 1024x4096 8-bit
  // 7.58 -> 6.93 us forced, H100, session 12; this rule session 13), and at 2..8 tokens on rows
  // longer than 4096 columns, where the model picks a wider cluster or none (H100, session 14,
  // forced against the model, us at 2 / 4 / 8 tokens: 4096x14336 5-bit 34.15 / 35.00 / 41.25 ->
  // 31.92 / 34.85 / 35.77, 6-bit 38.26 / 39.27 / 43.79 -> 36.14 / 38.98 / 39.78, 4096x11008 5-bit
  // 28.67 / 29.55 / 34.07 -> 28.28 / 29.44 / 31.70; 7-8 bits within +-1% but 4096x14336 7-bit at
  // 4 tokens 45.62 -> 39.94). Only where the halved activation slice fits. At 6-8 bits the other
  // way round on 4096-column matrices of more tiles than half the SMs and at most 3 x SMs (the
  // q / o projections, fused qkv): the model's split in two at 8 tokens costs more than it saves
  // (same call, us: 4096x4096 6 / 7 / 8-bit 16.35 / 17.91 / 19.45 -> 15.56 / 16.45 / 17.59,
  // 6144x4096 20.95 / 22.68 / 22.84 -> 20.35 / 21.48 / 22.84 whole; 1024x4096 keeps its split).
  // The same whole K at 12-16 tokens for 5-6 bits on such matrices up to ~14336 rows (A/B in one
  // call, two runs each, us at 12 / 16 tokens: 6144x4096 5-bit 22.97 / 24.07 -> 20.68 / 21.62,
  // 14336x4096 5-bit 40.69 / 44.26 -> 38.75 / 39.87, 4096x4096 6-bit 19.30 / 18.83 -> 17.75 / 19.00;
  // at 9 tokens 5-bit was 2% slower on most, so not below 12; 28672 rows and 7-8 bits do not gain).
  const int sms = deviceSmCount();
  int preferSplit = 0;  // 0: the model decides
  if (METHOD == kMethodLut && BITS >= 5 && a.cols >= 4096 && forcedSplit <= 0) {
    const bool halvesFit = smemFor((nsegTotal + 1) / 2, 1, kMinSlots) <= (size_t)kSmemBudget;
    const bool kvSized = 2 * tilesTotal <= sms;  // at most half as many tiles as SMs
    if (halvesFit && ((a.tokens == 1 && kvSized) || (NT == 1 && a.tokens > 1 && a.cols > 4096))) preferSplit = 2;
    else if (a.tokens > 1 && a.cols == 4096 && !kvSized &&
             ((NT == 1 && BITS >= 6 && tilesTotal <= 3 * sms) || (a.tokens >= 12 && BITS <= 6 && tilesTotal <= 7 * sms)))
      preferSplit = 1;
  }
  for (int s = 1; s <= std::min(kMaxCluster, nsegTotal); ++s) {
    const int segs = (nsegTotal + s - 1) / s;
    if (smemFor(segs, 1, kMinSlots) > (size_t)kSmemBudget) continue;
    if (forcedSplit > 0 && s != forcedSplit && forcedSplit <= std::min(kMaxCluster, nsegTotal)) continue;
    if (preferSplit && s != preferSplit) continue;
    if (METHOD == kMethodBcqPlanes && s > 1 && a.cols <= 4096 && forcedSplit <= 0) continue;
    auto resident = [&](size_t smem) {  // CTA rows (clusters) that run at once
      const int occ = clusterSlots(s, smem);
      int ctas = occ > 0 ? occ : std::max(1, std::min(perSm, (int)(kSmemPerSm / (smem + 1024)))) * sms;
      ctas = ctas * perGrid / perSm;  // colocation: the other half is for the next launch
      return std::max(1, ctas / s);
    };
    const int rows1 = resident(smemFor(segs, 1, kMinSlots));
    int tiles = forcedTiles > 0 ? std::min(forcedTiles, tilesTotal) : (tilesTotal + rows1 - 1) / rows1;
    while (tiles > 1 && smemFor(segs, tiles, kMinSlots) > (size_t)kSmemBudget) --tiles;
    // Spread the tiles over as many CTA rows as run at once (shares differ by at most one).
    const int ctaRows = forcedTiles <= 0 && tiles * rows1 >= tilesTotal ? std::min(tilesTotal, rows1) : (tilesTotal + tiles - 1) / tiles;
    const int rowsAtOnce = resident(smemFor(segs, tiles, kMinSlots));
    const int waves = (ctaRows + rowsAtOnce - 1) / rowsAtOnce;
    // Staging permutes segs x tokens x 16 words of activations per CTA; split-K pays a cluster
    // barrier and a DSMEM reduction that grows with the CTA's tiles. Constants fitted to H100
    // timings of the Llama shapes at 1 and 8 tokens (README).
    const double cost = waves * ((double)tiles * segs / W + ANYPREC_FIXED_UNITS + stageCost * segs * a.tokens) +
                        (s > 1 ? ANYPREC_SPLIT_COST + 0.12 * tiles : 0.0) + (s > 2 ? 3.0 : 0.0);
    if (cost < best - 1e-9) best = cost, splitK = s, tilesPerCta = tiles, segsPerCta = segs, gridRows = ctaRows;
  }
  if (!splitK) return cudaErrorInvalidValue;  // validated by the caller (fusedMaxCols)
  splitK = (nsegTotal + segsPerCta - 1) / segsPerCta;
  // The deepest ring that keeps perSm CTAs per SM (or one slot if even that does not).
  int slots = ringSlots(BITS);
  const size_t keep = std::max(cap, smemFor(segsPerCta, tilesPerCta, kMinSlots));
  while (slots > kMinSlots && smemFor(segsPerCta, tilesPerCta, slots) > keep) --slots;
  // Split-K: an inbox for the cluster's partial tiles ([splitK][NTOK][tiles x 16] floats) where
  // it fits beside the configuration chosen above; otherwise the partial tiles are read through
  // DSMEM (same sums in the same order either way, see the kernel's write phase).
  const size_t configBytes = smemFor(segsPerCta, tilesPerCta, slots);
  const size_t inboxBytes = splitK > 1 ? (size_t)splitK * NTOK * tilesPerCta * 16 * 4 : 0;
  const bool inbox = inboxBytes > 0 && configBytes + inboxBytes <= keep;
  const size_t smemBytes = configBytes + (inbox ? inboxBytes : 0);

  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(gridRows, splitK, 1);
  cfg.blockDim = dim3(W * 32, 1, 1);
  cfg.dynamicSmemBytes = smemBytes;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = 1;
  attr[0].val.clusterDim.y = splitK;
  attr[0].val.clusterDim.z = 1;
  // Programmatic dependent launch: this grid may start while the previous kernel of the stream
  // drains; it only streams weights before griddepcontrol.wait (see README: weights must not be
  // written by the kernel launched just before).
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = ANYPREC_PDL;
  cfg.attrs = attr;
  cfg.numAttrs = 2;
  // Which CTAs take the extra tiles when the shares differ by one. A grid of two CTAs per SM
  // cannot all start while the kernel before still runs (the trace of a graph replay shows the
  // last CTAs starting up to 0.8 us after it ended, and their staging then taking up to 4 us),
  // so the extra tiles go to the CTAs launched first where the CTAs hold two or more tiles.
  // Measured on the H100 (two A/B calls, two runs each, README session 12): the integer table
  // kernel 1-8% faster (14336x4096 3 / 4-bit 12.39 / 18.80 -> 11.69 / 17.35 us), the AnyBCQ
  // table kernel at 8 tokens up to 7.6% (14336x4096 4-bit), the binary-mma kernel 0.3-5% at 2
  // bits but 0-2% slower at 3-4 bits (so not there), 8 bits 2-3% slower, colocated grids
  // (whose CTAs all start early) mixed. $ANYPREC_EXTRA_FIRST=0|1 overrides (development).
  static const int extraFirstForced = [] { const char* e = std::getenv("ANYPREC_EXTRA_FIRST"); return e ? std::atoi(e) : -1; }();
  const bool extraFirst = extraFirstForced >= 0 ? extraFirstForced > 0
                                                : !colocate && BITS <= 4 && tilesTotal >= 2 * gridRows &&
                                                      !(METHOD == kMethodBcqPlanes && BITS >= 3);
  static const bool debug = std::getenv("ANYPREC_FUSED_DEBUG") != nullptr;
  if (debug)
    std::fprintf(stderr, "fused m%d b%d nt%d %dx%d tokens %d: grid %dx%d tiles<=%d segs %d slots %d smem %zu colocate %d inbox %d extraFirst %d\n",
                 METHOD, BITS, NT, a.rows, a.cols, a.tokens, gridRows, splitK, tilesPerCta, segsPerCta, slots, smemBytes, (int)colocate,
                 (int)inbox, (int)extraFirst);
  KernelParams kp{a, tilesPerCta, segsPerCta, slots, inbox ? 1 : 0, extraFirst ? 1 : 0, nullptr};
#if ANYPREC_TRACE
  return traceLaunch(cfg, kernel, kp, W, stream);
#else
  return cudaLaunchKernelEx(&cfg, kernel, kp);
#endif
}

template <int METHOD, int NT>
cudaError_t launchBits(const BitplaneArgs& a, cudaStream_t s) {
  switch (a.bits) {
    case 1: if constexpr (METHOD != kMethodLut) return launchOne<METHOD, 1, NT>(a, s); else break;
    case 2: return launchOne<METHOD, 2, NT>(a, s);
    case 3: return launchOne<METHOD, 3, NT>(a, s);
    case 4: return launchOne<METHOD, 4, NT>(a, s);
    case 5: return launchOne<METHOD, 5, NT>(a, s);
    case 6: return launchOne<METHOD, 6, NT>(a, s);
    case 7: return launchOne<METHOD, 7, NT>(a, s);
    case 8: return launchOne<METHOD, 8, NT>(a, s);
    default: break;
  }
  return cudaErrorInvalidValue;
}

// ---- dequantisation into an fp16 [rows, cols] scratch (prefill path) ----
// One thread per 8 columns (one byte of each plane word), so each thread writes 16
// contiguous bytes and a warp writes 512 contiguous bytes: the kernel is write-bandwidth bound.
// Rows [rowBegin, rowBegin + rowCount) go to rows 0.. of w, so a row block can be
// dequantised into a small scratch that stays in L2 for the GEMM that reads it next.
template <int METHOD, int BITS>
__global__ void dequantKernel(const BitplaneArgs a, int rowBegin, int rowCount, uint16_t* __restrict__ w) {
  const int K32 = a.cols >> 5;
  const size_t planeStride = (size_t)a.rows * K32;
  const size_t n = (size_t)rowCount * K32 * 4;
  const int groups = METHOD == kMethodBcq ? (a.cols + a.groupSize - 1) / a.groupSize : 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const size_t wl = i >> 2;
    const int sub = (int)(i & 3);
    const int rowL = (int)(wl / K32), word = (int)(wl % K32);
    const int row = rowBegin + rowL;
    const size_t wi = (size_t)row * K32 + word;
    uint32_t b[BITS];
#pragma unroll
    for (int p = 0; p < BITS; ++p) b[p] = (__ldg(a.planes + p * planeStride + wi) >> (8 * sub)) & 0xFFu;
    uint32_t o[4];
    if constexpr (METHOD == kMethodLut) {
      const uint16_t* lut = a.table + ((size_t)row << BITS);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        uint32_t idx = 0;
#pragma unroll
        for (int p = 0; p < BITS; ++p) idx |= ((b[p] >> j) & 1u) << (BITS - 1 - p);
        const uint32_t h = __ldg(lut + idx);
        if (j & 1) o[j >> 1] |= h << 16;
        else o[j >> 1] = h;
      }
    } else {
      const int grp = (word * 32 + sub * 8) / a.groupSize;
      const uint16_t* sc = a.table + ((size_t)row * groups + grp) * BITS;
      float sv[BITS];
#pragma unroll
      for (int p = 0; p < BITS; ++p) sv[p] = __half2float(__ushort_as_half(__ldg(sc + p)));
      const float off = a.offsets ? __half2float(__ushort_as_half(__ldg(a.offsets + (size_t)row * groups + grp))) : 0.f;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        float acc = off;
#pragma unroll
        for (int p = 0; p < BITS; ++p) acc += ((b[p] >> j) & 1u) ? sv[p] : -sv[p];
        const uint32_t h = __half_as_ushort(__float2half_rn(acc));
        if (j & 1) o[j >> 1] |= h << 16;
        else o[j >> 1] = h;
      }
    }
    *reinterpret_cast<uint4*>(w + (size_t)rowL * a.cols + (size_t)word * 32 + sub * 8) = make_uint4(o[0], o[1], o[2], o[3]);
  }
}

__device__ __forceinline__ uint32_t hash32(uint32_t x) {
  x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
  return x;
}

__global__ void fillU32Kernel(uint32_t* dst, size_t count, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = hash32((uint32_t)i * 0x9E3779B9u ^ hash32(seed + (uint32_t)(i >> 32)));
}

__global__ void fillF16Kernel(uint16_t* dst, size_t count, uint32_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
    const float u = (hash32((uint32_t)i * 0x9E3779B9u ^ hash32(seed + (uint32_t)(i >> 32))) >> 8) * (1.f / 16777216.f);
    dst[i] = __half_as_ushort(__float2half_rn(lo + (hi - lo) * u));
  }
}

int gridFor(size_t n) { return (int)std::min<size_t>((n + 255) / 256, (size_t)deviceSmCount() * 16); }

}  // namespace

int fusedMaxCols(int tokens) {
  const int ntok = tokens > 8 ? 16 : 8;
  // Reserve what one ring slot, one 16-row tile of outputs and 8-bit tables need at the widest
  // width with room to spare (64 KiB + 64 rows x (ntok outputs + 256 fp16)); src/layout.ts
  // computes the same number.
  const int fixedBytes = 64 * 1024 + ntok * 64 * 4 + 64 * 256 * 2;
  static_assert(ringStageBytes(8) <= 64 * 1024 && ringStageBytes(4) <= 64 * 1024, "fusedMaxCols reserve");
  const int maxSegs = (kSmemBudget - fixedBytes) / (1024 * ntok);
  return maxSegs * kMaxCluster * kSegCols;
}

cudaError_t launchFused(const BitplaneArgs& a, cudaStream_t stream) {
  if (a.tokens < 1 || a.tokens > kFusedMaxTokens) return cudaErrorInvalidValue;
  const bool two = a.tokens > 8;
  switch (fusedMethod(a)) {
    case kMethodLutInt:  // Any-Precision 2-4 bits at one token
      if (a.bits == 2) return launchOne<kMethodLutInt, 2, 1>(a, stream);
      if (a.bits == 3) return launchOne<kMethodLutInt, 3, 1>(a, stream);
      return launchOne<kMethodLutInt, 4, 1>(a, stream);
    case kMethodLut: return two ? launchBits<kMethodLut, 2>(a, stream) : launchBits<kMethodLut, 1>(a, stream);
    case kMethodBcqPlanes: return launchBits<kMethodBcqPlanes, 1>(a, stream);
    default: return two ? launchBits<kMethodBcq, 2>(a, stream) : launchBits<kMethodBcq, 1>(a, stream);
  }
}

bool fusedColocates(const BitplaneArgs& a) {
  return a.tokens >= 1 && a.tokens <= kFusedMaxTokens && colocateRule(fusedMethod(a), a.bits, a);
}

cudaError_t launchDequant(const BitplaneArgs& a, uint16_t* weightF16, cudaStream_t stream) {
  return launchDequantRows(a, 0, a.rows, weightF16, stream);
}

cudaError_t launchDequantRows(const BitplaneArgs& a, int rowBegin, int rowCount, uint16_t* weightF16, cudaStream_t stream) {
  if (rowBegin < 0 || rowCount < 1 || rowBegin + rowCount > a.rows) return cudaErrorInvalidValue;
  const size_t n = (size_t)rowCount * (a.cols >> 5) * 4;
  const int grid = gridFor(n);
  if (a.method == kMethodLut) {
    switch (a.bits) {
      case 2: dequantKernel<kMethodLut, 2><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 3: dequantKernel<kMethodLut, 3><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 4: dequantKernel<kMethodLut, 4><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 5: dequantKernel<kMethodLut, 5><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 6: dequantKernel<kMethodLut, 6><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 7: dequantKernel<kMethodLut, 7><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 8: dequantKernel<kMethodLut, 8><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      default: return cudaErrorInvalidValue;
    }
  } else {
    switch (a.bits) {
      case 1: dequantKernel<kMethodBcq, 1><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 2: dequantKernel<kMethodBcq, 2><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 3: dequantKernel<kMethodBcq, 3><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 4: dequantKernel<kMethodBcq, 4><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 5: dequantKernel<kMethodBcq, 5><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 6: dequantKernel<kMethodBcq, 6><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 7: dequantKernel<kMethodBcq, 7><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      case 8: dequantKernel<kMethodBcq, 8><<<grid, 256, 0, stream>>>(a, rowBegin, rowCount, weightF16); break;
      default: return cudaErrorInvalidValue;
    }
  }
  return cudaGetLastError();
}

cudaError_t launchFillU32(uint32_t* dst, size_t count, uint32_t seed, cudaStream_t stream) {
  fillU32Kernel<<<gridFor(count), 256, 0, stream>>>(dst, count, seed);
  return cudaGetLastError();
}

cudaError_t launchFillF16(uint16_t* dst, size_t count, uint32_t seed, float lo, float hi, cudaStream_t stream) {
  fillF16Kernel<<<gridFor(count), 256, 0, stream>>>(dst, count, seed, lo, hi);
  return cudaGetLastError();
}

}  // namespace anyprec_cuda

// Any-Precision LLM quantizer hot loop (Park et al., ICML 2024): per output row, a
// sensitivity-weighted 1-D k-means seed (k-means++ initialisation + Lloyd) at `seedBits`,
// then incremental upscaling to `parentBits`: every cluster is split in two by the exact
// weighted 2-means over its own members (new bit = LSB of the index), so the b-bit index is
// the top b bits of the parent index for every b.
//
// Everything works on the row's sorted *distinct* values with their summed weights: ties
// can never be split across clusters, and bf16/f16 checkpoints (few distinct values per row)
// get cheaper. Cluster statistics come from f64 prefix sums of w, w*x, w*x^2, so k-means++
// sampling, Lloyd steps and 2-means splits cost O(k log m) or O(cluster) each.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#include "registry.h"

namespace anyprec {
namespace {

// Round-to-nearest-even f64 -> IEEE binary16 (no double rounding through f32).
uint16_t F64ToF16(double v) {
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  double a = std::fabs(v);
  if (std::isnan(v)) return 0x7e00;
  if (a >= 65520.0) return sign | 0x7c00;
  if (a < 6.103515625e-05) {  // below 2^-14: subnormal, units of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0));  // 1024 encodes 2^-14 correctly
  }
  int e;
  std::frexp(a, &e);                           // a = f * 2^e, f in [0.5, 1)
  double mant = std::ldexp(a, 1 - e);          // [1, 2)
  uint32_t m = static_cast<uint32_t>(std::nearbyint((mant - 1.0) * 1024.0));
  uint32_t exp = static_cast<uint32_t>(e - 1 + 15);
  if (m == 1024) { m = 0; exp++; }
  return sign | static_cast<uint16_t>((exp << 10) | m);
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Uniform(uint64_t& state) { return (SplitMix64(state) >> 11) * (1.0 / 9007199254740992.0); }

// Order-preserving map of a float's bits to an unsigned key (-0 folded into +0).
inline uint32_t FloatKey(float x) {
  if (x == 0.0f) x = 0.0f;
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

struct Row {
  // Distinct sorted values and their prefix sums: S0 = sum w, S1 = sum w x, S2 = sum w x^2.
  std::vector<double> u, s0, s1, s2;
  std::vector<uint64_t> keys, tmp;
  std::vector<uint32_t> uniqueOfSorted;
  std::vector<uint32_t> clusterOfUnique;
  std::vector<uint32_t> borders, next, best, cand;
  std::vector<double> centers, cell;
  int m = 0;

  double W(int a, int b) const { return s0[b] - s0[a]; }
  double Mean(int a, int b) const { return (s1[b] - s1[a]) / (s0[b] - s0[a]); }
  // Weighted squared error of range [a, b) around its weighted mean.
  double Cost(int a, int b) const {
    if (b <= a) return 0.0;
    double w = s0[b] - s0[a], t = s1[b] - s1[a];
    double c = s2[b] - s2[a] - t * t / w;
    return c > 0 ? c : 0.0;
  }
  // Weighted squared error of range [a, b) around an arbitrary center c.
  double CostAround(int a, int b, double c) const {
    if (b <= a) return 0.0;
    double v = (s2[b] - s2[a]) - 2.0 * c * (s1[b] - s1[a]) + c * c * (s0[b] - s0[a]);
    return v > 0 ? v : 0.0;
  }
  // First distinct index whose value is >= t.
  int LowerBound(double t) const { return static_cast<int>(std::lower_bound(u.begin(), u.begin() + m, t) - u.begin()); }

  // Exact weighted 2-means of [a, b): the split d in (a, b) maximising the between-class
  // term S1'_L^2 * W / (W_L * W_R) with values centred on the range mean (no cancellation).
  int BestSplit(int a, int b) const {
    if (b - a < 2) return b;
    double w = W(a, b), mu = Mean(a, b);
    int bestD = a + 1;
    double bestGain = -1.0;
    for (int d = a + 1; d < b; d++) {
      double wl = s0[d] - s0[a];
      double wr = w - wl;
      double t = (s1[d] - s1[a]) - mu * wl;
      double gain = t * t * (w / (wl * wr));
      if (gain > bestGain) { bestGain = gain; bestD = d; }
    }
    return bestD;
  }
};

// Draws a distinct index with probability proportional to w * D^2 to the nearest of the
// sorted `centers` (k-means++). Cells are the Voronoi ranges; inside a cell the cumulative
// potential is monotone, so a binary search over prefix sums finds the sample.
int SampleDsq(const Row& r, const std::vector<double>& centers, std::vector<double>& cell, std::vector<int>& starts, uint64_t& rng) {
  int k = static_cast<int>(centers.size());
  cell.resize(k);
  starts.resize(k + 1);
  double total = 0;
  int lo = 0;
  for (int i = 0; i < k; i++) {
    int hi = i + 1 < k ? r.LowerBound(0.5 * (centers[i] + centers[i + 1])) : r.m;
    starts[i] = lo;
    cell[i] = r.CostAround(lo, hi, centers[i]);
    total += cell[i];
    lo = hi;
  }
  starts[k] = r.m;
  if (!(total > 0)) return -1;
  double target = Uniform(rng) * total;
  int i = 0;
  while (i < k - 1 && target >= cell[i]) { target -= cell[i]; i++; }
  int a = starts[i], b = starts[i + 1];
  if (b <= a) return -1;
  // smallest j in [a, b) with CostAround(a, j + 1) > target
  int lo2 = a, hi2 = b - 1;
  while (lo2 < hi2) {
    int mid = (lo2 + hi2) / 2;
    if (r.CostAround(a, mid + 1, centers[i]) > target) hi2 = mid; else lo2 = mid + 1;
  }
  return lo2;
}

double Potential(const Row& r, const std::vector<double>& centers) {
  int k = static_cast<int>(centers.size());
  double total = 0;
  int lo = 0;
  for (int i = 0; i < k; i++) {
    int hi = i + 1 < k ? r.LowerBound(0.5 * (centers[i] + centers[i + 1])) : r.m;
    total += r.CostAround(lo, hi, centers[i]);
    lo = hi;
  }
  return total;
}

// Greedy weighted k-means++ (2 + ln k candidates per step, keep the one with the lowest
// potential), result as sorted centers. Requires m > k.
void KMeansPlusPlus(const Row& r, int k, uint64_t& rng, std::vector<double>& centers, std::vector<double>& cell) {
  centers.clear();
  // first center ~ w
  double target = Uniform(rng) * r.s0[r.m];
  int first = static_cast<int>(std::upper_bound(r.s0.begin() + 1, r.s0.begin() + r.m + 1, target) - (r.s0.begin() + 1));
  if (first >= r.m) first = r.m - 1;
  centers.push_back(r.u[first]);
  int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  static thread_local std::vector<double> trial;
  static thread_local std::vector<int> starts;
  while (static_cast<int>(centers.size()) < k) {
    double bestPot = INFINITY;
    double bestValue = NAN;
    for (int t = 0; t < trials; t++) {
      int j = SampleDsq(r, centers, cell, starts, rng);
      if (j < 0) break;
      trial = centers;
      trial.insert(std::upper_bound(trial.begin(), trial.end(), r.u[j]), r.u[j]);
      double pot = Potential(r, trial);
      if (pot < bestPot) { bestPot = pot; bestValue = r.u[j]; }
    }
    if (std::isnan(bestValue)) break;  // every distinct value is already a center
    centers.insert(std::upper_bound(centers.begin(), centers.end(), bestValue), bestValue);
  }
}

// Borders (k + 1 entries, 0 .. m) of the Voronoi cells of sorted centers.
void BordersFromCenters(const Row& r, const std::vector<double>& centers, std::vector<uint32_t>& borders) {
  int k = static_cast<int>(centers.size());
  borders.resize(k + 1);
  borders[0] = 0;
  for (int i = 0; i + 1 < k; i++) borders[i + 1] = r.LowerBound(0.5 * (centers[i] + centers[i + 1]));
  borders[k] = r.m;
}

// Replaces empty ranges: drop them and split the costliest range exactly until there are
// k non-empty ranges again (possible because m > k).
void RefillEmpty(const Row& r, int k, std::vector<uint32_t>& borders) {
  std::vector<uint32_t> b;
  b.push_back(0);
  for (size_t i = 1; i < borders.size(); i++)
    if (borders[i] != b.back()) b.push_back(borders[i]);
  while (static_cast<int>(b.size()) - 1 < k) {
    int worst = -1;
    double worstCost = -1;
    for (size_t i = 0; i + 1 < b.size(); i++) {
      if (b[i + 1] - b[i] < 2) continue;
      double c = r.Cost(b[i], b[i + 1]);
      if (c > worstCost) { worstCost = c; worst = static_cast<int>(i); }
    }
    int d = r.BestSplit(b[worst], b[worst + 1]);
    b.insert(b.begin() + worst + 1, d);
  }
  borders = b;
}

// Lloyd iterations on ranges of the sorted distinct values; returns the final cost.
double Lloyd(const Row& r, int k, std::vector<uint32_t>& borders, std::vector<double>& centers, int maxIter) {
  for (int it = 0; it < maxIter; it++) {
    centers.resize(k);
    for (int i = 0; i < k; i++) centers[i] = r.Mean(borders[i], borders[i + 1]);
    static thread_local std::vector<uint32_t> next;
    BordersFromCenters(r, centers, next);
    bool empty = false;
    for (int i = 0; i < k; i++) empty |= next[i + 1] <= next[i];
    if (empty) RefillEmpty(r, k, next);
    if (next == borders) break;
    borders.swap(next);
  }
  double cost = 0;
  for (int i = 0; i < k; i++) cost += r.Cost(borders[i], borders[i + 1]);
  return cost;
}

// Globally optimal weighted 1-D k-means of the m distinct values (m > k) by dynamic
// programming over contiguous ranges: D[l][j] = min_i D[l-1][i] + cost(i, j). The 1-D
// k-means cost obeys the quadrangle inequality, so the best i is monotone in j and each
// layer is solved by divide and conquer in O(m log m) (Aggarwal et al.; Wu 1991; Gronlund
// et al. 2017, "Fast exact k-means, k-medians and Bregman divergence clustering in 1D").
struct OptimalSeed {
  std::vector<double> prev, cur;
  std::vector<uint32_t> arg;  // [k][m + 1]

  void Layer(const Row& r, int l, int jlo, int jhi, int optlo, int opthi, int m1) {
    while (jlo <= jhi) {
      // iterative on the right half, recursive on the left: bounded stack depth
      int mid = (jlo + jhi) / 2;
      int lo = std::max(optlo, l - 1), hi = std::min(opthi, mid - 1);
      double best = INFINITY;
      int bestI = lo;
      for (int i = lo; i <= hi; i++) {
        double v = prev[i] + r.Cost(i, mid);
        if (v < best) { best = v; bestI = i; }
      }
      cur[mid] = best;
      arg[static_cast<size_t>(l) * m1 + mid] = bestI;
      if (jlo <= mid - 1) Layer(r, l, jlo, mid - 1, optlo, bestI, m1);
      jlo = mid + 1;
      optlo = bestI;
    }
  }

  void Solve(const Row& r, int k, std::vector<uint32_t>& borders) {
    int m = r.m, m1 = m + 1;
    prev.assign(m1, INFINITY);
    cur.assign(m1, INFINITY);
    arg.assign(static_cast<size_t>(k + 1) * m1, 0);
    for (int j = 1; j <= m; j++) prev[j] = r.Cost(0, j);
    // layer l only needs prefixes that leave k - l values for the clusters after it, and
    // the last layer only the whole row (one O(m) scan)
    for (int l = 2; l < k; l++) {
      std::fill(cur.begin(), cur.end(), INFINITY);
      Layer(r, l, l, m - (k - l), l - 1, m - 1, m1);
      prev.swap(cur);
    }
    double best = INFINITY;
    int bestI = k - 1;
    for (int i = k - 1; i <= m - 1; i++) {
      double v = prev[i] + r.Cost(i, m);
      if (v < best) { best = v; bestI = i; }
    }
    arg[static_cast<size_t>(k) * m1 + m] = bestI;
    borders.resize(k + 1);
    borders[k] = m;
    for (int l = k; l >= 2; l--) borders[l - 1] = arg[static_cast<size_t>(l) * m1 + borders[l]];
    borders[0] = 0;
  }
};

struct Job {
  const float* weight;
  const float* sens;  // null: unit sensitivities
  int rows, cols, seedBits, parentBits, restarts, maxIter;
  bool optimalSeed;  // exact DP seed instead of k-means++ + Lloyd
  double floorFraction;  // every weight's sensitivity gets + floorFraction * (row mean)
  uint64_t seed;
  uint8_t* indices;
  std::vector<uint16_t*> luts;  // one per width seedBits..parentBits, [rows, 2^b]
};

void QuantizeRow(const Job& job, int row, Row& r) {
  const int n = job.cols;
  const float* x = job.weight + static_cast<size_t>(row) * n;
  const float* f = job.sens ? job.sens + static_cast<size_t>(row) * n : nullptr;

  // 1. sort (value key, column) by an LSD radix sort on the 32-bit value key: 11+11+10 bits
  r.keys.resize(n);
  r.tmp.resize(n);
  for (int i = 0; i < n; i++) r.keys[i] = (static_cast<uint64_t>(FloatKey(x[i])) << 32) | static_cast<uint32_t>(i);
  {
    const int shifts[3] = {32, 43, 54};
    const int widths[3] = {11, 11, 10};
    uint32_t count[2048];
    for (int p = 0; p < 3; p++) {
      uint32_t mask = (1u << widths[p]) - 1;
      std::memset(count, 0, sizeof(uint32_t) * (mask + 1));
      for (int i = 0; i < n; i++) count[(r.keys[i] >> shifts[p]) & mask]++;
      uint32_t sum = 0;
      for (uint32_t d = 0; d <= mask; d++) { uint32_t c = count[d]; count[d] = sum; sum += c; }
      for (int i = 0; i < n; i++) r.tmp[count[(r.keys[i] >> shifts[p]) & mask]++] = r.keys[i];
      r.keys.swap(r.tmp);
    }
  }

  // 2. distinct values with summed sensitivities; a floor (default 1e-6) times the row's mean
  // sensitivity per weight keeps every cluster's centroid defined (all-zero sensitivities:
  // plain k-means); larger floors damp the noise of a Fisher estimate from few sequences
  double total = 0;
  if (f) for (int i = 0; i < n; i++) total += f[i];
  double floorW = total > 0 ? job.floorFraction * total / n : 1.0;
  r.u.resize(n);
  r.s0.resize(n + 1);
  r.s1.resize(n + 1);
  r.s2.resize(n + 1);
  r.uniqueOfSorted.resize(n);
  int m = 0;
  double w = 0;
  uint32_t lastKey = 0;
  r.s0[0] = r.s1[0] = r.s2[0] = 0;
  for (int i = 0; i < n; i++) {
    uint32_t key = static_cast<uint32_t>(r.keys[i] >> 32);
    uint32_t col = static_cast<uint32_t>(r.keys[i]);
    double wi = (f ? static_cast<double>(f[col]) : 0.0) + floorW;
    if (i == 0 || key != lastKey) {
      if (i > 0) {
        double v = r.u[m - 1];
        r.s0[m] = r.s0[m - 1] + w;
        r.s1[m] = r.s1[m - 1] + w * v;
        r.s2[m] = r.s2[m - 1] + w * v * v;
      }
      float xv = x[col];
      r.u[m++] = xv == 0.0f ? 0.0 : static_cast<double>(xv);
      w = 0;
      lastKey = key;
    }
    w += wi;
    r.uniqueOfSorted[i] = m - 1;
  }
  {
    double v = r.u[m - 1];
    r.s0[m] = r.s0[m - 1] + w;
    r.s1[m] = r.s1[m - 1] + w * v;
    r.s2[m] = r.s2[m - 1] + w * v * v;
  }
  r.m = m;

  // 3. seed: k ranges of distinct values
  const int k = 1 << job.seedBits;
  std::vector<uint32_t>& borders = r.borders;
  std::vector<double> centroid;  // per cluster at the current width (used for empty children)
  if (m <= k) {
    // one distinct value per cluster; clusters past m stay empty and repeat the last value
    borders.resize(k + 1);
    for (int i = 0; i <= k; i++) borders[i] = std::min(i, m);
  } else if (job.optimalSeed) {
    static thread_local OptimalSeed dp;
    dp.Solve(r, k, borders);
  } else {
    uint64_t rng = job.seed ^ (0xd1b54a32d192ed03ULL * (static_cast<uint64_t>(row) + 1));
    double bestCost = INFINITY;
    for (int t = 0; t < job.restarts; t++) {
      KMeansPlusPlus(r, k, rng, r.centers, r.cell);
      BordersFromCenters(r, r.centers, r.cand);
      bool empty = false;
      for (int i = 0; i < k; i++) empty |= r.cand[i + 1] <= r.cand[i];
      if (empty) RefillEmpty(r, k, r.cand);
      double cost = Lloyd(r, k, r.cand, r.centers, job.maxIter);
      if (cost < bestCost) { bestCost = cost; r.best = r.cand; }
    }
    borders = r.best;
  }
  centroid.resize(k);
  for (int i = 0; i < k; i++)
    centroid[i] = borders[i + 1] > borders[i] ? r.Mean(borders[i], borders[i + 1]) : r.u[m - 1];

  // 4. tables for every width, splitting each cluster exactly in two per extra bit
  int clusters = k;
  for (int bits = job.seedBits;; bits++) {
    uint16_t* lut = job.luts[bits - job.seedBits] + static_cast<size_t>(row) * clusters;
    for (int c = 0; c < clusters; c++) lut[c] = F64ToF16(centroid[c]);
    if (bits == job.parentBits) break;
    r.next.resize(2 * clusters + 1);
    std::vector<double> childCentroid(2 * clusters);
    r.next[0] = 0;
    for (int c = 0; c < clusters; c++) {
      int a = borders[c], b = borders[c + 1];
      int d = r.BestSplit(a, b);
      r.next[2 * c + 1] = d;
      r.next[2 * c + 2] = b;
      childCentroid[2 * c] = d > a ? r.Mean(a, d) : centroid[c];
      childCentroid[2 * c + 1] = b > d ? r.Mean(d, b) : centroid[c];
    }
    borders.swap(r.next);
    centroid.swap(childCentroid);
    clusters *= 2;
  }

  // 5. parent index of every weight
  r.clusterOfUnique.resize(m);
  for (int c = 0; c < clusters; c++)
    for (uint32_t j = borders[c]; j < borders[c + 1]; j++) r.clusterOfUnique[j] = c;
  uint8_t* out = job.indices + static_cast<size_t>(row) * n;
  for (int i = 0; i < n; i++) out[static_cast<uint32_t>(r.keys[i])] = static_cast<uint8_t>(r.clusterOfUnique[r.uniqueOfSorted[i]]);
}

void RunJob(const Job& job, int threads) {
  std::atomic<int> nextRow{0};
  auto worker = [&]() {
    Row r;
    for (;;) {
      int row = nextRow.fetch_add(1);
      if (row >= job.rows) break;
      QuantizeRow(job, row, r);
    }
  };
  if (threads <= 1) { worker(); return; }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

int Int(const Napi::CallbackInfo& info, size_t i, const char* name, int lo, int hi) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi) || v != std::floor(v))
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return static_cast<int>(v);
}

// quantizeAnyPrec(weight: Float32Array [rows*cols], sensitivity: Float32Array | null,
//   rows, cols, seedBits, parentBits, seed, indices: Uint8Array [rows*cols] (out),
//   luts: Uint16Array[] (out, f16 [rows, 2^b] for b = seedBits..parentBits),
//   restarts, maxIter, threads, optimalSeed?: boolean, floorFraction?: number)
Napi::Value QuantizeAnyPrec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 12) throw Napi::TypeError::New(env, "quantizeAnyPrec expects 12 arguments");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "weight must be a Float32Array");
  bool hasSens = !info[1].IsNull() && !info[1].IsUndefined();
  if (hasSens && (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array))
    throw Napi::TypeError::New(env, "sensitivity must be a Float32Array or null");
  int rows = Int(info, 2, "rows", 1, 1 << 30);
  int cols = Int(info, 3, "cols", 1, 1 << 30);
  int seedBits = Int(info, 4, "seedBits", 1, 8);
  int parentBits = Int(info, 5, "parentBits", seedBits, 8);
  if (!info[6].IsNumber()) throw Napi::TypeError::New(env, "seed must be a number");
  double seedValue = info[6].As<Napi::Number>().DoubleValue();
  if (!info[7].IsTypedArray() || info[7].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "indices must be a Uint8Array");
  if (!info[8].IsArray()) throw Napi::TypeError::New(env, "luts must be an array of Uint16Array");
  int restarts = Int(info, 9, "restarts", 1, 1000);
  int maxIter = Int(info, 10, "maxIter", 0, 100000);
  int threads = Int(info, 11, "threads", 1, 1024);

  size_t count = static_cast<size_t>(rows) * cols;
  if (count > (static_cast<size_t>(1) << 32)) throw Napi::RangeError::New(env, "rows * cols must be at most 2^32");
  auto weight = info[0].As<Napi::Float32Array>();
  if (weight.ElementLength() != count)
    throw Napi::RangeError::New(env, "weight has " + std::to_string(weight.ElementLength()) + " elements, expected rows * cols = " + std::to_string(count));
  Job job;
  job.weight = weight.Data();
  job.sens = nullptr;
  if (hasSens) {
    auto sens = info[1].As<Napi::Float32Array>();
    if (sens.ElementLength() != count)
      throw Napi::RangeError::New(env, "sensitivity has " + std::to_string(sens.ElementLength()) + " elements, expected rows * cols = " + std::to_string(count));
    job.sens = sens.Data();
  }
  auto indices = info[7].As<Napi::Uint8Array>();
  if (indices.ElementLength() != count)
    throw Napi::RangeError::New(env, "indices has " + std::to_string(indices.ElementLength()) + " elements, expected rows * cols = " + std::to_string(count));
  auto lutArray = info[8].As<Napi::Array>();
  if (lutArray.Length() != static_cast<uint32_t>(parentBits - seedBits + 1))
    throw Napi::RangeError::New(env, "luts must hold parentBits - seedBits + 1 = " + std::to_string(parentBits - seedBits + 1) + " tables");
  for (int b = seedBits; b <= parentBits; b++) {
    Napi::Value v = lutArray.Get(static_cast<uint32_t>(b - seedBits));
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
      throw Napi::TypeError::New(env, "luts[" + std::to_string(b - seedBits) + "] must be a Uint16Array");
    auto lut = v.As<Napi::Uint16Array>();
    if (lut.ElementLength() != static_cast<size_t>(rows) << b)
      throw Napi::RangeError::New(env, "luts[" + std::to_string(b - seedBits) + "] (width " + std::to_string(b) + ") must have rows * 2^" + std::to_string(b) + " elements");
    job.luts.push_back(lut.Data());
  }
  // Non-finite inputs would poison the prefix sums: reject them up front.
  for (size_t i = 0; i < count; i++)
    if (!std::isfinite(job.weight[i])) throw Napi::RangeError::New(env, "weight[" + std::to_string(i) + "] is not finite");
  if (job.sens)
    for (size_t i = 0; i < count; i++)
      if (!(job.sens[i] >= 0) || !std::isfinite(job.sens[i]))
        throw Napi::RangeError::New(env, "sensitivity[" + std::to_string(i) + "] must be finite and >= 0");

  job.rows = rows;
  job.cols = cols;
  job.seedBits = seedBits;
  job.parentBits = parentBits;
  job.restarts = restarts;
  job.maxIter = maxIter;
  job.optimalSeed = info.Length() > 12 && info[12].IsBoolean() && info[12].As<Napi::Boolean>().Value();
  job.floorFraction = 1e-6;
  if (info.Length() > 13 && info[13].IsNumber()) {
    job.floorFraction = info[13].As<Napi::Number>().DoubleValue();
    if (!(job.floorFraction > 0) || !std::isfinite(job.floorFraction))
      throw Napi::RangeError::New(env, "floorFraction must be a finite number > 0");
  }
  job.seed = static_cast<uint64_t>(static_cast<int64_t>(seedValue));
  job.indices = indices.Data();
  RunJob(job, std::min(threads, rows));
  return env.Undefined();
}

}  // namespace

void RegisterQuant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeAnyPrec", Napi::Function::New(env, QuantizeAnyPrec, "quantizeAnyPrec"));
}
}  // namespace anyprec

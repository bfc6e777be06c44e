// SPDX-License-Identifier: MIT
// Unit tests: each kernel table against a plain scalar reference written here
// from the arithmetic rules (bit for bit), and the table dispatch.
//
//   kernels_test --isa <name>   test one table (exit 77 = skipped: CPU lacks it)
//   kernels_test --dispatch     test compiledKernelTables / findKernelTable / ...
//   kernels_test --spec         test the group step's spec parsing and overlap check
//   kernels_test --threads      test the worker pool and the threaded group step
//   kernels_test --selection    test topQRows and l1LmoRows (not per table)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>
#include <thread>
#include <vector>

#include "../group_step.h"
#include "../kernels/group_spec.h"
#include "../kernels/kernel_tables.h"
#include "../kernels/kernels.h"
#include "../thread_pool.h"

namespace {

constexpr int kExitSkip = 77;  // ctest SKIP_RETURN_CODE

int gFailures = 0;
std::string gContext;  // what is being tested, for failure messages

#define LP_CHECK(cond, ...)                                                          \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ++gFailures;                                                                   \
      if (gFailures <= 25) {                                                         \
        std::fprintf(stderr, "%s:%d: check failed: %s [%s] ", __FILE__, __LINE__, #cond, \
                     gContext.c_str());                                              \
        std::fprintf(stderr, __VA_ARGS__);                                           \
        std::fputc('\n', stderr);                                                    \
      }                                                                              \
    }                                                                                \
  } while (0)

// ---------------------------------------------------------------------------
// The reference: the rules of kernels.h, one element at a time.

template <typename T>
T refSumSquares(const T* x, size_t cols) {
  if constexpr (std::is_same<T, double>::value) {
    // float64: PyTorch's order, one fused multiply-add per element.
    double s = 0;
    for (size_t j = 0; j < cols; ++j) s = std::fma(x[j], x[j], s);
    return s;
  }
  T lane[16];
  for (T& l : lane) l = T(0);
  for (size_t j = 0; j < cols; ++j) lane[j % 16] = lane[j % 16] + x[j] * x[j];
  for (size_t h = 8; h >= 1; h /= 2) {
    for (size_t i = 0; i < h; ++i) lane[i] = lane[i] + lane[i + h];
  }
  return lane[0];
}

template <typename T>
T refNorm(const T* x, size_t cols) {
  return static_cast<T>(std::sqrt(static_cast<double>(refSumSquares(x, cols))));
}

template <typename T>
void refRowNorms(const T* x, size_t rows, size_t cols, T* out) {
  for (size_t r = 0; r < rows; ++r) out[r] = refNorm(x + r * cols, cols);
}

template <typename T>
void refNormalizeRows(T* g, size_t rows, size_t cols, double divByZeroEps) {
  for (size_t r = 0; r < rows; ++r) {
    const T n = refNorm(g + r * cols, cols);
    const T e = static_cast<T>(divByZeroEps);
    const T d = (n < e) ? e : n;
    // float: times the reciprocal rounded once, where d and 1 / d are normal
    // numbers; divided elsewhere, and always for double.
    const T minNormal = std::numeric_limits<T>::min();
    const bool byReciprocal = sizeof(T) == sizeof(float) && d >= minNormal && d <= T(1) / minNormal;
    const T m = T(1) / d;
    for (size_t j = 0; j < cols; ++j) g[r * cols + j] = byReciprocal ? g[r * cols + j] * m : g[r * cols + j] / d;
  }
}

template <typename T>
void refRenormRows(T* p, size_t rows, size_t cols, double maxNorm) {
  for (size_t r = 0; r < rows; ++r) {
    const T n = refNorm(p + r * cols, cols);
    const T m = static_cast<T>(maxNorm);
    if (n > m) {
      const T f = m / (n + static_cast<T>(1e-7));
      for (size_t j = 0; j < cols; ++j) p[r * cols + j] = p[r * cols + j] * f;
    }
  }
}

template <typename T>
void refScaleBias(T* g, size_t n, double scale, bool applyScale, double bias, bool applyBias) {
  for (size_t i = 0; i < n; ++i) {
    if (applyScale) g[i] = g[i] * static_cast<T>(scale);
    if (applyBias) g[i] = g[i] + static_cast<T>(bias);
  }
}

template <typename T>
void refSgdStep(T* p, const T* g, T* buf, size_t n, const lp::SgdOptions& o, bool bufferInitialized) {
  for (size_t i = 0; i < n; ++i) {
    T d = g[i];
    if (o.maximize) d = -d;
    if (o.weightDecay != 0) d = std::fma(static_cast<T>(o.weightDecay), p[i], d);  // fused, as torch
    if (o.momentum != 0) {
      if (!bufferInitialized) {
        buf[i] = d;
      } else {
        buf[i] = buf[i] * static_cast<T>(o.momentum) + static_cast<T>(1.0 - o.dampening) * d;
      }
      if (o.nesterov) {
        d = d + static_cast<T>(o.momentum) * buf[i];
      } else {
        d = buf[i];
      }
    }
    p[i] = p[i] + static_cast<T>(-o.lr) * d;
  }
}

// torch.maximum: a NaN in either operand is the result.
template <typename T>
T refMax(T a, T b) {
  return (a < b || b != b) ? b : a;
}

template <typename T>
void refAdamStep(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq, size_t n,
                 const lp::AdamOptions& o) {
  for (size_t i = 0; i < n; ++i) {
    T d = g[i];
    if (o.maximize) d = -d;
    if (o.decoupledWeightDecay) {
      if (o.weightDecay != 0) p[i] = p[i] * static_cast<T>(1.0 - o.lr * o.weightDecay);
    } else if (o.weightDecay != 0) {
      d = std::fma(static_cast<T>(o.weightDecay), p[i], d);  // fused, as torch
    }
    expAvg[i] = expAvg[i] * static_cast<T>(o.beta1) + static_cast<T>(1.0 - o.beta1) * d;
    expAvgSq[i] = expAvgSq[i] * static_cast<T>(o.beta2) + (static_cast<T>(1.0 - o.beta2) * d) * d;
    T vHat = expAvgSq[i];
    if (o.amsgrad) {
      maxExpAvgSq[i] = refMax(maxExpAvgSq[i], expAvgSq[i]);
      vHat = maxExpAvgSq[i];
    }
    const T denom = std::sqrt(vHat) / static_cast<T>(o.biasCorrection2Sqrt) + static_cast<T>(o.eps);
    p[i] = p[i] + (static_cast<T>(-o.stepSize) * expAvg[i]) / denom;
  }
}

template <typename T>
void refRmspropStep(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer, size_t n,
                    const lp::RmspropOptions& o) {
  for (size_t i = 0; i < n; ++i) {
    T d = g[i];
    if (o.maximize) d = -d;
    if (o.weightDecay != 0) d = std::fma(static_cast<T>(o.weightDecay), p[i], d);  // fused, as torch
    squareAvg[i] = squareAvg[i] * static_cast<T>(o.alpha) + (static_cast<T>(1.0 - o.alpha) * d) * d;
    T avg;
    if (o.centered) {
      gradAvg[i] = gradAvg[i] * static_cast<T>(o.alpha) + static_cast<T>(1.0 - o.alpha) * d;
      avg = std::sqrt(squareAvg[i] + (-gradAvg[i]) * gradAvg[i]);
    } else {
      avg = std::sqrt(squareAvg[i]);
    }
    avg = avg + static_cast<T>(o.eps);
    if (o.momentum > 0) {
      momentumBuffer[i] = momentumBuffer[i] * static_cast<T>(o.momentum) + d / avg;
      p[i] = p[i] + static_cast<T>(-o.lr) * momentumBuffer[i];
    } else {
      p[i] = p[i] + (static_cast<T>(-o.lr) * d) / avg;
    }
  }
}

template <typename T>
void refAdagradStep(T* p, const T* g, T* sum, size_t n, const lp::AdagradOptions& o) {
  for (size_t i = 0; i < n; ++i) {
    T d = g[i];
    if (o.maximize) d = -d;
    if (o.weightDecay != 0) d = std::fma(static_cast<T>(o.weightDecay), p[i], d);  // fused, as torch
    sum[i] = sum[i] + d * d;
    const T denom = std::sqrt(sum[i]) + static_cast<T>(o.eps);
    p[i] = p[i] + (static_cast<T>(-o.clr) * d) / denom;
  }
}

// ---------------------------------------------------------------------------
// Test data.

// splitmix64: small, deterministic, same on every platform.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

template <typename T>
struct Special {
  static T huge();
  static T tiny();
};
template <>
float Special<float>::huge() { return 3.0e38f; }
template <>
float Special<float>::tiny() { return 1.0e-45f; }  // the smallest subnormal
template <>
double Special<double>::huge() { return 1.0e300; }
template <>
double Special<double>::tiny() { return 4.9406564584124654e-324; }

enum class RowKind { kNormal, kZero, kNegZero, kNaN, kInf, kHuge, kTiny, kWideRange, kCount };

template <typename T>
void fillRow(Rng& rng, RowKind kind, T* row, size_t cols) {
  const T inf = std::numeric_limits<T>::infinity();
  for (size_t j = 0; j < cols; ++j) {
    T v = static_cast<T>(rng.uniform() * 4.0 - 2.0);
    switch (kind) {
      case RowKind::kZero: v = T(0); break;
      case RowKind::kNegZero: v = (j % 3 == 0) ? T(-0.0) : T(0); break;
      case RowKind::kHuge: v = static_cast<T>(Special<T>::huge() * (rng.uniform() - 0.5)); break;
      case RowKind::kTiny: v = static_cast<T>(Special<T>::tiny() * static_cast<T>(rng.below(9))) *
                               (rng.below(2) ? T(1) : T(-1)); break;
      case RowKind::kWideRange: {
        const int maxExp = std::numeric_limits<T>::max_exponent;
        const int minExp = std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits;
        const int e = minExp + static_cast<int>(rng.below(static_cast<size_t>(maxExp - minExp)));
        v = static_cast<T>(std::ldexp(rng.uniform() + 0.5, e));
        if (rng.below(2)) v = -v;
        break;
      }
      default: break;
    }
    row[j] = v;
  }
  if (cols == 0) return;
  if (kind == RowKind::kNaN) row[rng.below(cols)] = std::numeric_limits<T>::quiet_NaN();
  if (kind == RowKind::kInf) row[rng.below(cols)] = rng.below(2) ? inf : -inf;
}

// An array with guard elements on both sides (so that we see any write
// outside [data, data + n)), its data `offset` elements past a 64-byte
// boundary: by default one, so that the kernels see unaligned vectors.
template <typename T>
class Guarded {
 public:
  explicit Guarded(size_t n, size_t offset = 1) : n_(n), storage_(n + 2 * kGuard + kLineElements + offset) {
    for (T& v : storage_) v = guardValue();
    const size_t misalign = reinterpret_cast<uintptr_t>(storage_.data()) % 64 / sizeof(T);
    start_ = kGuard + (kLineElements - misalign) % kLineElements + offset;
  }
  T* data() { return storage_.data() + start_; }
  const T* data() const { return storage_.data() + start_; }
  size_t size() const { return n_; }
  bool guardsIntact() const {
    const T g = guardValue();
    for (size_t i = 0; i < start_; ++i) {
      if (std::memcmp(&storage_[i], &g, sizeof(T)) != 0) return false;
    }
    for (size_t i = start_ + n_; i < storage_.size(); ++i) {
      if (std::memcmp(&storage_[i], &g, sizeof(T)) != 0) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kGuard = 64;
  static constexpr size_t kLineElements = 64 / sizeof(T);
  static T guardValue() { return static_cast<T>(-12345.5); }
  size_t n_;
  std::vector<T> storage_;
  size_t start_;
};

// Bit for bit; NaNs only need to be NaN on both sides, because IEEE 754 leaves
// the sign and payload of a NaN result open and compilers may commute operands.
template <typename T>
bool sameValue(T a, T b) {
  if (a != a && b != b) return true;
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename T>
void expectSame(const T* got, const T* want, size_t n, const char* what) {
  for (size_t i = 0; i < n; ++i) {
    if (!sameValue(got[i], want[i])) {
      LP_CHECK(false, "%s[%zu]: got %.17g, want %.17g", what, i, static_cast<double>(got[i]),
               static_cast<double>(want[i]));
      return;
    }
  }
}

const char* typeName(float) { return "float"; }
const char* typeName(double) { return "double"; }

const size_t kColCounts[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 51, 100, 1000};
const size_t kRowCounts[] = {0, 1, 2, 5};

template <typename T>
void fillMatrix(Rng& rng, int pattern, T* x, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    RowKind kind = RowKind::kNormal;
    if (pattern == 1) kind = RowKind::kZero;  // every row zero: the eps clamp
    if (pattern == 2) kind = static_cast<RowKind>(rng.below(static_cast<size_t>(RowKind::kCount)));
    if (pattern == 3) kind = static_cast<RowKind>(r % static_cast<size_t>(RowKind::kCount));
    fillRow(rng, kind, x + r * cols, cols);
  }
}

constexpr int kPatterns = 4;

template <typename T>
void testRowKernels(const lp::KernelsFor<T>& k, Rng& rng) {
  const double epsValues[] = {0.0, 1.1754943508222875e-38, 1e-12, 0.5, 1e300,
                              std::numeric_limits<double>::quiet_NaN()};
  const double maxNorms[] = {0.0, 0.5, 1.0, 3.0, 1e30, 1e300, -1.0,
                             std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()};
  for (size_t cols : kColCounts) {
    for (size_t rows : kRowCounts) {
      for (int pattern = 0; pattern < kPatterns; ++pattern) {
        const size_t n = rows * cols;
        std::vector<T> input(n);
        fillMatrix(rng, pattern, input.data(), rows, cols);
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "%s rows=%zu cols=%zu pattern=%d", typeName(T()), rows, cols,
                      pattern);

        {  // rowNormsL2
          gContext = std::string("rowNormsL2 ") + ctx;
          Guarded<T> x(n), out(rows);
          std::memcpy(x.data(), input.data(), n * sizeof(T));
          std::vector<T> want(rows);
          refRowNorms(input.data(), rows, cols, want.data());
          k.rowNormsL2(x.data(), rows, cols, out.data());
          expectSame(out.data(), want.data(), rows, "out");
          expectSame(x.data(), input.data(), n, "x (must not change)");
          LP_CHECK(x.guardsIntact() && out.guardsIntact(), "wrote outside the arrays");
        }
        for (double eps : epsValues) {  // normalizeRowsL2
          gContext = std::string("normalizeRowsL2 eps=") + std::to_string(eps) + " " + ctx;
          Guarded<T> g(n);
          std::memcpy(g.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refNormalizeRows(want.data(), rows, cols, eps);
          k.normalizeRowsL2(g.data(), rows, cols, eps);
          expectSame(g.data(), want.data(), n, "g");
          LP_CHECK(g.guardsIntact(), "wrote outside the array");
        }
        for (double maxNorm : maxNorms) {  // renormRowsL2
          gContext = std::string("renormRowsL2 maxNorm=") + std::to_string(maxNorm) + " " + ctx;
          Guarded<T> p(n);
          std::memcpy(p.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refRenormRows(want.data(), rows, cols, maxNorm);
          k.renormRowsL2(p.data(), rows, cols, maxNorm);
          expectSame(p.data(), want.data(), n, "p");
          LP_CHECK(p.guardsIntact(), "wrote outside the array");
        }
      }
    }
  }
}

template <typename T>
void testScaleBias(const lp::KernelsFor<T>& k, Rng& rng) {
  struct Case {
    double scale;
    bool applyScale;
    double bias;
    bool applyBias;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Case cases[] = {
      {2.5, true, 0.25, true},   {2.5, true, 0.25, false}, {2.5, false, -1e-3, true},
      {0.1, false, 0.1, false},  {-0.0, true, -0.0, true}, {1e300, true, 1e-300, true},
      {nan, true, 1.0, true},    {0.1, true, nan, true},   {1.0, true, 0.0, true},
  };
  for (size_t cols : kColCounts) {
    for (size_t rows : {size_t{1}, size_t{3}}) {
      for (int pattern = 0; pattern < kPatterns; ++pattern) {
        const size_t n = rows * cols;
        std::vector<T> input(n);
        fillMatrix(rng, pattern, input.data(), rows, cols);
        for (const Case& c : cases) {
          char ctx[192];
          std::snprintf(ctx, sizeof ctx, "scaleBias %s n=%zu pattern=%d scale=%g/%d bias=%g/%d",
                        typeName(T()), n, pattern, c.scale, c.applyScale, c.bias, c.applyBias);
          gContext = ctx;
          Guarded<T> g(n);
          std::memcpy(g.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refScaleBias(want.data(), n, c.scale, c.applyScale, c.bias, c.applyBias);
          k.scaleBias(g.data(), n, c.scale, c.applyScale, c.bias, c.applyBias);
          expectSame(g.data(), want.data(), n, "g");
          LP_CHECK(g.guardsIntact(), "wrote outside the array");
        }
      }
    }
  }
}

template <typename T>
void testSgd(const lp::KernelsFor<T>& k, Rng& rng) {
  const double lrs[] = {0.1, 1e-3, 0.0};
  const double momenta[] = {0.0, 0.9, 1e-50};  // 1e-50: a float 0 that is not a double 0
  const double dampenings[] = {0.0, 0.1};
  const double decays[] = {0.0, 1e-2};
  size_t sizes[sizeof kColCounts / sizeof kColCounts[0] + 1];
  size_t sizeCount = 0;
  for (size_t c : kColCounts) sizes[sizeCount++] = c;
  sizes[sizeCount++] = 4099;
  for (size_t si = 0; si < sizeCount; ++si) {
    const size_t n = sizes[si];
    for (int pattern = 0; pattern < kPatterns; ++pattern) {
      std::vector<T> p0(n), g0(n), buf0(n);
      fillMatrix(rng, pattern, p0.data(), 1, n);
      fillMatrix(rng, pattern == 1 ? 0 : pattern, g0.data(), 1, n);
      fillMatrix(rng, pattern, buf0.data(), 1, n);
      for (double lr : lrs) {
        for (double momentum : momenta) {
          for (double dampening : dampenings) {
            for (double decay : decays) {
              for (int flags = 0; flags < 8; ++flags) {
                const lp::SgdOptions o{lr, momentum, dampening, decay, (flags & 1) != 0,
                                       (flags & 2) != 0};
                const bool initialized = (flags & 4) != 0;
                char ctx[192];
                std::snprintf(ctx, sizeof ctx,
                              "sgdStep %s n=%zu pattern=%d lr=%g momentum=%g dampening=%g wd=%g "
                              "nesterov=%d maximize=%d initialized=%d",
                              typeName(T()), n, pattern, lr, momentum, dampening, decay, o.nesterov,
                              o.maximize, initialized);
                gContext = ctx;
                Guarded<T> p(n), g(n), buf(n);
                std::memcpy(p.data(), p0.data(), n * sizeof(T));
                std::memcpy(g.data(), g0.data(), n * sizeof(T));
                std::memcpy(buf.data(), buf0.data(), n * sizeof(T));
                std::vector<T> wantP(p0), wantBuf(buf0);
                refSgdStep(wantP.data(), g0.data(), wantBuf.data(), n, o, initialized);
                // Without momentum the buffer is documented as optional: pass null.
                T* bufArg = momentum != 0.0 ? buf.data() : nullptr;
                k.sgdStep(p.data(), g.data(), bufArg, n, o, initialized);
                expectSame(p.data(), wantP.data(), n, "p");
                expectSame(buf.data(), wantBuf.data(), n, "buf");
                expectSame(g.data(), g0.data(), n, "g (must not change)");
                LP_CHECK(p.guardsIntact() && g.guardsIntact() && buf.guardsIntact(),
                         "wrote outside the arrays");
              }
            }
          }
        }
      }
    }
  }
}

// ---- the adaptive optimizers: several consecutive steps, kernel and
// reference side by side, every buffer compared after every step ----

const size_t kStepLengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000};
constexpr int kSteps = 3;

// Gradient patterns: 0 ordinary values, 1 zeros and negative zeros, 2 ordinary
// values with about a third special (+-0, NaN, +-Inf, +-tiny, +-huge),
// 3 magnitudes from subnormal to near overflow.
constexpr int kGradientPatterns = 4;

template <typename T>
T specialValue(Rng& rng) {
  const T inf = std::numeric_limits<T>::infinity();
  switch (rng.below(9)) {
    case 0: return T(0);
    case 1: return T(-0.0);
    case 2: return std::numeric_limits<T>::quiet_NaN();
    case 3: return inf;
    case 4: return -inf;
    case 5: return Special<T>::tiny();
    case 6: return -Special<T>::tiny();
    case 7: return Special<T>::huge();
    default: return -Special<T>::huge();
  }
}

template <typename T>
void fillGradient(Rng& rng, int pattern, T* x, size_t n) {
  if (pattern == 3) {
    fillRow(rng, RowKind::kWideRange, x, n);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    T v = static_cast<T>(rng.uniform() * 4.0 - 2.0);
    if (pattern == 1) v = rng.below(2) ? T(0) : T(-0.0);
    if (pattern == 2 && rng.below(3) == 0) v = specialValue<T>(rng);
    x[i] = v;
  }
}

// Optimizer state at the start: all zeros (as torch creates it), or values
// from an earlier run: signed, or (for averages of squares) non-negative with
// some +-0, and with withSpecials also the odd NaN and Inf.
enum class StateKind { kZero, kSigned, kNonNegative, kNonNegativeWithSpecials };

template <typename T>
std::vector<T> makeState(Rng& rng, bool fresh, StateKind kind, size_t n) {
  std::vector<T> x(n, T(0));
  if (fresh) return x;
  for (size_t i = 0; i < n; ++i) {
    const T v = static_cast<T>(rng.uniform() * 4.0 - 2.0);
    switch (kind) {
      case StateKind::kZero: break;
      case StateKind::kSigned: x[i] = v; break;
      case StateKind::kNonNegative:
      case StateKind::kNonNegativeWithSpecials: {
        x[i] = v < T(0) ? -v : v;
        const size_t r = rng.below(16);
        if (r == 0) x[i] = T(0);
        if (r == 1) x[i] = T(-0.0);
        if (kind == StateKind::kNonNegativeWithSpecials && r == 2) {
          x[i] = std::numeric_limits<T>::quiet_NaN();
        }
        if (kind == StateKind::kNonNegativeWithSpecials && r == 3) {
          x[i] = std::numeric_limits<T>::infinity();
        }
        break;
      }
    }
  }
  return x;
}

// One array as the kernel sees it (guarded) and as the reference sees it.
template <typename T>
class Tracked {
 public:
  Tracked(const char* name, const std::vector<T>& init, size_t offset = 1)
      : name_(name), got_(init.size(), offset), want_(init) {
    if (!init.empty()) std::memcpy(got_.data(), init.data(), init.size() * sizeof(T));
  }
  T* got() { return got_.data(); }
  T* want() { return want_.data(); }
  void check(int step) const {
    char what[64];
    std::snprintf(what, sizeof what, "%s after step %d", name_, step);
    expectSame(got_.data(), want_.data(), want_.size(), what);
    LP_CHECK(got_.guardsIntact(), "wrote outside %s at step %d", name_, step);
  }

 private:
  const char* name_;
  Guarded<T> got_;
  std::vector<T> want_;
};

// The gradient of one step: the kernel must leave it as it was.
template <typename T>
void checkGradient(const Guarded<T>& g, const std::vector<T>& g0, int step) {
  char what[64];
  std::snprintf(what, sizeof what, "g (must not change) at step %d", step);
  expectSame(g.data(), g0.data(), g0.size(), what);
  LP_CHECK(g.guardsIntact(), "wrote outside g at step %d", step);
}

template <typename T>
std::vector<T> makeParams(Rng& rng, int gradientPattern, size_t n) {
  std::vector<T> p(n);
  // Special parameters too when the gradients are special (weight decay reads p).
  fillGradient(rng, gradientPattern == 2 ? 2 : 0, p.data(), n);
  return p;
}

template <typename T>
void testAdam(const lp::KernelsFor<T>& k, Rng& rng) {
  struct Hyper {
    double lr, beta1, beta2, eps;
  };
  const Hyper hypers[] = {{1e-3, 0.9, 0.999, 1e-8},
                          {0.1, 0.5, 0.25, 1e-3},
                          {0.3, 0.8, 0.9, 1e-6},
                          {0.0, 0.0, 0.0, 0.0}};
  // 1e-50: a float 0 that is not a double 0; with lr 0.3, wd 0.3 tells
  // float(1 - lr * wd) apart from the same in float arithmetic.
  const double decays[] = {0.0, 1e-2, 0.3, 1e-50};
  int run = 0;
  for (size_t n : kStepLengths) {
    for (int pattern = 0; pattern < kGradientPatterns; ++pattern) {
      for (int fresh = 0; fresh < 2; ++fresh) {
        for (const Hyper& h : hypers) {
          for (double decay : decays) {
            for (int flags = 0; flags < 8; ++flags, ++run) {
              const bool decoupled = (flags & 1) != 0, amsgrad = (flags & 2) != 0,
                         maximize = (flags & 4) != 0;
              char ctx[224];
              std::snprintf(ctx, sizeof ctx,
                            "adamStep %s n=%zu pattern=%d fresh=%d lr=%g betas=%g,%g eps=%g wd=%g "
                            "decoupled=%d amsgrad=%d maximize=%d",
                            typeName(T()), n, pattern, fresh, h.lr, h.beta1, h.beta2, h.eps, decay,
                            decoupled, amsgrad, maximize);
              gContext = ctx;
              Tracked<T> p("p", makeParams<T>(rng, pattern, n));
              Tracked<T> expAvg("expAvg", makeState<T>(rng, fresh, StateKind::kSigned, n));
              Tracked<T> expAvgSq("expAvgSq", makeState<T>(rng, fresh, StateKind::kNonNegative, n));
              Tracked<T> maxExpAvgSq(
                  "maxExpAvgSq", makeState<T>(rng, fresh, StateKind::kNonNegativeWithSpecials, n));
              for (int step = 1; step <= kSteps; ++step) {
                std::vector<T> g0(n);
                fillGradient(rng, pattern, g0.data(), n);
                Guarded<T> g(n);
                if (n != 0) std::memcpy(g.data(), g0.data(), n * sizeof(T));
                lp::AdamOptions o{h.lr, h.beta1, h.beta2, h.eps, decay, decoupled, amsgrad,
                                  maximize, 0.0, 0.0};
                o.stepSize = h.lr / (1.0 - std::pow(h.beta1, step));
                o.biasCorrection2Sqrt = std::sqrt(1.0 - std::pow(h.beta2, step));
                refAdamStep(p.want(), g0.data(), expAvg.want(), expAvgSq.want(),
                            maxExpAvgSq.want(), n, o);
                // Without amsgrad the buffer is documented as optional: pass
                // null, or (every other run) the array, which must not change.
                T* maxArg = (amsgrad || run % 2 == 1) ? maxExpAvgSq.got() : nullptr;
                k.adamStep(p.got(), g.data(), expAvg.got(), expAvgSq.got(), maxArg, n, o);
                p.check(step);
                expAvg.check(step);
                expAvgSq.check(step);
                maxExpAvgSq.check(step);
                checkGradient(g, g0, step);
              }
            }
          }
        }
      }
    }
  }
}

template <typename T>
void testRmsprop(const lp::KernelsFor<T>& k, Rng& rng) {
  struct Hyper {
    double lr, alpha, eps;
  };
  const Hyper hypers[] = {{1e-2, 0.99, 1e-8}, {0.1, 0.5, 1e-3}, {0.0, 0.0, 0.0}};
  const double decays[] = {0.0, 1e-2, 1e-50};
  const double momenta[] = {0.0, 0.9, 1e-50, -0.5};  // -0.5: not > 0, so no momentum
  int run = 0;
  for (size_t n : kStepLengths) {
    for (int pattern = 0; pattern < kGradientPatterns; ++pattern) {
      for (int fresh = 0; fresh < 2; ++fresh) {
        for (const Hyper& h : hypers) {
          for (double decay : decays) {
            for (double momentum : momenta) {
              for (int flags = 0; flags < 4; ++flags, ++run) {
                const bool centered = (flags & 1) != 0, maximize = (flags & 2) != 0;
                char ctx[224];
                std::snprintf(ctx, sizeof ctx,
                              "rmspropStep %s n=%zu pattern=%d fresh=%d lr=%g alpha=%g eps=%g "
                              "wd=%g momentum=%g centered=%d maximize=%d",
                              typeName(T()), n, pattern, fresh, h.lr, h.alpha, h.eps, decay,
                              momentum, centered, maximize);
                gContext = ctx;
                Tracked<T> p("p", makeParams<T>(rng, pattern, n));
                Tracked<T> squareAvg("squareAvg",
                                     makeState<T>(rng, fresh, StateKind::kNonNegative, n));
                Tracked<T> gradAvg("gradAvg", makeState<T>(rng, fresh, StateKind::kSigned, n));
                Tracked<T> buf("momentumBuffer", makeState<T>(rng, fresh, StateKind::kSigned, n));
                const lp::RmspropOptions o{h.lr, h.alpha, h.eps, decay, momentum, centered,
                                           maximize};
                const bool usesBuf = momentum > 0.0;
                for (int step = 1; step <= kSteps; ++step) {
                  std::vector<T> g0(n);
                  fillGradient(rng, pattern, g0.data(), n);
                  Guarded<T> g(n);
                  if (n != 0) std::memcpy(g.data(), g0.data(), n * sizeof(T));
                  refRmspropStep(p.want(), g0.data(), squareAvg.want(), gradAvg.want(), buf.want(),
                                 n, o);
                  // Unneeded buffers: null, or every other run the array (unchanged).
                  const bool passAll = run % 2 == 1;
                  k.rmspropStep(p.got(), g.data(), squareAvg.got(),
                                (centered || passAll) ? gradAvg.got() : nullptr,
                                (usesBuf || passAll) ? buf.got() : nullptr, n, o);
                  p.check(step);
                  squareAvg.check(step);
                  gradAvg.check(step);
                  buf.check(step);
                  checkGradient(g, g0, step);
                }
              }
            }
          }
        }
      }
    }
  }
}

template <typename T>
void testAdagrad(const lp::KernelsFor<T>& k, Rng& rng) {
  struct Hyper {
    double lr, lrDecay, eps;
  };
  const Hyper hypers[] = {{1e-2, 0.0, 1e-10}, {0.1, 0.5, 1e-3}, {0.0, 0.0, 0.0}};
  const double decays[] = {0.0, 1e-2, 1e-50};
  for (size_t n : kStepLengths) {
    for (int pattern = 0; pattern < kGradientPatterns; ++pattern) {
      for (int fresh = 0; fresh < 2; ++fresh) {
        for (const Hyper& h : hypers) {
          for (double decay : decays) {
            for (int maximize = 0; maximize < 2; ++maximize) {
              char ctx[224];
              std::snprintf(ctx, sizeof ctx,
                            "adagradStep %s n=%zu pattern=%d fresh=%d lr=%g lrDecay=%g eps=%g "
                            "wd=%g maximize=%d",
                            typeName(T()), n, pattern, fresh, h.lr, h.lrDecay, h.eps, decay,
                            maximize);
              gContext = ctx;
              Tracked<T> p("p", makeParams<T>(rng, pattern, n));
              Tracked<T> sum("sum", makeState<T>(rng, fresh, StateKind::kNonNegative, n));
              for (int step = 1; step <= kSteps; ++step) {
                std::vector<T> g0(n);
                fillGradient(rng, pattern, g0.data(), n);
                Guarded<T> g(n);
                if (n != 0) std::memcpy(g.data(), g0.data(), n * sizeof(T));
                const lp::AdagradOptions o{h.lr / (1.0 + (step - 1) * h.lrDecay), decay, h.eps,
                                           maximize != 0};
                refAdagradStep(p.want(), g0.data(), sum.want(), n, o);
                k.adagradStep(p.got(), g.data(), sum.got(), n, o);
                p.check(step);
                sum.check(step);
                checkGradient(g, g0, step);
              }
            }
          }
        }
      }
    }
  }
}

// The NaN-propagating max of amsgrad on the values where max helpers differ:
// a NaN on either side, and +0 / -0 in both orders (exact bits checked).
template <typename T>
void testAmsgradMax(const lp::KernelsFor<T>& k) {
  gContext = std::string("adamStep amsgrad max ") + typeName(T());
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  // With g = 0 and beta2 = 1 (so 1 - beta2 = 0), v is expAvgSq unchanged
  // (except that -0 becomes -0 * 1 + 0 = +0) and maxExpAvgSq becomes
  // max(maxExpAvgSq, v).
  struct Case {
    T old, v, want;
  };
  const Case cases[] = {
      {T(1), T(2), T(2)},          {T(2), T(1), T(2)},         {nan, T(1), nan},
      {T(1), nan, nan},            {T(0), T(-0.0), T(0)},      {T(-0.0), T(0), T(-0.0)},
      {T(-0.0), T(-0.0), T(-0.0)}, {inf, T(1), inf},           {T(3), inf, inf},
      {T(-1), T(-0.0), T(0)},
  };
  constexpr size_t kCases = sizeof cases / sizeof cases[0];
  const size_t n = 4 * kCases + 3;  // every case in vector bodies and in tails
  std::vector<T> old0(n), v0(n), want(n), zero(n, T(0));
  for (size_t i = 0; i < n; ++i) {
    old0[i] = cases[(i + i / kCases) % kCases].old;  // a shifted order in each round
    v0[i] = cases[(i + i / kCases) % kCases].v;
    want[i] = cases[(i + i / kCases) % kCases].want;
  }
  const lp::AdamOptions o{0.0, 0.0, 1.0, 1.0, 0.0, false, true, false, 0.0, 1.0};
  Tracked<T> p("p", zero), expAvg("expAvg", zero), expAvgSq("expAvgSq", v0),
      maxExpAvgSq("maxExpAvgSq", old0);
  refAdamStep(p.want(), zero.data(), expAvg.want(), expAvgSq.want(), maxExpAvgSq.want(), n, o);
  expectSame(maxExpAvgSq.want(), want.data(), n, "reference maxExpAvgSq");
  k.adamStep(p.got(), zero.data(), expAvg.got(), expAvgSq.got(), maxExpAvgSq.got(), n, o);
  expectSame(maxExpAvgSq.got(), want.data(), n, "maxExpAvgSq");
  expAvgSq.check(1);
  p.check(1);
}

// ---- the fused group step: fusedStepRows against the unfused sequence
// normalizeRowsL2; scaleBias; <inner>Step; renormRowsL2 per row, on the same
// table, over several steps with the state carried ----

// One inner optimizer's options, as the test names them; spec() lays them
// out as the fused step's spec does, and the unfused options are built from
// the same names (so a spec read into the wrong field shows up).
struct InnerCase {
  lp::FusedInner inner;
  double lr, momentum, dampening, weightDecay;  // SGD (momentum also RMSprop)
  double beta1, beta2, eps;                     // Adam (eps also RMSprop, Adagrad)
  double alpha;                                 // RMSprop
  double lrDecay;                               // Adagrad (lr also FrankWolfe's)
  bool nesterov, decoupled, amsgrad, centered, maximize;
  double lmoScale = 1;                          // FrankWolfe
  bool defaultLrSchedule = true;                // FrankWolfe

  std::vector<double> innerOptions() const {
    switch (inner) {
      case lp::FusedInner::kSgd:
        return {lr, momentum, dampening, weightDecay, nesterov ? 1.0 : 0.0, maximize ? 1.0 : 0.0};
      case lp::FusedInner::kAdam:
        return {lr, beta1, beta2, eps, weightDecay, decoupled ? 1.0 : 0.0, amsgrad ? 1.0 : 0.0,
                maximize ? 1.0 : 0.0};
      case lp::FusedInner::kRmsprop:
        return {lr, alpha, eps, weightDecay, momentum, centered ? 1.0 : 0.0, maximize ? 1.0 : 0.0};
      case lp::FusedInner::kAdagrad:
        return {weightDecay, eps, maximize ? 1.0 : 0.0};
      case lp::FusedInner::kFrankWolfe:
        return {lmoScale};
    }
    return {};
  }
  bool needs(int b) const {
    switch (inner) {
      case lp::FusedInner::kSgd: return b == 0 && momentum != 0.0;
      case lp::FusedInner::kAdam: return b < 2 || amsgrad;
      case lp::FusedInner::kRmsprop: return b == 0 || (b == 1 && centered) || (b == 2 && momentum > 0.0);
      case lp::FusedInner::kAdagrad: return b == 0;
      case lp::FusedInner::kFrankWolfe: return false;
    }
    return false;
  }
  // The tensor record's s0 and s1 at this step (1-based).
  void stepScalars(int step, double* s0, double* s1) const {
    *s0 = 0;
    *s1 = 0;
    if (inner == lp::FusedInner::kSgd) *s0 = step > 1 ? 1.0 : 0.0;
    if (inner == lp::FusedInner::kAdam) {
      *s0 = lr / (1.0 - std::pow(beta1, step));
      *s1 = std::sqrt(1.0 - std::pow(beta2, step));
    }
    if (inner == lp::FusedInner::kAdagrad) *s0 = lr / (1.0 + (step - 1) * lrDecay);
    // alpha = lr / (lr + t), t = 0, 1, ... (rai_toolbox's default schedule), or lr.
    if (inner == lp::FusedInner::kFrankWolfe) *s0 = defaultLrSchedule ? lr / (lr + (step - 1)) : lr;
  }
  std::string describe() const {
    char text[384];
    std::snprintf(text, sizeof text,
                  "inner=%d lr=%g momentum=%g dampening=%g wd=%g betas=%g,%g eps=%g alpha=%g "
                  "lrDecay=%g nesterov=%d decoupled=%d amsgrad=%d centered=%d maximize=%d "
                  "lmoScale=%g defaultLrSchedule=%d",
                  static_cast<int>(inner), lr, momentum, dampening, weightDecay, beta1, beta2, eps,
                  alpha, lrDecay, nesterov, decoupled, amsgrad, centered, maximize, lmoScale,
                  defaultLrSchedule);
    return text;
  }
};

// Every option branch of every inner optimizer.
std::vector<InnerCase> innerCases() {
  std::vector<InnerCase> cases;
  const InnerCase base{lp::FusedInner::kSgd, 0.1, 0, 0, 0, 0.9, 0.999, 1e-8, 0.99, 0,
                       false, false, false, false, false};
  for (double momentum : {0.0, 0.9, 1e-50}) {
    for (double dampening : {0.0, 0.1}) {
      for (double decay : {0.0, 1e-2}) {
        for (int flags = 0; flags < 4; ++flags) {
          InnerCase c = base;
          c.momentum = momentum;
          c.dampening = dampening;
          c.weightDecay = decay;
          c.nesterov = (flags & 1) != 0;
          c.maximize = (flags & 2) != 0;
          cases.push_back(c);
        }
      }
    }
  }
  int run = 0;
  for (double decay : {0.0, 1e-2, 0.3, 1e-50}) {
    for (int flags = 0; flags < 8; ++flags, ++run) {
      InnerCase c = base;
      c.inner = lp::FusedInner::kAdam;
      if (run % 2 == 0) {
        c.lr = 1e-3, c.beta1 = 0.9, c.beta2 = 0.999, c.eps = 1e-8;
      } else {
        c.lr = 0.3, c.beta1 = 0.8, c.beta2 = 0.9, c.eps = 1e-6;
      }
      c.weightDecay = decay;
      c.decoupled = (flags & 1) != 0;
      c.amsgrad = (flags & 2) != 0;
      c.maximize = (flags & 4) != 0;
      cases.push_back(c);
    }
  }
  for (double decay : {0.0, 1e-2}) {
    for (double momentum : {0.0, 0.9, -0.5}) {
      for (int flags = 0; flags < 4; ++flags, ++run) {
        InnerCase c = base;
        c.inner = lp::FusedInner::kRmsprop;
        if (run % 2 == 0) {
          c.lr = 1e-2, c.alpha = 0.99, c.eps = 1e-8;
        } else {
          c.lr = 0.1, c.alpha = 0.5, c.eps = 1e-3;
        }
        c.weightDecay = decay;
        c.momentum = momentum;
        c.centered = (flags & 1) != 0;
        c.maximize = (flags & 2) != 0;
        cases.push_back(c);
      }
    }
  }
  for (double decay : {0.0, 1e-2, 1e-50}) {
    for (int maximize = 0; maximize < 2; ++maximize) {
      InnerCase c = base;
      c.inner = lp::FusedInner::kAdagrad;
      c.lr = 0.1, c.lrDecay = 0.5, c.eps = 1e-10;
      c.weightDecay = decay;
      c.maximize = maximize != 0;
      cases.push_back(c);
    }
  }
  for (double lmoScale : {1.0, 2.5, -0.3}) {
    for (int schedule = 0; schedule < 2; ++schedule) {
      InnerCase c = base;
      c.inner = lp::FusedInner::kFrankWolfe;
      c.lr = schedule != 0 ? 2.0 : 0.3;
      c.lmoScale = lmoScale;
      c.defaultLrSchedule = schedule != 0;
      cases.push_back(c);
    }
  }
  return cases;
}

// The group-level options of a fused step.
struct GroupCase {
  bool normalize, project;
  double divByZeroEps;
  double scale;
  bool applyScale;
  double bias;
  bool applyBias;
  double maxNorm;
  bool sign = false, clamp = false;  // transform 2 (instead of normalize), project 2 (instead of project)
};

std::vector<double> makeSpec(const GroupCase& g, const InnerCase& c) {
  std::vector<double> spec = {g.normalize ? 1.0 : g.sign ? 2.0 : 0.0,
                              g.project ? 1.0 : g.clamp ? 2.0 : 0.0,
                              static_cast<double>(static_cast<int>(c.inner)),
                              g.divByZeroEps,
                              g.scale,
                              g.applyScale ? 1.0 : 0.0,
                              g.bias,
                              g.applyBias ? 1.0 : 0.0,
                              g.maxNorm};
  const std::vector<double> options = c.innerOptions();
  spec.insert(spec.end(), options.begin(), options.end());
  return spec;
}

lp::FusedGroup parsedGroup(const GroupCase& g, const InnerCase& c) {
  const std::vector<double> spec = makeSpec(g, c);
  lp::FusedGroup group{};
  lp::SpecProblem problem{};
  const bool ok = lp::parseGroupSpec(spec.data(), spec.size(), &group, &problem);
  LP_CHECK(ok, "parseGroupSpec refused a valid spec (entry %zu)", problem.index);
  return group;
}

// The unfused sequence on one tensor, with the table's own kernels.
template <typename T>
void unfusedStep(const lp::KernelsFor<T>& k, const GroupCase& g, const InnerCase& c, T* p, T* grad,
                 T* const* bufs, const double* maxNorms, size_t rows, size_t cols, double s0,
                 double s1) {
  const size_t n = rows * cols;
  if (g.normalize) k.normalizeRowsL2(grad, rows, cols, g.divByZeroEps);
  if (g.sign) k.signInPlace(grad, n);
  k.scaleBias(grad, n, g.scale, g.applyScale, g.bias, g.applyBias);
  T* b[3];
  for (int i = 0; i < 3; ++i) b[i] = c.needs(i) ? bufs[i] : nullptr;
  switch (c.inner) {
    case lp::FusedInner::kSgd: {
      const lp::SgdOptions o{c.lr, c.momentum, c.dampening, c.weightDecay, c.nesterov, c.maximize};
      k.sgdStep(p, grad, b[0], n, o, s0 != 0.0);
      break;
    }
    case lp::FusedInner::kAdam: {
      const lp::AdamOptions o{c.lr, c.beta1, c.beta2, c.eps, c.weightDecay, c.decoupled,
                              c.amsgrad, c.maximize, s0, s1};
      k.adamStep(p, grad, b[0], b[1], b[2], n, o);
      break;
    }
    case lp::FusedInner::kRmsprop: {
      const lp::RmspropOptions o{c.lr, c.alpha, c.eps, c.weightDecay, c.momentum, c.centered,
                                 c.maximize};
      k.rmspropStep(p, grad, b[0], b[1], b[2], n, o);
      break;
    }
    case lp::FusedInner::kAdagrad: {
      const lp::AdagradOptions o{s0, c.weightDecay, c.eps, c.maximize};
      k.adagradStep(p, grad, b[0], n, o);
      break;
    }
    case lp::FusedInner::kFrankWolfe:
      k.frankWolfeStep(p, grad, n, s0, c.lmoScale);
      break;
  }
  if (g.project) {
    for (size_t r = 0; r < rows; ++r) {
      k.renormRowsL2(p + r * cols, 1, cols, maxNorms != nullptr ? maxNorms[r] : g.maxNorm);
    }
  }
  if (g.clamp) {
    for (size_t r = 0; r < rows; ++r) {
      const double limit = maxNorms != nullptr ? maxNorms[r] : g.maxNorm;
      k.clampInPlace(p + r * cols, cols, -limit, true, limit, true);
    }
  }
}

// One tensor's arrays, for the fused kernel (got) and the unfused one (want).
template <typename T>
struct FusedFixture {
  size_t rows, cols;
  Tracked<T> p, g;
  Tracked<T> buf0, buf1, buf2;
  std::vector<double> maxNorms;  // empty: the scalar maxNorm

  // (pOffset, gOffset: where p and g start, in elements past a 64-byte boundary.)
  FusedFixture(Rng& rng, int pattern, size_t rows_, size_t cols_, bool perRow, size_t pOffset = 1,
               size_t gOffset = 1)
      : rows(rows_),
        cols(cols_),
        p("p", matrix(rng, pattern, rows_, cols_), pOffset),
        g("g", std::vector<T>(rows_ * cols_), gOffset),
        buf0("buf0", makeState<T>(rng, false, StateKind::kSigned, rows_ * cols_), pOffset),
        buf1("buf1", makeState<T>(rng, false, StateKind::kNonNegative, rows_ * cols_), pOffset),
        buf2("buf2", makeState<T>(rng, false, StateKind::kNonNegativeWithSpecials, rows_ * cols_), pOffset) {
    if (perRow) {
      const double radii[] = {0.0, 0.5, 1.0, 2.0, 3.0, 1e30, 1e-30, 40.0};
      for (size_t r = 0; r < rows; ++r) maxNorms.push_back(radii[rng.below(8)]);
    }
  }
  static std::vector<T> matrix(Rng& rng, int pattern, size_t rows, size_t cols) {
    std::vector<T> x(rows * cols);
    fillMatrix(rng, pattern, x.data(), rows, cols);
    return x;
  }
  // A new gradient, the same on both sides.
  void newGradient(Rng& rng, int pattern) {
    std::vector<T> x = matrix(rng, pattern, rows, cols);
    if (!x.empty()) {
      std::memcpy(g.got(), x.data(), x.size() * sizeof(T));
      std::memcpy(g.want(), x.data(), x.size() * sizeof(T));
    }
  }
  lp::FusedTensor<T> tensor(const InnerCase& c, double s0, double s1) {
    return lp::FusedTensor<T>{p.got(),
                              g.got(),
                              c.needs(0) ? buf0.got() : nullptr,
                              c.needs(1) ? buf1.got() : nullptr,
                              c.needs(2) ? buf2.got() : nullptr,
                              maxNorms.empty() ? nullptr : maxNorms.data(),
                              rows,
                              cols,
                              s0,
                              s1};
  }
  // The start of step `step`: a new gradient, the unfused step on the want
  // side, and the got side as the fused kernel takes it.
  lp::FusedTensor<T> nextStep(const lp::KernelsFor<T>& k, Rng& rng, int pattern, const GroupCase& gc,
                              const InnerCase& c, int step) {
    newGradient(rng, pattern);
    double s0 = 0, s1 = 0;
    c.stepScalars(step, &s0, &s1);
    unfused(k, gc, c, s0, s1);
    return tensor(c, s0, s1);
  }
  void unfused(const lp::KernelsFor<T>& k, const GroupCase& gc, const InnerCase& c, double s0,
               double s1) {
    T* bufs[3] = {buf0.want(), buf1.want(), buf2.want()};
    unfusedStep(k, gc, c, p.want(), g.want(), bufs, maxNorms.empty() ? nullptr : maxNorms.data(),
                rows, cols, s0, s1);
  }
  void check(int step) const {
    p.check(step);
    g.check(step);
    buf0.check(step);
    buf1.check(step);
    buf2.check(step);
  }
};

// 511, 512 and 1537: either side of the short-row / chunked-row boundary (kFusedChunk)
// and several chunks with a tail.
const size_t kFusedCols[] = {0, 1, 7, 8, 9, 15, 16, 17, 33, 100, 511, 512, 1000, 1537};

template <typename T>
void testFused(const lp::KernelsFor<T>& k, Rng& rng) {
  const std::vector<InnerCase> cases = innerCases();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const double scalarMaxNorms[] = {0.8, 1.0, 3.0, 0.0, 1e30, -1.0, nan, inf};
  const double epsValues[] = {1.1754943508222875e-38, 1e-12, 0.5, 0.0};
  int run = 0;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const InnerCase& c = cases[ci];
    // Bits 4 and 5 switch the transform to sign and the projection to the
    // L-inf clamp (LinfProjectedOptim); the inner op is independent of them,
    // so they run with every fourth inner case (the suite's time).
    for (int flags = 0; flags < (ci % 4 == 0 ? 64 : 16); ++flags) {
      GroupCase gc{};
      gc.sign = (flags & 16) != 0;
      gc.clamp = (flags & 32) != 0;
      gc.normalize = (flags & 1) != 0 && !gc.sign;
      gc.project = (flags & 2) != 0 && !gc.clamp;
      // (sign with the normalize bit, clamp with the project bit: the same cases again)
      if ((gc.sign && (flags & 1) != 0) || (gc.clamp && (flags & 2) != 0)) continue;
      // parseGroupSpec refuses an L2 normalisation followed by the L-inf clamp.
      if (gc.normalize && gc.clamp) continue;
      gc.applyScale = (flags & 4) != 0;
      gc.applyBias = (flags & 8) != 0;
      gc.scale = 2.5;
      gc.bias = -1e-3;
      const lp::FusedGroup group0 = parsedGroup(gc, c);
      for (size_t cols : kFusedCols) {
        for (int layout = 0; layout < 3; ++layout, ++run) {
          // 0: nine rows of every kind (zero, -0, NaN, Inf, huge, tiny, ...;
          //    for long rows, four of random kinds), a scalar maxNorm; 1: a
          //    few rows of ordinary or random-kind values, per-row radii;
          //    2: no rows at all.
          const bool longRows = cols > 100;
          const size_t rows = layout == 0   ? (longRows ? 4 : 9)
                              : layout == 1 ? 1 + static_cast<size_t>(run % 5)
                                            : 0;
          const int pattern = layout == 0 ? (longRows ? 2 : 3) : (run % 2 == 0 ? 0 : 2);
          gc.divByZeroEps = epsValues[run % 4];
          gc.maxNorm = layout == 1 ? 1.0 : scalarMaxNorms[run % 8];
          // group0 was parsed from this case's spec; eps and maxNorm vary by run.
          lp::FusedGroup group = group0;
          group.divByZeroEps = gc.divByZeroEps;
          group.maxNorm = gc.maxNorm;
          char ctx[512];
          std::snprintf(ctx, sizeof ctx,
                        "fusedStepRows %s rows=%zu cols=%zu pattern=%d normalize=%d sign=%d project=%d "
                        "clamp=%d scale=%d bias=%d eps=%g maxNorm=%s %s",
                        typeName(T()), rows, cols, pattern, gc.normalize, gc.sign, gc.project, gc.clamp, gc.applyScale,
                        gc.applyBias, gc.divByZeroEps,
                        layout == 1 ? "per-row" : std::to_string(gc.maxNorm).c_str(),
                        c.describe().c_str());
          gContext = ctx;
          FusedFixture<T> f(rng, pattern, rows, cols, layout == 1);
          for (int step = 1; step <= kSteps; ++step) {
            const lp::FusedTensor<T> t = f.nextStep(k, rng, pattern, gc, c, step);
            // All rows at once, or (every other run) in two row ranges.
            if (run % 2 == 0 || rows < 2) {
              k.fusedStepRows(group, t, 0, rows);
            } else {
              const size_t split = 1 + static_cast<size_t>(run) % (rows - 1);
              k.fusedStepRows(group, t, split, rows);
              k.fusedStepRows(group, t, 0, split);
            }
            f.check(step);
          }
        }
      }
    }
  }
}

// Rows long enough for the pipelined sweep (kPipelinedCols = 65536 in
// kernels-inl.h: each row's sweep also sums the next row's gradient), either
// side of that boundary, with a tail after the last whole piece, for a
// sample of the inner ops, with and without the projection, over whole and
// partial row ranges (a range's last row has no next row to sum).
template <typename T>
void testFusedLongRows(const lp::KernelsFor<T>& k, Rng& rng) {
  const std::vector<InnerCase> cases = innerCases();
  int run = 0;
  for (size_t ci = 0; ci < cases.size(); ci += 7) {
    const InnerCase& c = cases[ci];
    for (size_t cols : {size_t{65535}, size_t{65536}, size_t{65536 + 1024 + 17}}) {
      for (int project = 0; project < 2; ++project, ++run) {
        GroupCase gc{};
        gc.normalize = true;
        gc.project = project != 0;
        gc.divByZeroEps = 1e-12;
        gc.maxNorm = run % 3 == 0 ? 1.0 : 150.0;  // binding on some rows, not on others
        const lp::FusedGroup group = parsedGroup(gc, c);
        const size_t rows = 3;
        const int pattern = run % 2 == 0 ? 0 : 2;  // ordinary values, or rows of random kinds
        const bool perRow = run % 4 == 1;
        char ctx[256];
        std::snprintf(ctx, sizeof ctx, "fusedStepRows long rows %s cols=%zu pattern=%d project=%d %s %s",
                      typeName(T()), cols, pattern, project, perRow ? "per-row" : "", c.describe().c_str());
        gContext = ctx;
        FusedFixture<T> f(rng, pattern, rows, cols, perRow);
        for (int step = 1; step <= kSteps; ++step) {
          const lp::FusedTensor<T> t = f.nextStep(k, rng, pattern, gc, c, step);
          switch ((run + step) % 3) {
            case 0:
              k.fusedStepRows(group, t, 0, rows);
              break;
            case 1:  // rows 1 and 2, then row 0 alone
              k.fusedStepRows(group, t, 1, rows);
              k.fusedStepRows(group, t, 0, 1);
              break;
            default:  // one row at a time, out of order
              k.fusedStepRows(group, t, 2, 3);
              k.fusedStepRows(group, t, 0, 1);
              k.fusedStepRows(group, t, 1, 2);
              break;
          }
          f.check(step);
        }
      }
    }
  }
}

// The gradient at every offset from the parameter within a cache line (the
// state buffers at the parameter's, as the TypeScript layer places them): the
// sweeps align their vectors on p, and a g half a vector off is stored
// through realigned vectors (fusedSweep, signClampSweep), which must give the
// same bits and write nothing outside g. L2 steps over rows that start at 0
// (under kAlignedStartMinCols), rows that start aligned with a tail, and
// pipelined rows; L-inf steps (sign, clamp) over the first two.
template <typename T>
void testFusedOffsets(const lp::KernelsFor<T>& k, Rng& rng) {
  const std::vector<InnerCase> cases = innerCases();
  constexpr size_t kLine = 64 / sizeof(T);
  int run = 0;
  struct Rows {
    bool linf;
    size_t cols;
  };
  // (L-inf steps are elementwise: no pipelined rows.)
  const Rows shapes[] = {{false, 130}, {false, 1031}, {false, 65536 + 40}, {true, 130}, {true, 1031}};
  for (const auto& [linf, cols] : shapes) {
    const bool pipelined = cols >= 65536;
    for (size_t pOffset : {size_t{0}, size_t{3}}) {
      for (size_t gOffset = 0; gOffset < kLine; gOffset += pipelined ? kLine / 4 : 1, ++run) {
        const InnerCase& c = cases[static_cast<size_t>(run) * 5 % cases.size()];
        GroupCase gc{};
        gc.normalize = !linf;
        gc.project = !linf && run % 3 != 2;
        gc.sign = linf;
        gc.clamp = linf;
        gc.divByZeroEps = 1e-12;
        gc.maxNorm = linf ? (run % 2 == 0 ? 0.05 : 3.0) : (run % 2 == 0 ? 1.0 : 40.0);
        const lp::FusedGroup group = parsedGroup(gc, c);
        const size_t rows = 3;
        const int pattern = run % 4 == 3 ? 2 : 0;  // now and then rows of random kinds
        const bool perRow = linf && run % 3 == 1;  // radii per row, some of them binding
        char ctx[256];
        std::snprintf(ctx, sizeof ctx, "fusedStepRows offsets %s cols=%zu p at +%zu g at +%zu %s project=%d%s %s",
                      typeName(T()), cols, pOffset, gOffset, linf ? "sign+clamp" : "normalize", gc.project,
                      perRow ? " per-row" : "", c.describe().c_str());
        gContext = ctx;
        FusedFixture<T> f(rng, pattern, rows, cols, perRow, pOffset, gOffset);
        for (int step = 1; step <= kSteps; ++step) {
          const lp::FusedTensor<T> t = f.nextStep(k, rng, pattern, gc, c, step);
          if (step == 2) {  // row ranges: a range's last row has no next one
            k.fusedStepRows(group, t, 1, rows);
            k.fusedStepRows(group, t, 0, 1);
          } else {
            k.fusedStepRows(group, t, 0, rows);
          }
          f.check(step);
        }
      }
    }
  }
}

template <typename T>
void testRenormPerRow(const lp::KernelsFor<T>& k, Rng& rng) {
  const double radii[] = {0.0, 0.5, 1.0, 3.0, 1e30, 1e300, -1.0,
                          std::numeric_limits<double>::infinity(),
                          std::numeric_limits<double>::quiet_NaN(), 1e-30};
  for (size_t cols : kColCounts) {
    for (size_t rows : {size_t{0}, size_t{1}, size_t{5}, size_t{12}}) {
      for (int pattern = 0; pattern < kPatterns; ++pattern) {
        const size_t n = rows * cols;
        std::vector<T> input(n);
        fillMatrix(rng, pattern, input.data(), rows, cols);
        std::vector<double> maxNorms(rows);
        for (size_t r = 0; r < rows; ++r) maxNorms[r] = radii[rng.below(10)];
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "renormRowsL2PerRow %s rows=%zu cols=%zu pattern=%d",
                      typeName(T()), rows, cols, pattern);
        gContext = ctx;
        Guarded<T> p(n);
        if (n != 0) std::memcpy(p.data(), input.data(), n * sizeof(T));
        std::vector<T> want(input);
        for (size_t r = 0; r < rows; ++r) k.renormRowsL2(want.data() + r * cols, 1, cols, maxNorms[r]);
        k.renormRowsL2PerRow(p.data(), rows, cols, maxNorms.data());
        expectSame(p.data(), want.data(), n, "p");
        LP_CHECK(p.guardsIntact(), "wrote outside the array");
      }
    }
  }
}

template <typename T>
void testMemoryFloor(const lp::KernelsFor<T>& k, Rng& rng) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{17}, size_t{1000}, size_t{4099}}) {
    for (int pattern = 0; pattern < kPatterns; ++pattern) {
      char ctx[96];
      std::snprintf(ctx, sizeof ctx, "memoryFloor %s n=%zu pattern=%d", typeName(T()), n, pattern);
      gContext = ctx;
      std::vector<T> p0(n), g0(n);
      fillMatrix(rng, pattern, p0.data(), 1, n);
      fillMatrix(rng, pattern, g0.data(), 1, n);
      Tracked<T> p("p", p0), g("g", g0);
      const double scale = 0.5, lr = 1e-3;
      for (size_t i = 0; i < n; ++i) {
        g.want()[i] = g.want()[i] * static_cast<T>(scale);
        p.want()[i] = p.want()[i] - static_cast<T>(lr) * g.want()[i];
      }
      k.memoryFloor(p.got(), g.got(), n, scale, lr);
      p.check(1);
      g.check(1);
    }
  }
}

// ---------------------------------------------------------------------------
// The rest of the optimizer family: references, and the per-table kernels.

template <typename T>
T refNormL1(const T* x, size_t cols) {
  T lane[16];
  for (T& l : lane) l = T(0);
  for (size_t j = 0; j < cols; ++j) lane[j % 16] = lane[j % 16] + std::fabs(x[j]);
  for (size_t h = 8; h >= 1; h /= 2) {
    for (size_t i = 0; i < h; ++i) lane[i] = lane[i] + lane[i + h];
  }
  return lane[0];
}

template <typename T>
void refNormalizeRowsL1(T* g, size_t rows, size_t cols, double divByZeroEps) {
  const T e = static_cast<T>(divByZeroEps);
  for (size_t r = 0; r < rows; ++r) {
    const T n = refNormL1(g + r * cols, cols);
    const T d = (n < e) ? e : n;
    for (size_t j = 0; j < cols; ++j) g[r * cols + j] = g[r * cols + j] / d;
  }
}

template <typename T>
T refSign(T v) {
  return (v > T(0) ? T(1) : T(0)) - (v < T(0) ? T(1) : T(0));
}

template <typename T>
void refClamp(T* x, size_t n, double lo, bool hasLo, double hi, bool hasHi) {
  for (size_t i = 0; i < n; ++i) {
    T v = x[i];
    if (hasLo && v < static_cast<T>(lo)) v = static_cast<T>(lo);
    if (hasHi && v > static_cast<T>(hi)) v = static_cast<T>(hi);
    x[i] = v;
  }
}

template <typename T>
void refFrankWolfe(T* p, const T* g, size_t n, double alpha, double lmoScale) {
  const T keep = static_cast<T>(1.0 - alpha);
  const T w = static_cast<T>(-(alpha * lmoScale));
  for (size_t i = 0; i < n; ++i) p[i] = p[i] * keep + w * g[i];
}

// Whether entry a of a row ranks before entry b: the larger |g| first, NaN
// above everything (NaNs equal), then the lower index.
template <typename T>
bool refRanksBefore(const T* row, size_t a, size_t b) {
  const T x = std::fabs(row[a]);
  const T y = std::fabs(row[b]);
  const bool xNaN = std::isnan(x), yNaN = std::isnan(y);
  if (xNaN || yNaN) return (xNaN && yNaN) ? a < b : xNaN;
  if (x != y) return x > y;
  return a < b;
}

template <typename T>
void refTopQRows(T* g, size_t rows, size_t cols, size_t keep) {
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    std::vector<size_t> order(cols);
    for (size_t j = 0; j < cols; ++j) order[j] = j;
    std::sort(order.begin(), order.end(),
              [row](size_t a, size_t b) { return refRanksBefore(row, a, b); });
    for (size_t k = keep; k < cols; ++k) row[order[k]] = T(0);
  }
}

// topQSignL1Rows is the three kernels in turn.
template <typename T>
void refTopQSignL1Rows(T* g, size_t rows, size_t cols, size_t keep, double divByZeroEps) {
  refTopQRows(g, rows, cols, keep);
  for (size_t i = 0; i < rows * cols; ++i) g[i] = refSign(g[i]);
  refNormalizeRowsL1(g, rows, cols, divByZeroEps);
}

template <typename T>
void refL1LmoRows(T* g, size_t rows, size_t cols) {
  if (cols == 0) return;
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    size_t best = 0;
    for (size_t j = 1; j < cols; ++j) {
      if (refRanksBefore(row, j, best)) best = j;
    }
    const T s = refSign(row[best]);
    for (size_t j = 0; j < cols; ++j) row[j] = row[j] * T(0);
    row[best] = s;
  }
}

// A quiet NaN with another payload (k = 0: the default quiet NaN's bits).
template <typename T>
T nanWithPayload(unsigned k) {
  T v = std::numeric_limits<T>::quiet_NaN();
  if (sizeof(T) == 4) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits |= k;
    std::memcpy(&v, &bits, sizeof bits);
  } else {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits |= k;
    std::memcpy(&v, &bits, sizeof bits);
  }
  return v;
}

// The NaN whose magnitude bits are the infinity's plus one (a signalling
// NaN): the rank key every NaN shares (see selection.cc), as raw bits.
template <typename T>
T nanJustAboveInfinity() {
  T v;
  if (sizeof(T) == 4) {
    const uint32_t bits = 0x7F800001u;
    std::memcpy(&v, &bits, sizeof v);
  } else {
    const uint64_t bits = 0x7FF0000000000001ull;
    std::memcpy(&v, &bits, sizeof v);
  }
  return v;
}

// Rows for the family: fillMatrix's patterns (0 to 3), then
// 4: values from a small set with many equal magnitudes, every special and
//    NaNs of several payloads and both signs,
// 5: magnitudes a few ulps apart (they differ in the lowest bits only),
// 6: every element special.
constexpr int kFamilyPatterns = 7;

template <typename T>
void fillFamily(Rng& rng, int pattern, T* x, size_t rows, size_t cols) {
  if (pattern < kPatterns) {
    fillMatrix(rng, pattern, x, rows, cols);
    return;
  }
  const size_t n = rows * cols;
  for (size_t i = 0; i < n; ++i) {
    T v;
    if (pattern == 4) {
      const T small[] = {T(0), T(-0.0), T(1), T(-1), T(2), T(-2), T(0.5), T(-0.5)};
      v = rng.below(6) == 0 ? specialValue<T>(rng) : small[rng.below(8)];
      if (rng.below(16) == 0) {
        v = nanWithPayload<T>(static_cast<unsigned>(rng.below(4)) * 0x55u);
        if (rng.below(2)) v = -v;
      }
    } else if (pattern == 5) {
      v = std::nextafter(T(1), T(2));
      for (size_t k = rng.below(4); k > 0; --k) v = std::nextafter(v, T(2));
      if (rng.below(2)) v = -v;
    } else {
      v = specialValue<T>(rng);
    }
    x[i] = v;
  }
}

// The gradient's normalisation by its row's divisor, bit for bit against the
// references (normalizeRowsL2 in float: times the rounded reciprocal, or
// divided where the divisor or its reciprocal is not normal; otherwise divided), at
// the extremes: a divByZeroEps above the row's norm makes the divisor
// any float chosen here, at exponents either side of 2^-64 and 2^64 (and
// subnormal, and near the top), with significands of all ones, just above 1
// and random; dividends with random or all-ones significands from about the
// divisor down, zeros of both signs, and magnitudes either side of 2^-50. A
// "clean" row of each divisor (from 2^-25 up) has nothing below 2^-50. Each
// row goes through normalizeRowsL2, normalizeRowsL1 and the fused step.
template <typename T>
void testRowDivision(const lp::KernelsFor<T>& k, Rng& rng) {
  // The last four: either side of where a divisor or its reciprocal stops being
  // normal (normalizingMultiplier divides there): 2^-127, 2^-126, 2^126, 2^127 for float.
  constexpr int kMinExp = std::numeric_limits<T>::min_exponent, kMaxExp = std::numeric_limits<T>::max_exponent;
  const int exponents[] = {-140, -127, -100, -65, -64, -63, -40, -1, 0, 1, 40, 63, 64, 65, 100, 126,
                           kMinExp - 2, kMinExp - 1, kMaxExp - 2, kMaxExp - 1};
  const size_t cols = 67;  // whole vectors and a tail on every ISA
  const T cutoff = static_cast<T>(std::ldexp(1.0, -50));
  const InnerCase sgd = innerCases()[0];
  GroupCase gc{};
  gc.normalize = true;
  gc.scale = 1.0;
  // A significand in [1, 2) with 24 bits: all ones, just above 1, or random.
  auto significand = [&rng](int kind) {
    const double top = std::ldexp(1.0, 24);
    double m;
    if (kind == 0) {
      m = top - 1 - static_cast<double>(rng.below(4));
    } else if (kind == 1) {
      m = top / 2 + static_cast<double>(rng.below(4));
    } else {
      m = top / 2 + static_cast<double>(rng.below(1u << 23));
    }
    return m / (top / 2);
  };
  for (int e : exponents) {
    for (int trial = 0; trial < 48; ++trial) {
      const T d = static_cast<T>(std::ldexp(significand(trial % 3), e));
      if (!(d > T(0)) || !(d < std::numeric_limits<T>::infinity())) continue;
      for (int clean = 0; clean < 2; ++clean) {
        std::vector<T> row(cols);
        // One element near the divisor (quotient 0.47 to 0.94: the norm stays
        // below the divisor), the rest at most d / 64.
        row[0] = static_cast<T>(d * (0.5 * significand(trial % 2) - 0.03)) * (trial % 4 < 2 ? T(1) : T(-1));
        for (size_t j = 1; j < cols; ++j) {
          T v = static_cast<T>(std::ldexp(significand(static_cast<int>(rng.below(3))),
                                          -7 - static_cast<int>(rng.below(clean ? 20 : 200))) * d);
          if (rng.below(2)) v = -v;
          if (!clean) {
            switch (rng.below(8)) {
              case 0: v = rng.below(2) ? T(0) : T(-0.0); break;
              case 1: v = cutoff; break;
              case 2: v = std::nextafter(cutoff, T(0)); break;
              case 3: v = -std::nextafter(cutoff, T(1)); break;
              default: break;
            }
            if (std::fabs(v) > d / 64) v = static_cast<T>(d / 128);
          } else if (std::fabs(v) < cutoff || !(std::fabs(v) > T(0))) {
            v = d / 64;
          }
          row[j] = v;
        }
        char ctx[160];
        std::snprintf(ctx, sizeof ctx, "row division %s divisor=%a clean=%d", typeName(T()),
                      static_cast<double>(d), clean);
        const double eps = static_cast<double>(d);
        // The kernel against its reference on this row.
        auto checkNormalize = [&](const char* name, void (*kernel)(T*, size_t, size_t, double),
                                  void (*reference)(T*, size_t, size_t, double)) {
          gContext = std::string(name) + " " + ctx;
          Guarded<T> g(cols);
          std::memcpy(g.data(), row.data(), cols * sizeof(T));
          std::vector<T> want(row);
          reference(want.data(), 1, cols, eps);
          kernel(g.data(), 1, cols, eps);
          expectSame(g.data(), want.data(), cols, "g");
        };
        checkNormalize("normalizeRowsL2", k.normalizeRowsL2, refNormalizeRows<T>);
        checkNormalize("normalizeRowsL1", k.normalizeRowsL1, refNormalizeRowsL1<T>);
        {
          gContext = std::string("fusedStepRows (SGD) ") + ctx;
          gc.divByZeroEps = eps;
          const lp::FusedGroup group = parsedGroup(gc, sgd);
          Guarded<T> g(cols), p(cols);
          std::memcpy(g.data(), row.data(), cols * sizeof(T));
          std::fill(p.data(), p.data() + cols, T(0));
          std::vector<T> want(row);
          refNormalizeRows(want.data(), 1, cols, eps);
          const lp::FusedTensor<T> t{p.data(), g.data(), nullptr, nullptr, nullptr, nullptr, 1, cols, 0, 0};
          k.fusedStepRows(group, t, 0, 1);
          expectSame(g.data(), want.data(), cols, "g");
        }
      }
    }
  }
}

template <typename T>
void testFamilyKernels(const lp::KernelsFor<T>& k, Rng& rng) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const double epsValues[] = {0.0, 1e-30, 1e-12, 0.5, 1e300, nan};
  struct ClampCase {
    double lo;
    bool hasLo;
    double hi;
    bool hasHi;
  };
  const ClampCase clamps[] = {
      {-0.5, true, 1.25, true}, {0.0, false, 0.0, true},  {-0.0, true, 0.0, false},
      {0.0, true, -0.0, true},  {-0.0, true, 0.0, true},  {1.0, true, -1.0, true},
      {-inf, true, inf, true},  {nan, true, 0.5, true},   {-0.5, true, nan, true},
      {1e-40, true, 1e300, true}, {0.3, false, 0.7, false},
  };
  struct StepCase {
    double alpha;
    double lmoScale;
  };
  const StepCase steps[] = {{2.0 / 3.0, 1.5}, {0.1, 8.0 / 255.0}, {1.0, 1.0}, {0.0, 3.0},
                            {1e-8, 1e300},    {0.5, -2.0},        {nan, 1.0}, {0.25, inf}};
  for (size_t cols : kColCounts) {
    for (size_t rows : kRowCounts) {
      for (int pattern = 0; pattern < kFamilyPatterns; ++pattern) {
        const size_t n = rows * cols;
        std::vector<T> input(n), other(n);
        fillFamily(rng, pattern, input.data(), rows, cols);
        fillFamily(rng, pattern, other.data(), rows, cols);
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "%s rows=%zu cols=%zu pattern=%d", typeName(T()), rows, cols,
                      pattern);
        for (double eps : epsValues) {
          gContext = std::string("normalizeRowsL1 eps=") + std::to_string(eps) + " " + ctx;
          Guarded<T> g(n);
          std::memcpy(g.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refNormalizeRowsL1(want.data(), rows, cols, eps);
          k.normalizeRowsL1(g.data(), rows, cols, eps);
          expectSame(g.data(), want.data(), n, "g");
          LP_CHECK(g.guardsIntact(), "wrote outside the array");
        }
        {
          gContext = std::string("signInPlace ") + ctx;
          Guarded<T> g(n);
          std::memcpy(g.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          for (T& v : want) v = refSign(v);
          k.signInPlace(g.data(), n);
          expectSame(g.data(), want.data(), n, "g");
          LP_CHECK(g.guardsIntact(), "wrote outside the array");
        }
        for (const ClampCase& c : clamps) {
          char what[96];
          std::snprintf(what, sizeof what, "clampInPlace lo=%g/%d hi=%g/%d ", c.lo, c.hasLo, c.hi,
                        c.hasHi);
          gContext = std::string(what) + ctx;
          Guarded<T> x(n);
          std::memcpy(x.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refClamp(want.data(), n, c.lo, c.hasLo, c.hi, c.hasHi);
          k.clampInPlace(x.data(), n, c.lo, c.hasLo, c.hi, c.hasHi);
          expectSame(x.data(), want.data(), n, "x");
          LP_CHECK(x.guardsIntact(), "wrote outside the array");
        }
        for (const StepCase& s : steps) {
          char what[96];
          std::snprintf(what, sizeof what, "frankWolfeStep alpha=%g lmoScale=%g ", s.alpha,
                        s.lmoScale);
          gContext = std::string(what) + ctx;
          Guarded<T> p(n), g(n);
          std::memcpy(p.data(), input.data(), n * sizeof(T));
          std::memcpy(g.data(), other.data(), n * sizeof(T));
          std::vector<T> want(input);
          refFrankWolfe(want.data(), other.data(), n, s.alpha, s.lmoScale);
          k.frankWolfeStep(p.data(), g.data(), n, s.alpha, s.lmoScale);
          expectSame(p.data(), want.data(), n, "p");
          expectSame(g.data(), other.data(), n, "g (must not change)");
          LP_CHECK(p.guardsIntact() && g.guardsIntact(), "wrote outside the arrays");
        }
      }
    }
  }
  // The exact values of the sign and of -0 against 0 bounds.
  gContext = std::string("family special values ") + typeName(T());
  const T nanT = std::numeric_limits<T>::quiet_NaN();
  const T infT = std::numeric_limits<T>::infinity();
  T signs[] = {T(0), T(-0.0), nanT, -nanT, T(-3), T(2), infT, -infT, Special<T>::tiny(),
               -Special<T>::tiny(), T(0), T(-0.0), nanT, T(5), T(-5), T(0), T(-0.0)};
  const T wantSigns[] = {T(0), T(0), T(0), T(0), T(-1), T(1), T(1), T(-1), T(1),
                         T(-1), T(0), T(0), T(0), T(1), T(-1), T(0), T(0)};
  const size_t signCount = sizeof signs / sizeof signs[0];
  k.signInPlace(signs, signCount);
  expectSame(signs, wantSigns, signCount, "sign");
  T clamped[] = {T(-0.0), T(0), nanT, T(-1), T(1), T(-0.0), T(0), nanT, T(-2), T(2),
                 T(-0.0), T(0), nanT, T(-1), T(1), T(-0.0), T(0)};
  const T wantClamped[] = {T(-0.0), T(0), nanT, T(0), T(0), T(-0.0), T(0), nanT, T(0), T(0),
                           T(-0.0), T(0), nanT, T(0), T(0), T(-0.0), T(0)};
  k.clampInPlace(clamped, signCount, 0.0, true, 0.0, true);
  expectSame(clamped, wantClamped, signCount, "clamp to [0, 0]");
}

// ---------------------------------------------------------------------------
// The selection kernels (lp::topQRows, lp::l1LmoRows), not per table.

// topQRows of one row (`row`, guarded against writes outside it) at one
// keep, bit for bit against the reference; `context` names the case.
template <typename T>
void expectTopQRowAsReference(const std::vector<T>& row, size_t keep, const char* context) {
  gContext = context;
  const size_t cols = row.size();
  std::vector<T> want(row);
  refTopQRows(want.data(), 1, cols, keep);
  Guarded<T> g(cols);
  std::memcpy(g.data(), row.data(), cols * sizeof(T));
  lp::topQRows(g.data(), 1, cols, keep);
  expectSame(g.data(), want.data(), cols, "g");
  LP_CHECK(g.guardsIntact(), "wrote outside the array");
}

template <typename T>
void testSelection() {
  Rng rng{sizeof(T) * 104729u};
  // Besides the usual lengths: rows just above the candidates that
  // topQRow buffers (1024), and rows long enough that the first digits'
  // passes run over the whole row and the last ones over the buffer.
  size_t colCounts[sizeof kColCounts / sizeof kColCounts[0] + 4];
  size_t colCount = 0;
  for (size_t c : kColCounts) colCounts[colCount++] = c;
  colCounts[colCount++] = 4099;
  colCounts[colCount++] = 2;
  colCounts[colCount++] = 1025;
  colCounts[colCount++] = 70001;
  for (size_t ci = 0; ci < colCount; ++ci) {
    const size_t cols = colCounts[ci];
    for (size_t rows : kRowCounts) {
      if ((cols == 4099 || cols == 1025) && rows > 2) continue;
      if (cols == 70001 && rows > 1) continue;
      for (int pattern = 0; pattern < kFamilyPatterns; ++pattern) {
        const size_t n = rows * cols;
        std::vector<T> input(n);
        fillFamily(rng, pattern, input.data(), rows, cols);
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "%s rows=%zu cols=%zu pattern=%d", typeName(T()), rows, cols,
                      pattern);
        const size_t keeps[] = {0,        1,    cols / 2, cols, cols + 5,
                                cols > 0 ? cols - 1 : 0, cols > 0 ? rng.below(cols + 1) : 0,
                                SIZE_MAX};
        for (size_t keep : keeps) {
          gContext = std::string("topQRows keep=") + std::to_string(keep) + " " + ctx;
          Guarded<T> g(n);
          std::memcpy(g.data(), input.data(), n * sizeof(T));
          std::vector<T> want(input);
          refTopQRows(want.data(), rows, cols, keep);
          lp::topQRows(g.data(), rows, cols, keep);
          expectSame(g.data(), want.data(), n, "g");
          LP_CHECK(g.guardsIntact(), "wrote outside the array");
          // The fused L1q transform, with a divByZeroEps of 0 (an all-zero
          // row gives NaN), float32's smallest normal, and one above the count.
          for (double eps : {0.0, 1.1754943508222875e-38, 3.5 * double(cols) + 1}) {
            gContext = std::string("topQSignL1Rows keep=") + std::to_string(keep) + " eps=" + std::to_string(eps) + " " + ctx;
            Guarded<T> f(n);
            std::memcpy(f.data(), input.data(), n * sizeof(T));
            std::vector<T> fused(input);
            refTopQSignL1Rows(fused.data(), rows, cols, keep, eps);
            lp::topQSignL1Rows(f.data(), rows, cols, keep, eps);
            expectSame(f.data(), fused.data(), n, "g");
            LP_CHECK(f.guardsIntact(), "wrote outside the array");
          }
        }
        gContext = std::string("l1LmoRows ") + ctx;
        Guarded<T> g(n);
        std::memcpy(g.data(), input.data(), n * sizeof(T));
        std::vector<T> want(input);
        refL1LmoRows(want.data(), rows, cols);
        lp::l1LmoRows(g.data(), rows, cols);
        expectSame(g.data(), want.data(), n, "g");
        LP_CHECK(g.guardsIntact(), "wrote outside the array");
      }
    }
  }
  // Sparse rows (most entries +0 or -0) for the radix select, whose first
  // digit of 0 ends it early when that digit holds zeros only: with and
  // without magnitudes under 2^-125 beside them (then it does not end), at
  // keeps both side of the nonzero count.
  for (size_t cols : {size_t{784}, size_t{3072}, size_t{4099}}) {
    for (int fill = 0; fill < 6; ++fill) {
      const double zeroShare[] = {0.5, 0.9, 0.95, 0.999, 1.0, 0.95};
      std::vector<T> row(cols);
      for (size_t j = 0; j < cols; ++j) {
        const double u = rng.uniform() + 1e-12;
        T v = T(std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * rng.uniform()));
        if (rng.uniform() < zeroShare[fill]) v = rng.below(2) ? T(-0.0) : T(0);
        if (fill == 5 && rng.below(20) == 0) v = T(std::ldexp(1.0 + rng.uniform(), (sizeof(T) == 4 ? -130 : -1020) - int(rng.below(10))));  // tiny beside the zeros
        row[j] = v;
      }
      for (size_t keep : {size_t{1}, cols / 100, cols / 20, cols / 10, cols / 2, cols - 1, size_t(rng.below(cols))}) {
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "topQRows sparse %s cols=%zu fill=%d keep=%zu", typeName(T()), cols, fill, keep);
        expectTopQRowAsReference(row, keep, ctx);
      }
    }
  }
  // Rows of few magnitudes, where tiedKeyTopQRow's probe guesses a tied
  // threshold: signs (with and without zeros), 2, 4 and 16 magnitudes, NaN
  // among signs; and probes that mislead: the probed places hold one
  // magnitude the rest of the row lacks (below or above everything else), or
  // tie at a key other than the threshold. Keeps on both sides of each
  // magnitude's share, and the shares' edges themselves.
  for (size_t cols : {size_t{256}, size_t{784}, size_t{3072}, size_t{4099}}) {
    for (int kind = 0; kind < 8; ++kind) {
      std::vector<T> row(cols);
      for (size_t j = 0; j < cols; ++j) {
        const T sign = rng.below(2) ? T(-1) : T(1);
        T v = sign;  // kind 0: signs
        if (kind == 1 && rng.below(4) == 0) v = rng.below(2) ? T(-0.0) : T(0);  // signs and 25% zeros
        if (kind == 2) v = sign * T(1 + rng.below(2));
        if (kind == 3) v = sign * T(1 + rng.below(4));
        if (kind == 4) v = sign * T(0.25 * double(1 + rng.below(16)));
        if (kind == 5 && rng.below(10) == 0) v = rng.below(2) ? std::numeric_limits<T>::quiet_NaN() : -std::numeric_limits<T>::quiet_NaN();
        if (kind == 6 || kind == 7) {
          const double u = rng.uniform() + 1e-12;
          v = T(std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * rng.uniform()));
        }
        row[j] = v;
      }
      if (kind == 6 || kind == 7) {
        // The probed places: one magnitude, above every other entry (6) or below (7).
        const T probed = kind == 6 ? T(100) : T(1e-3);
        for (size_t i = 0; i < 32; ++i) row[i * cols / 32] = i % 2 ? -probed : probed;
      }
      std::vector<size_t> keeps = {1, cols / 32, cols / 10, cols / 4, cols / 2, cols * 3 / 4, cols - 1, size_t(1 + rng.below(cols - 1))};
      // The count of entries at or above each magnitude (where a keep decides the prefix outright).
      for (T m : {T(1), T(2), T(3), T(4), T(0.25)}) {
        size_t atOrAbove = 0;
        for (T v : row) atOrAbove += !(std::fabs(v) < m);
        if (atOrAbove > 0 && atOrAbove < cols) keeps.push_back(atOrAbove);
      }
      for (size_t keep : keeps) {
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "topQRows few magnitudes %s cols=%zu kind=%d keep=%zu", typeName(T()), cols, kind, keep);
        expectTopQRowAsReference(row, keep, ctx);
      }
    }
  }
  // Exact cases: ties go to the lower index, NaN ranks first, 0 and -0 tie.
  gContext = std::string("selection exact cases ") + typeName(T());
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  {
    T g[] = {T(1), T(-2), T(2), T(-1), T(2)};
    const T want[] = {T(0), T(-2), T(2), T(0), T(0)};
    lp::topQRows(g, 1, 5, 2);
    expectSame(g, want, 5, "topQ ties");
  }
  {
    T g[] = {T(1), -inf, nan, T(-0.0), -nan, inf, T(0)};
    const T want[] = {T(0), -inf, nan, T(0), -nan, T(0), T(0)};
    lp::topQRows(g, 1, 7, 3);  // NaN, NaN, then the first infinity
    expectSame(g, want, 7, "topQ NaN first");
    LP_CHECK(std::signbit(g[4]), "the kept -NaN lost its sign");
  }
  {
    // Every NaN ranks equal, whatever its payload: the lower index wins.
    T g[] = {T(1), nan, -nanWithPayload<T>(0x3F), nanWithPayload<T>(0x7)};
    lp::topQRows(g, 1, 4, 1);
    LP_CHECK(g[0] == T(0) && std::isnan(g[1]) && g[2] == T(0) && g[3] == T(0),
             "topQ NaN payloads: %g %g %g %g", double(g[0]), double(g[1]), double(g[2]),
             double(g[3]));
    T h[] = {T(1), nanWithPayload<T>(0x7), -nanWithPayload<T>(0x3F), nan};
    lp::l1LmoRows(h, 1, 4);
    LP_CHECK(h[0] == T(0) && h[1] == T(0) && !std::signbit(h[1]) && std::isnan(h[2]) &&
                 std::isnan(h[3]),
             "l1Lmo NaN payloads: %g %g %g %g", double(h[0]), double(h[1]), double(h[2]),
             double(h[3]));
  }
  {
    T g[] = {T(-0.0), T(0), T(-0.0), T(0)};
    const T want[] = {T(-0.0), T(0), T(0), T(0)};
    lp::topQRows(g, 1, 4, 2);
    expectSame(g, want, 4, "topQ zeros");
  }
  {
    T g[] = {T(-0.0), T(0), T(-0.0), T(0),    // all zero: best 0, sign +0
             T(1), T(-3), nan, T(3),          // NaN ranks first: +0 there
             T(-1), -inf, T(2), inf,          // the first infinity: -1
             T(2), T(-2), T(-2), T(1)};       // the first of equal magnitudes
    const T want[] = {T(0), T(0), T(-0.0), T(0),
                      T(0), T(-0.0), T(0), T(0),
                      T(-0.0), T(-1), T(0), nan,
                      T(1), T(-0.0), T(-0.0), T(0)};
    lp::l1LmoRows(g, 4, 4);
    expectSame(g, want, 16, "l1Lmo");
    LP_CHECK(std::isnan(g[11]), "inf * 0 must be NaN");
  }
}

// Long rows (at least 32768 entries), where topQRow first tries a bracket
// read off a sample of the row: rows the sample reads right (the threshold
// decided by a prefix, or exactly with ties at it), rows it misreads (values
// at the sampled places unlike the rest, so the bracket misses and the radix
// select runs), rows of few magnitudes (not tried), NaN and infinities
// above the bracket, a threshold of 0 with +0 and -0 tied at it, and keeps
// from 1 to cols - 1; rows too long for the list at most keeps (not tried);
// rows whose sample puts both ends of the bracket on one key (mostly zeros,
// one magnitude, NaN: oneKeyTopQRow), or puts them there wrongly.
// Each row is sorted once for all its keeps.
template <typename T>
void testBracketedSelection() {
  Rng rng{sizeof(T) * 7919u};
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  const size_t colCounts[] = {32768, 40000, 150528, 400000};
  constexpr int kDistributions = 11;
  for (size_t cols : colCounts) {
    for (int dist = 0; dist < kDistributions; ++dist) {
      std::vector<T> row(cols);
      for (size_t j = 0; j < cols; ++j) {
        const double u = rng.uniform() + 1e-12;
        const double normal = std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * rng.uniform());
        T v = T(normal);
        if (dist == 1) {  // NaN (either sign, any payload) and infinities, 1% each
          const size_t k = rng.below(100);
          if (k == 0) v = rng.below(2) ? -nanWithPayload<T>(unsigned(rng.below(4))) : nan;
          if (k == 1) v = rng.below(2) ? -inf : inf;
        } else if (dist == 2) {  // about 500 distinct magnitudes: ties at the threshold
          v = T(std::round(normal * 64) / 64);
        } else if (dist == 3) {  // 30% zeros of either sign
          if (rng.below(10) < 3) v = rng.below(2) ? T(-0.0) : T(0);
        } else if (dist == 5) {  // four magnitudes
          v = T(double(1 + rng.below(4)) * (rng.below(2) ? -1 : 1));
        } else if (dist == 6) {  // magnitudes over many exponents
          v = T(normal * std::exp(8 * (rng.uniform() - 0.5)));
        } else if (dist == 7) {  // 95% zeros of either sign: a sparse gradient
          if (rng.below(100) < 95) v = rng.below(2) ? T(-0.0) : T(0);
        } else if (dist == 8) {  // 90% of one magnitude, the rest below it
          v = rng.below(10) < 9 ? T(rng.below(2) ? -1 : 1) : T(normal / 8);
        } else if (dist == 9) {  // 70% NaN (either sign, any payload, half of them with the
                                 // bits of NaN's rank key), 20% infinities
          const size_t k = rng.below(10);
          if (k < 7) {
            const T n = rng.below(2) ? nanWithPayload<T>(unsigned(rng.below(4))) : nanJustAboveInfinity<T>();
            v = rng.below(2) ? -n : n;
          }
          if (k == 7 || k == 8) v = rng.below(2) ? -inf : inf;
        }
        row[j] = v;
      }
      if (dist == 4) {  // the sampled places hold tiny values: the bracket misses
        for (size_t i = 0; i < 2048; ++i) row[static_cast<size_t>(uint64_t(i) * cols / 2048)] *= T(1e-6);
      }
      if (dist == 10) {  // the sampled places all hold one magnitude, the rest none: a one-key bracket misses
        for (size_t i = 0; i < 2048; ++i) row[static_cast<size_t>(uint64_t(i) * cols / 2048)] = T(i % 2 ? -1.5 : 1.5);
      }
      std::vector<size_t> order(cols);
      for (size_t j = 0; j < cols; ++j) order[j] = j;
      const T* data = row.data();
      std::sort(order.begin(), order.end(), [data](size_t a, size_t b) { return refRanksBefore(data, a, b); });
      const size_t keeps[] = {1, 5, cols / 100, cols / 10, cols / 4, cols / 2, cols * 71 / 100,
                              cols * 9 / 10, cols - 1, 1 + rng.below(cols - 1)};
      for (size_t keep : keeps) {
        char ctx[128];
        std::snprintf(ctx, sizeof ctx, "topQRows long row %s cols=%zu dist=%d keep=%zu", typeName(T()), cols,
                      dist, keep);
        gContext = ctx;
        std::vector<T> want(row);
        for (size_t k = keep; k < cols; ++k) want[order[k]] = T(0);
        Guarded<T> g(cols);
        std::memcpy(g.data(), row.data(), cols * sizeof(T));
        lp::topQRows(g.data(), 1, cols, keep);
        expectSame(g.data(), want.data(), cols, "g");
        LP_CHECK(g.guardsIntact(), "wrote outside the array");
        // The fused L1q transform over the same selection.
        std::memcpy(g.data(), row.data(), cols * sizeof(T));
        for (T& v : want) v = refSign(v);
        refNormalizeRowsL1(want.data(), 1, cols, 1.1754943508222875e-38);
        lp::topQSignL1Rows(g.data(), 1, cols, keep, 1.1754943508222875e-38);
        expectSame(g.data(), want.data(), cols, "topQSignL1Rows g");
      }
    }
  }
}

int testSelectionKernels() {
  testSelection<float>();
  testSelection<double>();
  testBracketedSelection<float>();
  testBracketedSelection<double>();
  if (gFailures != 0) {
    std::fprintf(stderr, "FAIL: selection: %d check(s) failed\n", gFailures);
    return 1;
  }
  std::printf("OK: topQRows, topQSignL1Rows and l1LmoRows match the reference bit for bit\n");
  return 0;
}

// Rows long enough to start their lane blocks at an aligned element (1024 or
// more), at every offset from a 64-byte boundary: the lanes then start rotated
// and finish without being rotated back (ReductionLanes::finish), which must
// give the bits of the lanes in order. The L2 and L1 norms, and the L2
// normalisation (whose divisor is that norm), against the reference.
template <typename T>
void testRotatedLanes(const lp::KernelsFor<T>& k, Rng& rng) {
  const size_t rows = 3;
  for (size_t cols : {size_t{1024}, size_t{1031}, size_t{1039}, size_t{3072}}) {
    const size_t n = rows * cols;
    std::vector<T> storage(n + 64 / sizeof(T) * 2);
    const size_t misalign = reinterpret_cast<uintptr_t>(storage.data()) % 64 / sizeof(T);
    T* const aligned = storage.data() + (misalign == 0 ? 0 : 64 / sizeof(T) - misalign);
    for (size_t offset = 0; offset < 64 / sizeof(T); ++offset) {
      T* x = aligned + offset;
      std::vector<T> input(n);
      fillMatrix(rng, 0, input.data(), rows, cols);
      std::memcpy(x, input.data(), n * sizeof(T));
      char ctx[96];
      std::snprintf(ctx, sizeof ctx, "%s cols=%zu offset=%zu", typeName(T()), cols, offset);
      gContext = std::string("rotated lanes ") + ctx;
      std::vector<T> got(rows), want(rows);
      k.rowNormsL2(x, rows, cols, got.data());
      refRowNorms(input.data(), rows, cols, want.data());
      expectSame(got.data(), want.data(), rows, "rowNormsL2");
      std::vector<T> wantG(input);
      refNormalizeRows(wantG.data(), rows, cols, 1e-12);
      k.normalizeRowsL2(x, rows, cols, 1e-12);
      expectSame(x, wantG.data(), n, "normalizeRowsL2");
      std::memcpy(x, input.data(), n * sizeof(T));
      std::vector<T> wantL1(input);
      refNormalizeRowsL1(wantL1.data(), rows, cols, 1e-12);
      k.normalizeRowsL1(x, rows, cols, 1e-12);
      expectSame(x, wantL1.data(), n, "normalizeRowsL1");
    }
  }
}

template <typename T>
void testAllKernels(const lp::KernelsFor<T>& k) {
  Rng rng{sizeof(T) * 7919u};
  testRowKernels(k, rng);
  testRotatedLanes(k, rng);
  testScaleBias(k, rng);
  testSgd(k, rng);
  testAdam(k, rng);
  testRmsprop(k, rng);
  testAdagrad(k, rng);
  testAmsgradMax(k);
  testRenormPerRow(k, rng);
  testMemoryFloor(k, rng);
  testFused(k, rng);
  testFusedLongRows(k, rng);
  testFusedOffsets(k, rng);
  testRowDivision(k, rng);
  testFamilyKernels(k, rng);
}

// A table's bracket scan (listBracket, vectorised on some ISAs) against the
// plain loop: the same count above, the same count inside and, when it fits,
// the same list, over rows of every length around the vector widths, every
// kind of value (NaN and infinities above any bracket), brackets from [0, 0]
// to [0, below +Inf], and lists that fit, fit exactly and overflow (the
// scan may write kListSlack past the capacity, never further). Then top-q
// over long rows with that scan, against the sort-based reference.
template <typename T>
void testListBracket(const lp::KernelsFor<T>& k, const char* isa) {
  using Bits = lp::MagnitudeBitsOf<T>;
  Rng rng{sizeof(T) * 4099u};
  const Bits belowInf = sizeof(T) == 4 ? Bits(0x7F7FFFFFu) : Bits(0x7FEFFFFFFFFFFFFFull);
  auto bitsOf = [](T v) {
    Bits b;
    std::memcpy(&b, &v, sizeof b);
    return b & ~(Bits(1) << (sizeof(Bits) * 8 - 1));
  };
  for (size_t cols : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{7}, size_t{8}, size_t{9},
                      size_t{15}, size_t{16}, size_t{17}, size_t{31}, size_t{33}, size_t{100},
                      size_t{1000}, size_t{4099}}) {
    for (int pattern = 0; pattern < kFamilyPatterns; ++pattern) {
      std::vector<T> row(cols);
      fillFamily(rng, pattern, row.data(), 1, cols);
      const T pick = cols ? row[rng.below(cols)] : T(1);
      const Bits brackets[][2] = {{0, 0}, {0, belowInf}, {bitsOf(T(0.5)), bitsOf(T(2))},
                                  {bitsOf(pick), bitsOf(pick)}, {0, bitsOf(pick)},
                                  {bitsOf(pick), belowInf}};
      for (const auto& bracket : brackets) {
        if (bracket[0] > bracket[1]) continue;
        for (size_t capacity : {size_t{0}, size_t{5}, cols, size_t{16384}}) {
          char ctx[160];
          std::snprintf(ctx, sizeof ctx, "listBracket %s %s cols=%zu pattern=%d capacity=%zu", isa,
                        typeName(T()), cols, pattern, capacity);
          gContext = ctx;
          std::vector<uint32_t> want(capacity + lp::kListSlack, 0xDEADBEEFu);
          std::vector<uint32_t> got(capacity + lp::kListSlack + 8, 0xDEADBEEFu);
          size_t wantAbove = 0, gotAbove = 0;
          const size_t wantN = lp::listBracketPlain<T>(row.data(), cols, bracket[0], bracket[1],
                                                        want.data(), capacity, &wantAbove);
          const size_t gotN = k.listBracket(row.data(), cols, bracket[0], bracket[1], got.data(),
                                            capacity, &gotAbove);
          LP_CHECK(gotN == wantN && gotAbove == wantAbove, "count %zu above %zu, want %zu and %zu",
                   gotN, gotAbove, wantN, wantAbove);
          if (gotN == wantN && wantN <= capacity) {
            LP_CHECK(std::memcmp(got.data(), want.data(), wantN * sizeof(uint32_t)) == 0,
                     "the listed indices differ");
          }
          for (size_t i = capacity + lp::kListSlack; i < got.size(); ++i) {
            LP_CHECK(got[i] == 0xDEADBEEFu, "wrote %zu past the capacity", i - capacity);
          }
        }
      }
    }
  }
  // Top-q with this scan, over long rows (32768 entries and more take the
  // bracket): normal values, with NaN and infinities, with ties.
  for (int dist = 0; dist < 3; ++dist) {
    const size_t cols = 40000 + size_t(dist);
    std::vector<T> row(cols);
    for (size_t j = 0; j < cols; ++j) {
      const double u = rng.uniform() + 1e-12;
      const double normal = std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * rng.uniform());
      row[j] = dist == 2 ? T(std::round(normal * 64) / 64) : T(normal);
      if (dist == 1 && rng.below(50) == 0) row[j] = rng.below(2) ? std::numeric_limits<T>::quiet_NaN() : -std::numeric_limits<T>::infinity();
    }
    for (size_t keep : {size_t{1}, cols / 10, cols / 2, cols * 9 / 10}) {
      char ctx[160];
      std::snprintf(ctx, sizeof ctx, "topQRows with %s's listBracket %s dist=%d keep=%zu", isa,
                    typeName(T()), dist, keep);
      gContext = ctx;
      std::vector<T> want(row), got(row);
      refTopQRows(want.data(), 1, cols, keep);
      lp::topQRows(got.data(), 1, cols, keep, k.listBracket);
      expectSame(got.data(), want.data(), cols, "g");
    }
  }
}

int testTable(const char* name) {
  size_t count = 0;
  const lp::KernelTable* const* tables = lp::compiledKernelTables(&count);
  const lp::KernelTable* table = nullptr;
  for (size_t i = 0; i < count; ++i) {
    if (std::strcmp(tables[i]->name, name) == 0) table = tables[i];
  }
  if (table == nullptr) {
    std::fprintf(stderr, "FAIL: table '%s' is not compiled into this build\n", name);
    return 1;
  }
  if (!lp::cpuSupports(*table)) {
    std::printf("SKIP: this CPU does not support %s\n", name);
    return kExitSkip;
  }
  testAllKernels(table->f32);
  testAllKernels(table->f64);
  testListBracket(table->f32, name);
  testListBracket(table->f64, name);
  if (gFailures != 0) {
    std::fprintf(stderr, "FAIL: %s: %d check(s) failed\n", name, gFailures);
    return 1;
  }
  std::printf("OK: %s matches the reference bit for bit\n", name);
  return 0;
}

// ---------------------------------------------------------------------------
// Dispatch.

bool hasAllKernels(const lp::KernelTable& t) {
  return t.f32.rowNormsL2 && t.f32.normalizeRowsL2 && t.f32.renormRowsL2 && t.f32.scaleBias &&
         t.f32.sgdStep && t.f32.adamStep && t.f32.rmspropStep && t.f32.adagradStep &&
         t.f32.fusedStepRows && t.f32.renormRowsL2PerRow && t.f32.memoryFloor &&
         t.f32.normalizeRowsL1 && t.f32.signInPlace && t.f32.clampInPlace &&
         t.f32.frankWolfeStep && t.f32.listBracket &&
         t.f64.rowNormsL2 && t.f64.normalizeRowsL2 && t.f64.renormRowsL2 && t.f64.scaleBias &&
         t.f64.sgdStep && t.f64.adamStep && t.f64.rmspropStep && t.f64.adagradStep &&
         t.f64.fusedStepRows && t.f64.renormRowsL2PerRow && t.f64.memoryFloor &&
         t.f64.normalizeRowsL1 && t.f64.signInPlace && t.f64.clampInPlace &&
         t.f64.frankWolfeStep && t.f64.listBracket;
}

int testDispatch() {
  gContext = "dispatch";
  // Every table is named after what it is.
  struct Expected {
    const lp::KernelTable* table;
    const char* name;
  };
  const Expected expected[] = {
  // In order of preference, as compiledKernelTables lists them (AVX2 before
  // AVX-512: see dispatch.cc).
#if defined(LP_KERNELS_HAVE_WASM_SIMD128)
      {&lp::wasm_simd128::kKernelTable, "wasm-simd128"},
#endif
#if defined(LP_KERNELS_HAVE_AVX2)
      {&lp::avx2::kKernelTable, "avx2"},
#endif
#if defined(LP_KERNELS_HAVE_AVX512)
      {&lp::avx512::kKernelTable, "avx512"},
#endif
#if defined(LP_KERNELS_HAVE_NEON)
      {&lp::neon::kKernelTable, "neon"},
#endif
#if defined(LP_KERNELS_HAVE_SCALAR) && defined(LP_KERNELS_WASM)
      {&lp::scalar::kKernelTable, "wasm"},
#elif defined(LP_KERNELS_HAVE_SCALAR)
      {&lp::scalar::kKernelTable, "scalar"},
#endif
  };
  const size_t expectedCount = sizeof expected / sizeof expected[0];

  size_t count = 0;
  const lp::KernelTable* const* tables = lp::compiledKernelTables(&count);
  LP_CHECK(count == expectedCount, "compiled %zu tables, expected %zu", count, expectedCount);
  for (size_t i = 0; i < count && i < expectedCount; ++i) {
    LP_CHECK(tables[i] == expected[i].table, "table %zu is not the expected one", i);
    LP_CHECK(std::strcmp(tables[i]->name, expected[i].name) == 0, "table %zu is named '%s', not '%s'",
             i, tables[i]->name, expected[i].name);
    LP_CHECK(hasAllKernels(*tables[i]), "table '%s' has a null kernel", tables[i]->name);
  }

  // The baseline table is always supported, and the best one is the first
  // supported one.
  LP_CHECK(lp::cpuSupports(*tables[count - 1]), "baseline table '%s' unsupported",
           tables[count - 1]->name);
  const lp::KernelTable* best = nullptr;
  for (size_t i = 0; i < count && best == nullptr; ++i) {
    if (lp::cpuSupports(*tables[i])) best = tables[i];
  }
  LP_CHECK(&lp::bestKernelTable() == best, "bestKernelTable is '%s'", lp::bestKernelTable().name);

  // findKernelTable finds each supported table by name and explains the rest.
  for (size_t i = 0; i < count; ++i) {
    const char* reason = "unset";
    const lp::KernelTable* found = lp::findKernelTable(tables[i]->name, &reason);
    if (lp::cpuSupports(*tables[i])) {
      LP_CHECK(found == tables[i], "findKernelTable('%s') did not return it", tables[i]->name);
      LP_CHECK(reason == nullptr, "reason set on success: %s", reason ? reason : "");
    } else {
      const std::string want = std::string("this CPU does not support ") + tables[i]->name;
      LP_CHECK(found == nullptr, "findKernelTable('%s') returned an unsupported table",
               tables[i]->name);
      LP_CHECK(reason != nullptr && want == reason, "reason '%s'", reason ? reason : "(null)");
      std::printf("note: this CPU does not support %s\n", tables[i]->name);
    }
  }

  std::string compiledList;  // baseline first, as in the message
  for (size_t i = count; i > 0; --i) {
    compiledList += tables[i - 1]->name;
    if (i > 1) compiledList += ", ";
  }
  const char* unknownNames[] = {"nope", "", "AVX2", "avx2 ", "sse4", "scalar2"};
  for (const char* name : unknownNames) {
    const char* reason = nullptr;
    LP_CHECK(lp::findKernelTable(name, &reason) == nullptr, "findKernelTable('%s') found a table",
             name);
    const std::string want = std::string("unknown ISA '") + name + "'; compiled: " + compiledList;
    LP_CHECK(reason != nullptr && want == reason, "reason '%s', want '%s'",
             reason ? reason : "(null)", want.c_str());
  }
  const char* reason = nullptr;
  LP_CHECK(lp::findKernelTable(nullptr, &reason) == nullptr, "findKernelTable(null) found a table");
  LP_CHECK(reason != nullptr, "no reason for a null name");
  LP_CHECK(lp::findKernelTable("nope", nullptr) == nullptr, "null reason pointer");

  if (gFailures != 0) {
    std::fprintf(stderr, "FAIL: dispatch: %d check(s) failed\n", gFailures);
    return 1;
  }
  std::printf("OK: dispatch (compiled: %s; best: %s)\n", compiledList.c_str(),
              lp::bestKernelTable().name);
  return 0;
}

// ---------------------------------------------------------------------------
// The group step's spec (parseGroupSpec, parseTensorRecord, findOverlap).

int testSpec() {
  gContext = "group spec";
  const InnerCase sgd = innerCases()[0];
  GroupCase gc{true, true, 1e-12, 2.0, true, 0.5, false, 0.8};
  std::vector<double> spec = makeSpec(gc, sgd);
  LP_CHECK(spec.size() == 15, "SGD spec length %zu", spec.size());
  LP_CHECK(lp::groupSpecLength(0) == 15 && lp::groupSpecLength(1) == 17 &&
               lp::groupSpecLength(2) == 16 && lp::groupSpecLength(3) == 12 &&
               lp::groupSpecLength(4) == 10 && lp::groupSpecLength(5) == 0 &&
               lp::groupSpecLength(0.5) == 0 &&
               lp::groupSpecLength(-1) == 0 &&
               lp::groupSpecLength(std::numeric_limits<double>::quiet_NaN()) == 0,
           "groupSpecLength");
  lp::FusedGroup group{};
  lp::SpecProblem problem{};
  LP_CHECK(lp::parseGroupSpec(spec.data(), spec.size(), &group, &problem), "valid spec refused");
  LP_CHECK(group.normalizeGrad && group.project && group.inner == lp::FusedInner::kSgd &&
               group.divByZeroEps == 1e-12 && group.gradScale == 2.0 && group.applyScale &&
               group.gradBias == 0.5 && !group.applyBias && group.maxNorm == 0.8,
           "header read wrongly");
  LP_CHECK(group.sgd.lr == sgd.lr && group.sgd.momentum == sgd.momentum &&
               group.sgd.dampening == sgd.dampening && group.sgd.weightDecay == sgd.weightDecay &&
               group.sgd.nesterov == sgd.nesterov && group.sgd.maximize == sgd.maximize,
           "SGD options read wrongly");

  // Every flag and enum refuses anything but its values.
  const size_t flagEntries[] = {0, 1, 5, 7, 13, 14};
  for (size_t index : flagEntries) {
    // (transform and project also take 2: sign, L-inf clamp)
    for (double bad : {index < 2 ? 3.0 : 2.0, -1.0, 0.5, std::numeric_limits<double>::quiet_NaN()}) {
      std::vector<double> broken = spec;
      broken[index] = bad;
      LP_CHECK(!lp::parseGroupSpec(broken.data(), broken.size(), &group, &problem) &&
                   problem.kind == lp::SpecProblem::kValue && problem.index == index,
               "spec[%zu] = %g accepted (or wrong problem %d at %zu)", index, bad,
               static_cast<int>(problem.kind), problem.index);
    }
  }
  for (double bad : {5.0, -1.0, 1.5, std::numeric_limits<double>::infinity()}) {
    std::vector<double> broken = spec;
    broken[2] = bad;
    LP_CHECK(!lp::parseGroupSpec(broken.data(), broken.size(), &group, &problem) &&
                 problem.kind == lp::SpecProblem::kValue && problem.index == 2,
             "inner %g accepted", bad);
  }
  // The L2 normalisation with the L-inf clamp: no optimizer does it, the kernels refuse it.
  {
    std::vector<double> pair = spec;
    pair[0] = 1.0;
    pair[1] = 2.0;
    LP_CHECK(!lp::parseGroupSpec(pair.data(), pair.size(), &group, &problem) &&
                 problem.kind == lp::SpecProblem::kValue && problem.index == 1,
             "normalize + clamp accepted");
    pair[0] = 2.0;
    LP_CHECK(lp::parseGroupSpec(pair.data(), pair.size(), &group, &problem) && group.signGrad &&
                 group.clamp && !group.normalizeGrad && !group.project,
             "sign + clamp refused or read wrongly");
  }
  // Lengths: too short for the header, and not the inner's.
  LP_CHECK(!lp::parseGroupSpec(spec.data(), 8, &group, &problem) &&
               problem.kind == lp::SpecProblem::kLength &&
               problem.expectedLength == lp::kSpecHeaderLength,
           "short spec accepted");
  LP_CHECK(!lp::parseGroupSpec(spec.data(), 14, &group, &problem) &&
               problem.kind == lp::SpecProblem::kLength && problem.expectedLength == 15,
           "SGD spec of 14 accepted");
  spec.push_back(0);
  LP_CHECK(!lp::parseGroupSpec(spec.data(), spec.size(), &group, &problem) &&
               problem.kind == lp::SpecProblem::kLength,
           "SGD spec of 16 accepted");
  // Each inner's options land in their fields.
  for (const InnerCase& c : innerCases()) {
    const std::vector<double> s = makeSpec(gc, c);
    LP_CHECK(lp::parseGroupSpec(s.data(), s.size(), &group, &problem), "%s refused",
             c.describe().c_str());
    bool same = false;
    switch (c.inner) {
      case lp::FusedInner::kSgd: same = group.sgd.momentum == c.momentum; break;
      case lp::FusedInner::kAdam:
        same = group.adam.lr == c.lr && group.adam.beta1 == c.beta1 &&
               group.adam.beta2 == c.beta2 && group.adam.eps == c.eps &&
               group.adam.weightDecay == c.weightDecay &&
               group.adam.decoupledWeightDecay == c.decoupled && group.adam.amsgrad == c.amsgrad &&
               group.adam.maximize == c.maximize;
        break;
      case lp::FusedInner::kRmsprop:
        same = group.rmsprop.lr == c.lr && group.rmsprop.alpha == c.alpha &&
               group.rmsprop.eps == c.eps && group.rmsprop.weightDecay == c.weightDecay &&
               group.rmsprop.momentum == c.momentum && group.rmsprop.centered == c.centered &&
               group.rmsprop.maximize == c.maximize;
        break;
      case lp::FusedInner::kAdagrad:
        same = group.adagrad.weightDecay == c.weightDecay && group.adagrad.eps == c.eps &&
               group.adagrad.maximize == c.maximize;
        break;
      case lp::FusedInner::kFrankWolfe: same = group.frankWolfe.lmoScale == c.lmoScale; break;
    }
    LP_CHECK(same, "options read wrongly: %s", c.describe().c_str());
    const lp::BufferNeeds needs = lp::groupBufferNeeds(group);
    for (int b = 0; b < 3; ++b) {
      LP_CHECK(needs.needed[b] == c.needs(b), "buffer %d need for %s", b, c.describe().c_str());
    }
  }

  // Tensor records.
  std::vector<double> sgdSpec = makeSpec(gc, sgd);
  lp::parseGroupSpec(sgdSpec.data(), sgdSpec.size(), &group, &problem);
  lp::TensorShape shape{};
  const double good[4] = {3, 5, 1, 0};
  LP_CHECK(lp::parseTensorRecord(group, good, SIZE_MAX, &shape, &problem) && shape.rows == 3 &&
               shape.cols == 5 && shape.count == 15,
           "valid record refused");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double badRecords[][4] = {{-1, 5, 0, 0}, {1.5, 5, 0, 0}, {nan, 5, 0, 0},
                                  {3, 1e300, 0, 0}, {3, 5, 2, 0}, {3, 5, 0.5, 0}};
  const size_t badIndex[] = {0, 0, 0, 1, 2, 2};
  for (size_t i = 0; i < 6; ++i) {
    LP_CHECK(!lp::parseTensorRecord(group, badRecords[i], SIZE_MAX, &shape, &problem) &&
                 problem.kind == lp::SpecProblem::kValue && problem.index == badIndex[i],
             "bad record %zu accepted", i);
  }
  const double big[4] = {65536, 65537, 0, 0};
  LP_CHECK(!lp::parseTensorRecord(group, big, UINT32_MAX, &shape, &problem) &&
               problem.kind == lp::SpecProblem::kTooLarge,
           "record over the count limit accepted");
  LP_CHECK(lp::parseTensorRecord(group, big, SIZE_MAX, &shape, &problem), "64-bit count refused");

  // Overlaps: written spans pairwise; a read span only against written ones.
  lp::MemorySpan first{}, second{};
  lp::MemorySpan w1[] = {{100, 200, 0, 0}, {300, 400, 0, 1}, {200, 300, 1, 0}, {50, 50, 1, 1}};
  LP_CHECK(!lp::findOverlap(w1, 4, nullptr, 0, &first, &second), "touching spans overlap");
  lp::MemorySpan w2[] = {{100, 200, 0, 0}, {300, 400, 0, 1}, {150, 160, 1, 0}};
  LP_CHECK(lp::findOverlap(w2, 3, nullptr, 0, &first, &second) && first.begin == 100 &&
               second.begin == 150,
           "nested spans not found");
  lp::MemorySpan w3[] = {{100, 200, 0, 0}, {300, 400, 0, 1}};
  const lp::MemorySpan r1[] = {{200, 300, 0, 5}, {250, 260, 1, 5}, {0, 100, 2, 5}};
  LP_CHECK(!lp::findOverlap(w3, 2, r1, 3, &first, &second), "read spans in the gaps overlap");
  lp::MemorySpan w4[] = {{100, 200, 0, 0}, {300, 400, 0, 1}};
  const lp::MemorySpan r2[] = {{200, 300, 0, 5}, {399, 500, 1, 5}};
  LP_CHECK(lp::findOverlap(w4, 2, r2, 2, &first, &second) && first.begin == 300 &&
               second.begin == 399,
           "read span over a written one not found");
  lp::MemorySpan w5[] = {{100, 200, 0, 0}};
  const lp::MemorySpan r3[] = {{0, 1000, 0, 5}};
  LP_CHECK(lp::findOverlap(w5, 1, r3, 1, &first, &second), "read span around a written one");
  const lp::MemorySpan r4[] = {{0, 1000, 0, 5}, {0, 1000, 1, 5}};
  LP_CHECK(!lp::findOverlap(w5, 0, r4, 2, &first, &second), "read spans may share");

  LP_CHECK(lp::validMaxNorm(0.0) && lp::validMaxNorm(-0.0) && lp::validMaxNorm(1e308) &&
               !lp::validMaxNorm(-1e-300) && !lp::validMaxNorm(nan) &&
               lp::validMaxNorm(std::numeric_limits<double>::infinity()) &&
               !lp::validMaxNorm(-std::numeric_limits<double>::infinity()),
           "validMaxNorm");

  if (gFailures != 0) {
    std::fprintf(stderr, "FAIL: group spec: %d check(s) failed\n", gFailures);
    return 1;
  }
  std::printf("OK: group spec\n");
  return 0;
}

// ---------------------------------------------------------------------------
// Threads: the worker pool, and the group step on 1 and on 4 threads.

struct CountingJob {
  std::vector<std::atomic<int>>* hits;
  static void run(void* context, size_t i) {
    (*static_cast<CountingJob*>(context)->hits)[i].fetch_add(1, std::memory_order_relaxed);
  }
};

void testPool() {
  gContext = "ThreadPool";
  lp::ThreadPool pool(4);
  LP_CHECK(pool.threads() == 4, "threads() = %zu", pool.threads());
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{100}, size_t{10000}}) {
    for (size_t maxThreads : {size_t{1}, size_t{2}, size_t{4}, size_t{64}}) {
      std::vector<std::atomic<int>> hits(count);
      for (auto& h : hits) h.store(0);
      CountingJob job{&hits};
      pool.run(count, maxThreads, &CountingJob::run, &job);
      for (size_t i = 0; i < count; ++i) {
        LP_CHECK(hits[i].load() == 1, "count %zu maxThreads %zu: index %zu ran %d times", count,
                 maxThreads, i, hits[i].load());
      }
    }
  }
  // Two callers at once: the second runs alone, both complete.
  std::vector<std::atomic<int>> a(5000), b(5000);
  for (auto& h : a) h.store(0);
  for (auto& h : b) h.store(0);
  CountingJob ja{&a}, jb{&b};
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) pool.run(100, 4, &CountingJob::run, &jb);
  });
  for (int i = 0; i < 50; ++i) pool.run(100, 4, &CountingJob::run, &ja);
  other.join();
  for (size_t i = 0; i < 100; ++i) {
    LP_CHECK(a[i].load() == 50 && b[i].load() == 50, "concurrent runs: index %zu ran %d/%d times",
             i, a[i].load(), b[i].load());
  }
  // Resizing down and up between runs; sleeping workers wake for a job.
  for (size_t threads : {size_t{1}, size_t{3}, size_t{2}, size_t{0}, size_t{5000}, size_t{4}}) {
    pool.setThreads(threads);
    std::vector<std::atomic<int>> hits(257);
    for (auto& h : hits) h.store(0);
    CountingJob job{&hits};
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    pool.run(hits.size(), 8, &CountingJob::run, &job);
    for (size_t i = 0; i < hits.size(); ++i) {
      LP_CHECK(hits[i].load() == 1, "after setThreads(%zu): index %zu ran %d times", threads, i,
               hits[i].load());
    }
  }
  LP_CHECK(pool.threads() == 4, "threads() = %zu after resizing", pool.threads());

  // The workers really take part (also workers just started for the job, and
  // after sleeping): each task waits, up to 10 s, until a second thread has
  // shown up, so a pool that never hands out work fails, however loaded the
  // machine is.
  struct WaitingJob {
    std::mutex mutex;
    std::vector<std::thread::id> distinct;
    size_t tasks = 0;
    static void run(void* context, size_t) {
      WaitingJob& job = *static_cast<WaitingJob*>(context);
      {
        std::lock_guard<std::mutex> lock(job.mutex);
        ++job.tasks;
        bool seen = false;
        for (const std::thread::id& d : job.distinct) seen = seen || d == std::this_thread::get_id();
        if (!seen) job.distinct.push_back(std::this_thread::get_id());
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        {
          std::lock_guard<std::mutex> lock(job.mutex);
          if (job.distinct.size() > 1) return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  };
  for (size_t threads : {size_t{2}, size_t{4}}) {
    for (int round = 0; round < 3; ++round) {
      if (round == 0) pool.setThreads(threads);  // fresh workers
      if (round == 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // asleep
      WaitingJob job;
      pool.run(16, threads, &WaitingJob::run, &job);
      LP_CHECK(job.tasks == 16 && job.distinct.size() > 1 && job.distinct.size() <= threads,
               "threads %zu round %d: %zu tasks ran on %zu threads", threads, round, job.tasks,
               job.distinct.size());
    }
  }
  pool.setThreads(4);
}

// One tensor of a threaded group: float or double, with its unfused twin.
struct ThreadTensor {
  bool f64;
  size_t rows, cols;
  std::vector<float> f[2][5];   // [run][p, g, buf0, buf1, buf2]
  std::vector<double> d[2][5];
  std::vector<float> wantF[5];
  std::vector<double> wantD[5];
  std::vector<double> maxNorms;
};

// Values in [-2, 2) (or [0, 2)), with about one in a thousand special.
template <typename T>
std::vector<T> randomValues(Rng& rng, size_t n, bool nonNegative, bool specials) {
  std::vector<T> x(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t bits = rng.next();
    T v = static_cast<T>(static_cast<double>(bits >> 11) * (4.0 / 9007199254740992.0) - 2.0);
    if (nonNegative && v < T(0)) v = -v;
    if (specials && (bits & 1023) == 0) v = specialValue<T>(rng);
    x[i] = v;
  }
  return x;
}

template <typename T>
T* slotData(std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

void testGroupThreads(const lp::KernelTable& table) {
  lp::ThreadPool pool(4);
  Rng rng{2024};
  // Shapes: big and small, float and double, some empty: the group (about
  // 845K elements, over kParallelMinElements) runs in parallel and mixes
  // shares of one big tensor with shares of several small ones.
  const struct {
    size_t rows, cols;
    bool f64;
  } shapes[] = {{64, 5000, false}, {3, 70001, false}, {1000, 1, false},  {0, 5, false},
                {7, 0, true},      {300, 17, true},   {2, 150000, true}, {1, 33, false},
                {9, 1000, false}};
  const size_t count = sizeof shapes / sizeof shapes[0];
  std::vector<InnerCase> cases;
  for (const InnerCase& c : innerCases()) {
    const bool wanted = (c.inner == lp::FusedInner::kSgd && c.momentum == 0.9 && c.nesterov) ||
                        (c.inner == lp::FusedInner::kAdam && c.amsgrad && c.decoupled) ||
                        (c.inner == lp::FusedInner::kRmsprop && c.centered && c.momentum > 0) ||
                        (c.inner == lp::FusedInner::kAdagrad && c.weightDecay != 0);
    if (wanted) cases.push_back(c);
  }
  for (const InnerCase& c : cases) {
    for (int flags = 0; flags < 5; ++flags) {
      // Every flag pair with SGD; none and both with the others; and (4) the
      // sign with the L-inf clamp with SGD. Without a norm, tensors whose rows
      // are longer than a share are cut inside rows (those without per-row
      // radii when clamping).
      if (c.inner != lp::FusedInner::kSgd && (flags == 1 || flags == 2 || flags == 4)) continue;
      GroupCase gc{(flags & 1) != 0, (flags & 2) != 0, 1e-12, 1.5, true, 0.01, flags == 3, 20.0};
      gc.sign = gc.clamp = flags == 4;
      const lp::FusedGroup group = parsedGroup(gc, c);
      char ctx[384];
      std::snprintf(ctx, sizeof ctx, "group step on threads (%s) normalize=%d project=%d sign=%d clamp=%d %s",
                    table.name, gc.normalize, gc.project, gc.sign, gc.clamp, c.describe().c_str());
      gContext = ctx;
      std::vector<ThreadTensor> ts(count);
      for (size_t i = 0; i < count; ++i) {
        ThreadTensor& t = ts[i];
        t.f64 = shapes[i].f64;
        t.rows = shapes[i].rows;
        t.cols = shapes[i].cols;
        const size_t n = t.rows * t.cols;
        for (int s = 0; s < 5; ++s) {
          const bool nonNegative = s >= 3;
          if (t.f64) {
            t.wantD[s] = randomValues<double>(rng, n, nonNegative, s < 2);
            t.d[0][s] = t.d[1][s] = t.wantD[s];
          } else {
            t.wantF[s] = randomValues<float>(rng, n, nonNegative, s < 2);
            t.f[0][s] = t.f[1][s] = t.wantF[s];
          }
        }
        if (i % 2 == 0) {  // per-row radii on every other tensor
          for (size_t r = 0; r < t.rows; ++r) t.maxNorms.push_back(rng.uniform() * 40.0);
        }
      }
      for (int step = 1; step <= kSteps; ++step) {
        double s0 = 0, s1 = 0;
        c.stepScalars(step, &s0, &s1);
        std::vector<lp::GroupTensor> group1(count), group4(count);
        for (size_t i = 0; i < count; ++i) {
          ThreadTensor& t = ts[i];
          const size_t n = t.rows * t.cols;
          // The same new gradient on all three sides.
          if (t.f64) {
            std::vector<double> g = randomValues<double>(rng, n, false, true);
            t.d[0][1] = t.d[1][1] = t.wantD[1] = g;
          } else {
            std::vector<float> g = randomValues<float>(rng, n, false, true);
            t.f[0][1] = t.f[1][1] = t.wantF[1] = g;
          }
          const double* radii = t.maxNorms.empty() ? nullptr : t.maxNorms.data();
          for (int run = 0; run < 2; ++run) {
            lp::GroupTensor& gt = run == 0 ? group1[i] : group4[i];
            void* a[5];
            for (int s = 0; s < 5; ++s) {
              a[s] = t.f64 ? static_cast<void*>(slotData(t.d[run][s]))
                           : static_cast<void*>(slotData(t.f[run][s]));
            }
            gt = lp::GroupTensor{t.f64,
                                 a[0],
                                 a[1],
                                 {c.needs(0) ? a[2] : nullptr, c.needs(1) ? a[3] : nullptr,
                                  c.needs(2) ? a[4] : nullptr},
                                 radii,
                                 t.rows,
                                 t.cols,
                                 s0,
                                 s1};
          }
          if (t.f64) {
            double* bufs[3] = {slotData(t.wantD[2]), slotData(t.wantD[3]), slotData(t.wantD[4])};
            unfusedStep(table.f64, gc, c, slotData(t.wantD[0]), slotData(t.wantD[1]), bufs, radii,
                        t.rows, t.cols, s0, s1);
          } else {
            float* bufs[3] = {slotData(t.wantF[2]), slotData(t.wantF[3]), slotData(t.wantF[4])};
            unfusedStep(table.f32, gc, c, slotData(t.wantF[0]), slotData(t.wantF[1]), bufs, radii,
                        t.rows, t.cols, s0, s1);
          }
        }
        lp::runGroupStep(table, group, group1.data(), count, &pool, 1);
        lp::runGroupStep(table, group, group4.data(), count, &pool, 4);
        for (size_t i = 0; i < count; ++i) {
          ThreadTensor& t = ts[i];
          for (int s = 0; s < 5; ++s) {
            char what[96];
            std::snprintf(what, sizeof what, "tensor %zu array %d step %d (1 thread vs unfused)", i,
                          s, step);
            if (t.f64) {
              expectSame(t.d[0][s].data(), t.wantD[s].data(), t.wantD[s].size(), what);
            } else {
              expectSame(t.f[0][s].data(), t.wantF[s].data(), t.wantF[s].size(), what);
            }
            std::snprintf(what, sizeof what, "tensor %zu array %d step %d (4 threads vs 1)", i, s,
                          step);
            // Exact bits, NaN payloads included: the same code ran on each element.
            const size_t bytes = t.rows * t.cols * (t.f64 ? sizeof(double) : sizeof(float));
            const void* one = t.f64 ? static_cast<const void*>(t.d[0][s].data())
                                    : static_cast<const void*>(t.f[0][s].data());
            const void* four = t.f64 ? static_cast<const void*>(t.d[1][s].data())
                                     : static_cast<const void*>(t.f[1][s].data());
            const bool same = bytes == 0 || std::memcmp(one, four, bytes) == 0;
            LP_CHECK(same, "%s differ", what);
          }
        }
      }
    }
  }
}

// runRowShares: every row exactly once, in shares of whole rows; small
// arrays and one thread on the calling thread in one call.
void testRowShares() {
  lp::ThreadPool pool(4);
  struct Visits {
    std::vector<std::atomic<int>> rows;
    std::atomic<int> calls{0};
    explicit Visits(size_t n) : rows(n) {}
  };
  const struct {
    size_t rows, cols, threads;
    bool split;  // expected in more than one call
  } cases[] = {{4, 120000, 4, true}, {1000, 300, 4, true},  {4, 70001, 2, true},
               {1, 500000, 4, false}, {64, 100, 4, false}, {512, 1024, 1, false},
               {0, 9, 4, false},      {5, 0, 4, false}};
  for (const auto& c : cases) {
    Visits visits(c.rows);
    lp::runRowShares(c.rows, c.cols, &pool, c.threads,
                     [](void* context, size_t begin, size_t end) {
                       Visits& v = *static_cast<Visits*>(context);
                       v.calls.fetch_add(1);
                       for (size_t r = begin; r < end; ++r) v.rows[r].fetch_add(1);
                     },
                     &visits);
    char what[96];
    std::snprintf(what, sizeof what, "runRowShares rows=%zu cols=%zu threads=%zu", c.rows, c.cols, c.threads);
    gContext = what;
    for (size_t r = 0; r < c.rows; ++r) LP_CHECK(visits.rows[r].load() == 1, "row %zu visited %d times", r, visits.rows[r].load());
    LP_CHECK((visits.calls.load() > 1) == c.split, "%d calls", visits.calls.load());
  }
}

int testThreads() {
  testPool();
  testRowShares();
  // The best table and the baseline (every table's fused kernel is checked
  // against its unfused kernels by --isa; this is about the threads).
  size_t tableCount = 0;
  const lp::KernelTable* const* tables = lp::compiledKernelTables(&tableCount);
  const lp::KernelTable& best = lp::bestKernelTable();
  const lp::KernelTable& baseline = *tables[tableCount - 1];
  testGroupThreads(best);
  std::string tested = best.name;
  if (&baseline != &best) {
    testGroupThreads(baseline);
    tested += std::string(", ") + baseline.name;
  }
  if (gFailures != 0) {
    std::fprintf(stderr, "FAIL: threads: %d check(s) failed\n", gFailures);
    return 1;
  }
  std::printf("OK: thread pool; group steps on 1 and 4 threads agree bit for bit (%s)\n",
              tested.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--isa") == 0) return testTable(argv[2]);
  if (argc == 2 && std::strcmp(argv[1], "--dispatch") == 0) return testDispatch();
  if (argc == 2 && std::strcmp(argv[1], "--spec") == 0) return testSpec();
  if (argc == 2 && std::strcmp(argv[1], "--threads") == 0) return testThreads();
  if (argc == 2 && std::strcmp(argv[1], "--selection") == 0) return testSelectionKernels();
  std::fprintf(stderr, "usage: %s --isa <name> | --dispatch | --spec | --threads | --selection\n",
               argv[0]);
  return 2;
}

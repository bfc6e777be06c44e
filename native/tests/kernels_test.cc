// SPDX-License-Identifier: MIT
// Unit tests: each kernel table against a plain scalar reference written here
// from the arithmetic rules (bit for bit), and the table dispatch.
//
//   kernels_test --isa <name>   test one table (exit 77 = skipped: CPU lacks it)
//   kernels_test --dispatch     test compiledKernelTables / findKernelTable / ...
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../kernels/kernel_tables.h"
#include "../kernels/kernels.h"

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
    for (size_t j = 0; j < cols; ++j) g[r * cols + j] = g[r * cols + j] / d;
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
    if (o.weightDecay != 0) d = d + static_cast<T>(o.weightDecay) * p[i];
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
      d = d + static_cast<T>(o.weightDecay) * p[i];
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
    if (o.weightDecay != 0) d = d + static_cast<T>(o.weightDecay) * p[i];
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
    if (o.weightDecay != 0) d = d + static_cast<T>(o.weightDecay) * p[i];
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

// An array with guard elements on both sides and its data one element past an
// aligned address (so the kernels see unaligned vectors and we see any write
// outside [data, data + n)).
template <typename T>
class Guarded {
 public:
  explicit Guarded(size_t n) : n_(n), storage_(n + 2 * kGuard + 1) {
    for (T& v : storage_) v = guardValue();
  }
  T* data() { return storage_.data() + kGuard + 1; }
  const T* data() const { return storage_.data() + kGuard + 1; }
  size_t size() const { return n_; }
  bool guardsIntact() const {
    const T g = guardValue();
    for (size_t i = 0; i < kGuard + 1; ++i) {
      if (std::memcmp(&storage_[i], &g, sizeof(T)) != 0) return false;
    }
    for (size_t i = kGuard + 1 + n_; i < storage_.size(); ++i) {
      if (std::memcmp(&storage_[i], &g, sizeof(T)) != 0) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kGuard = 64;
  static T guardValue() { return static_cast<T>(-12345.5); }
  size_t n_;
  std::vector<T> storage_;
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
  Tracked(const char* name, const std::vector<T>& init)
      : name_(name), got_(init.size()), want_(init) {
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

template <typename T>
void testAllKernels(const lp::KernelsFor<T>& k) {
  Rng rng{sizeof(T) * 7919u};
  testRowKernels(k, rng);
  testScaleBias(k, rng);
  testSgd(k, rng);
  testAdam(k, rng);
  testRmsprop(k, rng);
  testAdagrad(k, rng);
  testAmsgradMax(k);
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
         t.f64.rowNormsL2 && t.f64.normalizeRowsL2 && t.f64.renormRowsL2 && t.f64.scaleBias &&
         t.f64.sgdStep && t.f64.adamStep && t.f64.rmspropStep && t.f64.adagradStep;
}

int testDispatch() {
  gContext = "dispatch";
  // Every table is named after what it is.
  struct Expected {
    const lp::KernelTable* table;
    const char* name;
  };
  const Expected expected[] = {
  // Best first, as compiledKernelTables lists them.
#if defined(LP_KERNELS_HAVE_WASM_SIMD128)
      {&lp::wasm_simd128::kKernelTable, "wasm-simd128"},
#endif
#if defined(LP_KERNELS_HAVE_AVX512)
      {&lp::avx512::kKernelTable, "avx512"},
#endif
#if defined(LP_KERNELS_HAVE_AVX2)
      {&lp::avx2::kKernelTable, "avx2"},
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

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--isa") == 0) return testTable(argv[2]);
  if (argc == 2 && std::strcmp(argv[1], "--dispatch") == 0) return testDispatch();
  std::fprintf(stderr, "usage: %s --isa <name> | --dispatch\n", argv[0]);
  return 2;
}

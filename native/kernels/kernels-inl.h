// SPDX-License-Identifier: MIT
// The kernel bodies, written once against the per-ISA Vec<T> wrapper and
// compiled once per ISA inside namespace lp::LP_ISA.
//
// Include exactly once, from a kernels_<isa>.cc that first defines LP_ISA
// (the namespace) and LP_ISA_NAME (the table name) and includes its
// simd/<isa>.h. There is deliberately no include guard.
//
// Everything here lives in lp::LP_ISA (most of it in an anonymous namespace
// there): code compiled with -mavx2 must never be shared, through the linker's
// merging of inline functions, with code that runs on CPUs without AVX2. That
// is also why nothing from <cmath> or <algorithm> is called.
#if !defined(LP_ISA) || !defined(LP_ISA_NAME)
#error "define LP_ISA and LP_ISA_NAME and include the matching simd/<isa>.h first"
#endif

#include <cstddef>

#include "kernel_tables.h"

#if defined(_MSC_VER) && !defined(__clang__)
// MSVC has no __builtin_sqrt; its C sqrt(double) is an extern CRT function
// (an intrinsic under /Oi), not an inline function that could be merged.
#include <math.h>
#define LP_SQRT(x) sqrt(x)
#define LP_SQRTF(x) sqrtf(x)
#else
#define LP_SQRT(x) __builtin_sqrt(x)
#define LP_SQRTF(x) __builtin_sqrtf(x)
#endif

namespace lp {
namespace LP_ISA {
namespace {

// The correctly rounded square root in T (sqrtss / sqrtsd, f32.sqrt / f64.sqrt).
inline float sqrtT(float x) { return LP_SQRTF(x); }
inline double sqrtT(double x) { return LP_SQRT(x); }

// One element at a time, with the same operations as Vec<T>: used for the
// tails, so a tail element is computed exactly like a vector element.
template <typename T>
struct One {
  using Reg = T;
  static constexpr size_t kWidth = 1;

  static inline Reg load(const T* p) { return *p; }
  static inline void store(T* p, Reg v) { *p = v; }
  static inline Reg set1(T x) { return x; }
  static inline Reg add(Reg a, Reg b) { return a + b; }
  static inline Reg sub(Reg a, Reg b) { return a - b; }
  static inline Reg mul(Reg a, Reg b) { return a * b; }
  static inline Reg div(Reg a, Reg b) { return a / b; }
  static inline Reg neg(Reg a) { return -a; }
  static inline Reg sqrt(Reg a) { return sqrtT(a); }
  // NaN-propagating (a NaN in either operand is the result), like torch.maximum
  // and every Vec<T>::max.
  static inline Reg max(Reg a, Reg b) { return (a < b || b != b) ? b : a; }
};

// Runs op.run<V>(i) on full vectors, then op.run<One<T>>(i) on the rest.
template <typename T, typename Op>
inline void forEachElement(size_t n, const Op& op) {
  constexpr size_t kWidth = Vec<T>::kWidth;
  size_t i = 0;
  for (; n - i >= kWidth; i += kWidth) op.template run<Vec<T>>(i);
  for (; i < n; ++i) op.template run<One<T>>(i);
}

// The fixed-order sum of squares of one row (see kReductionLanes), in T:
// blocks of 16 elements go to 16 lanes held in 16 / kWidth registers, the
// tail to lanes 0.., then the lanes are combined pairwise in a fixed tree.
template <typename T>
inline T rowSumSquares(const T* x, size_t cols) {
  using V = Vec<T>;
  constexpr size_t kRegs = kReductionLanes / V::kWidth;
  static_assert(kReductionLanes % V::kWidth == 0, "a vector must hold a whole number of lanes");
  typename V::Reg acc[kRegs];
  for (size_t r = 0; r < kRegs; ++r) acc[r] = V::set1(T(0));
  size_t j = 0;
  for (; cols - j >= kReductionLanes; j += kReductionLanes) {
    for (size_t r = 0; r < kRegs; ++r) {
      const typename V::Reg v = V::load(x + j + r * V::kWidth);
      acc[r] = V::add(acc[r], V::mul(v, v));
    }
  }
  T lane[kReductionLanes];
  for (size_t r = 0; r < kRegs; ++r) V::store(lane + r * V::kWidth, acc[r]);
  for (size_t k = 0; j < cols; ++j, ++k) lane[k] = lane[k] + x[j] * x[j];
  for (size_t h = kReductionLanes / 2; h > 0; h /= 2) {
    for (size_t i = 0; i < h; ++i) lane[i] = lane[i] + lane[i + h];
  }
  return lane[0];
}

// sqrt in double, rounded once to T: the correctly rounded square root in T.
template <typename T>
inline T rowNorm(const T* x, size_t cols) {
  return static_cast<T>(LP_SQRT(static_cast<double>(rowSumSquares(x, cols))));
}

template <typename T>
struct DivideBy {
  T* g;
  T divisor;
  template <typename O>
  inline void run(size_t i) const {
    O::store(g + i, O::div(O::load(g + i), O::set1(divisor)));
  }
};

template <typename T>
struct MultiplyBy {
  T* p;
  T factor;
  template <typename O>
  inline void run(size_t i) const {
    O::store(p + i, O::mul(O::load(p + i), O::set1(factor)));
  }
};

template <typename T, bool kScale, bool kBias>
struct ScaleBiasOp {
  T* g;
  T scale;
  T bias;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg v = O::load(g + i);
    if (kScale) v = O::mul(v, O::set1(scale));
    if (kBias) v = O::add(v, O::set1(bias));
    O::store(g + i, v);
  }
};

enum MomentumMode { kNoMomentum, kFirstMomentumStep, kMomentumUpdate };

template <typename T>
struct SgdConstants {
  T weightDecay;
  T momentum;
  T oneMinusDampening;
  T negLr;
};

// torch 1.13 _single_tensor_sgd for one element / one vector, with every
// option branch resolved at compile time.
template <typename T, bool kMaximize, bool kDecay, MomentumMode kMomentum, bool kNesterov>
struct SgdOp {
  T* p;
  const T* g;
  T* buf;
  SgdConstants<T> c;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg d = O::load(g + i);
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(p + i);
    if (kDecay) d = O::add(d, O::mul(O::set1(c.weightDecay), param));
    if (kMomentum != kNoMomentum) {
      typename O::Reg b = d;
      if (kMomentum == kMomentumUpdate) {
        b = O::add(O::mul(O::load(buf + i), O::set1(c.momentum)),
                   O::mul(O::set1(c.oneMinusDampening), d));
      }
      O::store(buf + i, b);
      d = kNesterov ? O::add(d, O::mul(O::set1(c.momentum), b)) : b;
    }
    O::store(p + i, O::add(param, O::mul(O::set1(c.negLr), d)));
  }
};

template <typename T, bool kMaximize, bool kDecay, MomentumMode kMomentum, bool kNesterov>
inline void sgdRun(T* p, const T* g, T* buf, size_t n, const SgdConstants<T>& c) {
  forEachElement<T>(n, SgdOp<T, kMaximize, kDecay, kMomentum, kNesterov>{p, g, buf, c});
}

template <typename T, bool kMaximize, bool kDecay>
inline void sgdPickMomentum(T* p, const T* g, T* buf, size_t n, const SgdConstants<T>& c,
                            bool momentum, bool nesterov, bool bufferInitialized) {
  if (!momentum) {
    sgdRun<T, kMaximize, kDecay, kNoMomentum, false>(p, g, buf, n, c);
  } else if (!bufferInitialized) {
    if (nesterov) {
      sgdRun<T, kMaximize, kDecay, kFirstMomentumStep, true>(p, g, buf, n, c);
    } else {
      sgdRun<T, kMaximize, kDecay, kFirstMomentumStep, false>(p, g, buf, n, c);
    }
  } else if (nesterov) {
    sgdRun<T, kMaximize, kDecay, kMomentumUpdate, true>(p, g, buf, n, c);
  } else {
    sgdRun<T, kMaximize, kDecay, kMomentumUpdate, false>(p, g, buf, n, c);
  }
}

// How weight decay enters Adam: not at all, as an L2 term added to the
// gradient (Adam), or by shrinking the parameter first (AdamW).
enum DecayMode { kNoDecay, kL2Decay, kDecoupledDecay };

// The arrays and the options (each already rounded to T) of one Adam step.
template <typename T>
struct AdamData {
  T* p;
  const T* g;
  T* expAvg;
  T* expAvgSq;
  T* maxExpAvgSq;  // null unless amsgrad
  T weightDecay;
  T decoupledFactor;  // T(1 - lr * weightDecay), the product in double
  T beta1;
  T oneMinusBeta1;
  T beta2;
  T oneMinusBeta2;
  T biasCorrection2Sqrt;
  T eps;
  T negStepSize;
};

// torch 1.13 _single_tensor_adam for one element / one vector.
template <typename T, bool kMaximize, DecayMode kDecay, bool kAmsgrad>
struct AdamOp {
  AdamData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg d = O::load(a.g + i);
    if (kMaximize) d = O::neg(d);
    typename O::Reg param = O::load(a.p + i);
    if (kDecay == kDecoupledDecay) param = O::mul(param, O::set1(a.decoupledFactor));
    if (kDecay == kL2Decay) d = O::add(d, O::mul(O::set1(a.weightDecay), param));
    const typename O::Reg m = O::add(O::mul(O::load(a.expAvg + i), O::set1(a.beta1)),
                                     O::mul(O::set1(a.oneMinusBeta1), d));
    O::store(a.expAvg + i, m);
    const typename O::Reg v = O::add(O::mul(O::load(a.expAvgSq + i), O::set1(a.beta2)),
                                     O::mul(O::mul(O::set1(a.oneMinusBeta2), d), d));
    O::store(a.expAvgSq + i, v);
    typename O::Reg vHat = v;
    if (kAmsgrad) {
      vHat = O::max(O::load(a.maxExpAvgSq + i), v);
      O::store(a.maxExpAvgSq + i, vHat);
    }
    const typename O::Reg denom =
        O::add(O::div(O::sqrt(vHat), O::set1(a.biasCorrection2Sqrt)), O::set1(a.eps));
    O::store(a.p + i, O::add(param, O::div(O::mul(O::set1(a.negStepSize), m), denom)));
  }
};

template <typename T, bool kMaximize, DecayMode kDecay>
inline void adamPickAmsgrad(const AdamData<T>& a, size_t n, bool amsgrad) {
  if (amsgrad) {
    forEachElement<T>(n, AdamOp<T, kMaximize, kDecay, true>{a});
  } else {
    forEachElement<T>(n, AdamOp<T, kMaximize, kDecay, false>{a});
  }
}

template <typename T, bool kMaximize>
inline void adamPickDecay(const AdamData<T>& a, size_t n, DecayMode decay, bool amsgrad) {
  switch (decay) {
    case kNoDecay: adamPickAmsgrad<T, kMaximize, kNoDecay>(a, n, amsgrad); break;
    case kL2Decay: adamPickAmsgrad<T, kMaximize, kL2Decay>(a, n, amsgrad); break;
    case kDecoupledDecay: adamPickAmsgrad<T, kMaximize, kDecoupledDecay>(a, n, amsgrad); break;
  }
}

// The arrays and the options (each already rounded to T) of one RMSprop step.
template <typename T>
struct RmspropData {
  T* p;
  const T* g;
  T* squareAvg;
  T* gradAvg;         // null unless centered
  T* momentumBuffer;  // null unless momentum > 0
  T weightDecay;
  T alpha;
  T oneMinusAlpha;
  T eps;
  T momentum;
  T negLr;
};

// torch 1.13 _single_tensor_rmsprop for one element / one vector.
template <typename T, bool kMaximize, bool kDecay, bool kCentered, bool kMomentum>
struct RmspropOp {
  RmspropData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg d = O::load(a.g + i);
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(a.p + i);
    if (kDecay) d = O::add(d, O::mul(O::set1(a.weightDecay), param));
    const typename O::Reg sq = O::add(O::mul(O::load(a.squareAvg + i), O::set1(a.alpha)),
                                      O::mul(O::mul(O::set1(a.oneMinusAlpha), d), d));
    O::store(a.squareAvg + i, sq);
    typename O::Reg avg;
    if (kCentered) {
      const typename O::Reg ga = O::add(O::mul(O::load(a.gradAvg + i), O::set1(a.alpha)),
                                        O::mul(O::set1(a.oneMinusAlpha), d));
      O::store(a.gradAvg + i, ga);
      avg = O::sqrt(O::add(sq, O::mul(O::neg(ga), ga)));
    } else {
      avg = O::sqrt(sq);
    }
    avg = O::add(avg, O::set1(a.eps));
    if (kMomentum) {
      const typename O::Reg b =
          O::add(O::mul(O::load(a.momentumBuffer + i), O::set1(a.momentum)), O::div(d, avg));
      O::store(a.momentumBuffer + i, b);
      O::store(a.p + i, O::add(param, O::mul(O::set1(a.negLr), b)));
    } else {
      O::store(a.p + i, O::add(param, O::div(O::mul(O::set1(a.negLr), d), avg)));
    }
  }
};

template <typename T, bool kMaximize, bool kDecay, bool kCentered>
inline void rmspropPickMomentum(const RmspropData<T>& a, size_t n, bool momentum) {
  if (momentum) {
    forEachElement<T>(n, RmspropOp<T, kMaximize, kDecay, kCentered, true>{a});
  } else {
    forEachElement<T>(n, RmspropOp<T, kMaximize, kDecay, kCentered, false>{a});
  }
}

template <typename T, bool kMaximize, bool kDecay>
inline void rmspropPickCentered(const RmspropData<T>& a, size_t n, bool centered, bool momentum) {
  if (centered) {
    rmspropPickMomentum<T, kMaximize, kDecay, true>(a, n, momentum);
  } else {
    rmspropPickMomentum<T, kMaximize, kDecay, false>(a, n, momentum);
  }
}

template <typename T, bool kMaximize>
inline void rmspropPickDecay(const RmspropData<T>& a, size_t n, bool decay, bool centered,
                             bool momentum) {
  if (decay) {
    rmspropPickCentered<T, kMaximize, true>(a, n, centered, momentum);
  } else {
    rmspropPickCentered<T, kMaximize, false>(a, n, centered, momentum);
  }
}

// The arrays and the options (each already rounded to T) of one Adagrad step.
template <typename T>
struct AdagradData {
  T* p;
  const T* g;
  T* sum;
  T weightDecay;
  T eps;
  T negClr;
};

// torch 1.13 _single_tensor_adagrad (dense gradients) for one element / one vector.
template <typename T, bool kMaximize, bool kDecay>
struct AdagradOp {
  AdagradData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg d = O::load(a.g + i);
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(a.p + i);
    if (kDecay) d = O::add(d, O::mul(O::set1(a.weightDecay), param));
    const typename O::Reg s = O::add(O::load(a.sum + i), O::mul(d, d));
    O::store(a.sum + i, s);
    const typename O::Reg denom = O::add(O::sqrt(s), O::set1(a.eps));  // torch's "std"
    O::store(a.p + i, O::add(param, O::div(O::mul(O::set1(a.negClr), d), denom)));
  }
};

template <typename T, bool kMaximize>
inline void adagradPickDecay(const AdagradData<T>& a, size_t n, bool decay) {
  if (decay) {
    forEachElement<T>(n, AdagradOp<T, kMaximize, true>{a});
  } else {
    forEachElement<T>(n, AdagradOp<T, kMaximize, false>{a});
  }
}

// ---- the kernels of KernelsFor<T> ----

template <typename T>
void rowNormsL2(const T* x, size_t rows, size_t cols, T* out) {
  for (size_t r = 0; r < rows; ++r) out[r] = rowNorm(x + r * cols, cols);
}

template <typename T>
void normalizeRowsL2(T* g, size_t rows, size_t cols, double divByZeroEps) {
  const T eps = static_cast<T>(divByZeroEps);
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    const T norm = rowNorm(row, cols);
    // Written as a comparison (not a max helper) so that a NaN norm stays NaN.
    const T divisor = (norm < eps) ? eps : norm;
    forEachElement<T>(cols, DivideBy<T>{row, divisor});
  }
}

template <typename T>
void renormRowsL2(T* p, size_t rows, size_t cols, double maxNorm) {
  const T limit = static_cast<T>(maxNorm);
  for (size_t r = 0; r < rows; ++r) {
    T* row = p + r * cols;
    const T norm = rowNorm(row, cols);
    if (norm > limit) {
      const T factor = limit / (norm + static_cast<T>(1e-7));
      forEachElement<T>(cols, MultiplyBy<T>{row, factor});
    }
  }
}

template <typename T>
void scaleBias(T* g, size_t n, double scale, bool applyScale, double bias, bool applyBias) {
  const T s = static_cast<T>(scale);
  const T b = static_cast<T>(bias);
  if (applyScale && applyBias) {
    forEachElement<T>(n, ScaleBiasOp<T, true, true>{g, s, b});
  } else if (applyScale) {
    forEachElement<T>(n, ScaleBiasOp<T, true, false>{g, s, b});
  } else if (applyBias) {
    forEachElement<T>(n, ScaleBiasOp<T, false, true>{g, s, b});
  }
}

template <typename T>
void sgdStep(T* p, const T* g, T* momentumBuf, size_t n, const SgdOptions& o,
             bool bufferInitialized) {
  const SgdConstants<T> c{static_cast<T>(o.weightDecay), static_cast<T>(o.momentum),
                          static_cast<T>(1.0 - o.dampening), static_cast<T>(-o.lr)};
  // The option tests are on the doubles, as in torch (a tiny momentum that
  // rounds to a float 0 still takes the momentum path).
  const bool momentum = o.momentum != 0.0;
  const bool decay = o.weightDecay != 0.0;
  if (o.maximize) {
    if (decay) {
      sgdPickMomentum<T, true, true>(p, g, momentumBuf, n, c, momentum, o.nesterov, bufferInitialized);
    } else {
      sgdPickMomentum<T, true, false>(p, g, momentumBuf, n, c, momentum, o.nesterov, bufferInitialized);
    }
  } else if (decay) {
    sgdPickMomentum<T, false, true>(p, g, momentumBuf, n, c, momentum, o.nesterov, bufferInitialized);
  } else {
    sgdPickMomentum<T, false, false>(p, g, momentumBuf, n, c, momentum, o.nesterov, bufferInitialized);
  }
}

template <typename T>
void adamStep(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq, size_t n,
              const AdamOptions& o) {
  const AdamData<T> a{p,
                      g,
                      expAvg,
                      expAvgSq,
                      o.amsgrad ? maxExpAvgSq : nullptr,
                      static_cast<T>(o.weightDecay),
                      static_cast<T>(1.0 - o.lr * o.weightDecay),
                      static_cast<T>(o.beta1),
                      static_cast<T>(1.0 - o.beta1),
                      static_cast<T>(o.beta2),
                      static_cast<T>(1.0 - o.beta2),
                      static_cast<T>(o.biasCorrection2Sqrt),
                      static_cast<T>(o.eps),
                      static_cast<T>(-o.stepSize)};
  // The option test is on the double, as in torch.
  const DecayMode decay = o.weightDecay == 0.0 ? kNoDecay
                          : o.decoupledWeightDecay ? kDecoupledDecay
                                                   : kL2Decay;
  if (o.maximize) {
    adamPickDecay<T, true>(a, n, decay, o.amsgrad);
  } else {
    adamPickDecay<T, false>(a, n, decay, o.amsgrad);
  }
}

template <typename T>
void rmspropStep(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer, size_t n,
                 const RmspropOptions& o) {
  // The option tests are on the doubles, as in torch.
  const bool decay = o.weightDecay != 0.0;
  const bool momentum = o.momentum > 0.0;
  const RmspropData<T> a{p,
                         g,
                         squareAvg,
                         o.centered ? gradAvg : nullptr,
                         momentum ? momentumBuffer : nullptr,
                         static_cast<T>(o.weightDecay),
                         static_cast<T>(o.alpha),
                         static_cast<T>(1.0 - o.alpha),
                         static_cast<T>(o.eps),
                         static_cast<T>(o.momentum),
                         static_cast<T>(-o.lr)};
  if (o.maximize) {
    rmspropPickDecay<T, true>(a, n, decay, o.centered, momentum);
  } else {
    rmspropPickDecay<T, false>(a, n, decay, o.centered, momentum);
  }
}

template <typename T>
void adagradStep(T* p, const T* g, T* sum, size_t n, const AdagradOptions& o) {
  const AdagradData<T> a{p, g, sum, static_cast<T>(o.weightDecay), static_cast<T>(o.eps),
                         static_cast<T>(-o.clr)};
  const bool decay = o.weightDecay != 0.0;  // on the double, as in torch
  if (o.maximize) {
    adagradPickDecay<T, true>(a, n, decay);
  } else {
    adagradPickDecay<T, false>(a, n, decay);
  }
}

}  // namespace

extern const KernelTable kKernelTable = {
    LP_ISA_NAME,
    {&rowNormsL2<float>, &normalizeRowsL2<float>, &renormRowsL2<float>, &scaleBias<float>,
     &sgdStep<float>, &adamStep<float>, &rmspropStep<float>, &adagradStep<float>},
    {&rowNormsL2<double>, &normalizeRowsL2<double>, &renormRowsL2<double>, &scaleBias<double>,
     &sgdStep<double>, &adamStep<double>, &rmspropStep<double>, &adagradStep<double>},
};

}  // namespace LP_ISA
}  // namespace lp

// SPDX-License-Identifier: MIT
// exactMulAdd(a, b, c): a * b + c rounded once (IEEE 754 fusedMultiplyAdd),
// the same bits on every target: the fma instruction where the build has
// one, else an error-free emulation. PyTorch adds `alpha * other` with a
// fused multiply-add on CPUs that have one, the weight decay term
// grad.add(param, alpha=weight_decay) among them; where decay balances the
// gradient that sum cancels, and the two roundings of a * b then + c differ
// from PyTorch's far beyond float rounding once Adam, RMSprop or Adagrad
// divide by a square root of the same size. The kernels take it there (and
// for the float64 norms' s = fma(x, x, s)).
//
// The functions are in an unnamed namespace: every kernel table's
// translation unit, built with its own ISA flags, keeps its own copy, so no
// copy built with -mavx512f can be the one a scalar table calls.
#ifndef LP_OPTIM_EXACT_FMA_H_
#define LP_OPTIM_EXACT_FMA_H_

#include <cstdint>
#include <cstring>

#if defined(_MSC_VER) && !defined(__clang__)
#include <math.h>
#endif

// In WebAssembly the float emulation stays out of line: it serves one
// product of the few steps that take it, and inlined into each optimizer's
// code it grew the module for no speed worth having. (The double one stays
// inline: float64 norms run on it, element after element.)
#if defined(__wasm__)
#define LP_EXACT_FMA_EMULATION __attribute__((noinline))
#else
#define LP_EXACT_FMA_EMULATION
#endif

namespace lp {
namespace {

#if defined(_MSC_VER) && !defined(__clang__)
inline double absOfDouble(double x) { return ::fabs(x); }
inline double libraryFma(double a, double b, double c) { return ::fma(a, b, c); }
#else
inline double absOfDouble(double x) { return __builtin_fabs(x); }
inline double libraryFma(double a, double b, double c) { return __builtin_fma(a, b, c); }
#endif

// s stepped one double toward the exact value s + e when s is inexact (e is
// neither 0 nor NaN) and even: rounding to odd, after which rounding to a
// format at least two bits narrower is the correct rounding of s + e
// (Boldo and Melquiond, IEEE Trans. Computers 57(4), 2008).
inline double roundedToOdd(double s, double e) {
  uint64_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  const uint64_t inexactEven = static_cast<uint64_t>(e != 0 && e == e) & ((bits & 1) ^ 1);
  const uint64_t towardE = ((e > 0) == (s > 0)) ? 1u : ~uint64_t{0};  // magnitude up or down
  bits += inexactEven * towardE;
  std::memcpy(&s, &bits, sizeof s);
  return s;
}

// float a * b + c rounded once, in double: the product of two floats is exact
// there, the sum's rounding error comes from Knuth's TwoSum, and the sum
// rounded to odd rounds to the right float. (ts/backend/fma.ts's fma32 is
// the same algorithm.) Infinities and NaN give what the fma instruction
// gives: their error term is NaN, which leaves the sum alone.
LP_EXACT_FMA_EMULATION inline float fmaFloatByDouble(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double cd = static_cast<double>(c);
  const double s = p + cd;
  const double sb = s - p;
  const double e = (p - (s - sb)) + (cd - sb);
  return static_cast<float>(roundedToOdd(s, e));
}

// double a * b + c rounded once without an fma instruction, for WebAssembly,
// whose C library's fma (musl, in integer arithmetic) costs about 25 ns:
// Dekker's product, Knuth's TwoSum, the low parts added rounded to odd (the
// same reference; ts/backend/fma.ts's fma64), with the library's for operands
// outside the normal range the algorithm needs.
inline double fmaDoubleByParts(double a, double b, double c) {
  const double aa = absOfDouble(a);
  const double ab = absOfDouble(b);
  // (NaN, Inf and zero operands fail these too.)
  if (!(aa >= 0x1p-480 && aa <= 0x1p480 && ab >= 0x1p-480 && ab <= 0x1p480 && absOfDouble(c) <= 0x1p1000)) {
    if (c == 0) {
      // a * b rounded once (then + c, for a sum of zeros' sign): musl's fma
      // (emscripten 3.1.6) returns +0 where a negative product underflows.
      // (Where a product cancels a nonzero c to below the smallest
      // subnormal, it may still lose the sign: not handled.)
      const double p = a * b;
      return p == 0 && a != 0 && b != 0 ? p : p + c;
    }
    return libraryFma(a, b, c);
  }
  const double p = a * b;
  const double splitter = 134217729.0;  // 2^27 + 1
  double t = splitter * a;
  const double ah = t - (t - a);
  const double al = a - ah;
  t = splitter * b;
  const double bh = t - (t - b);
  const double bl = b - bh;
  const double pl = ah * bh - p + ah * bl + al * bh + al * bl;
  const double sh = c + p;
  const double sb = sh - c;
  const double sl = c - (sh - sb) + (p - sb);
  if (absOfDouble(sh) < 0x1p-900) return libraryFma(a, b, c);
  const double v = pl + sl;
  const double vb = v - pl;
  const double ve = pl - (v - vb) + (sl - vb);
  return sh + roundedToOdd(v, ve);
}

inline float exactMulAdd(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return fmaFloatByDouble(a, b, c);
#endif
}

inline double exactMulAdd(double a, double b, double c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fma(a, b, c);
#elif defined(__wasm__)
  return fmaDoubleByParts(a, b, c);
#else
  return libraryFma(a, b, c);
#endif
}

}  // namespace
}  // namespace lp

#endif  // LP_OPTIM_EXACT_FMA_H_

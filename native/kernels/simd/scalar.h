// SPDX-License-Identifier: MIT
// Scalar "vector" wrapper: one element per register, so kernels-inl.h runs
// unchanged on any target (the baseline x86/arm table and the plain wasm build).
#ifndef LP_OPTIM_SIMD_SCALAR_H_
#define LP_OPTIM_SIMD_SCALAR_H_

#include <cstddef>

#include "../exact_fma.h"

#if defined(_MSC_VER) && !defined(__clang__)
// No __builtin_sqrt on MSVC; sqrt/sqrtf are extern CRT functions (intrinsics
// under /Oi), not inline functions that could be merged across ISAs.
#include <math.h>
#endif

namespace lp {
namespace scalar {

// Correctly rounded square roots in float and in double.
// Magnitudes (the sign bit cleared, also for 0 and NaN) likewise.
#if defined(_MSC_VER) && !defined(__clang__)
inline float sqrtOf(float x) { return ::sqrtf(x); }
inline double sqrtOf(double x) { return ::sqrt(x); }
inline float absOf(float x) { return ::fabsf(x); }
inline double absOf(double x) { return ::fabs(x); }
#else
inline float sqrtOf(float x) { return __builtin_sqrtf(x); }
inline double sqrtOf(double x) { return __builtin_sqrt(x); }
inline float absOf(float x) { return __builtin_fabsf(x); }
inline double absOf(double x) { return __builtin_fabs(x); }
#endif

template <typename T>
struct Vec {
  using Reg = T;
  static constexpr size_t kWidth = 1;
  static constexpr bool kHalfShift = false;

  static inline Reg load(const T* p) { return *p; }
  static inline void store(T* p, Reg v) { *p = v; }
  static inline Reg set1(T x) { return x; }
  static inline Reg add(Reg a, Reg b) { return a + b; }
  static inline Reg sub(Reg a, Reg b) { return a - b; }
  static inline Reg mul(Reg a, Reg b) { return a * b; }
  static inline Reg div(Reg a, Reg b) { return a / b; }
  static inline Reg neg(Reg a) { return -a; }
  static inline Reg sqrt(Reg a) { return sqrtOf(a); }
  // NaN-propagating (a NaN in either operand is the result), like torch.maximum.
  static inline Reg max(Reg a, Reg b) { return (a < b || b != b) ? b : a; }
  // A comparison (false when either operand is NaN) and m ? a : b.
  using Mask = bool;
  static inline Mask lt(Reg a, Reg b) { return a < b; }
  static inline Reg select(Mask m, Reg a, Reg b) { return m ? a : b; }
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign).
  static inline Reg sign(Reg v) { return select(lt(set1(0), v), set1(1), select(lt(v, set1(0)), set1(-1), set1(0))); }
  static inline Reg abs(Reg a) { return absOf(a); }
  // a * b + c rounded once (exact_fma.h).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return exactMulAdd(a, b, c); }
  // p[0..n) (n <= 1) and +0 above; nothing past p[n - 1] is read.
  static inline Reg loadFirst(const T* p, size_t n) { return n != 0 ? *p : T(0); }
  static inline T sumTree(Reg v) { return v; }
  // One element a register: rowNorms keeps its scalar chains (see wasm128.h).
  static constexpr bool kEmulatedFmaPairs = false;
};

}  // namespace scalar
}  // namespace lp

#endif  // LP_OPTIM_SIMD_SCALAR_H_

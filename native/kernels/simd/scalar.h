// SPDX-License-Identifier: MIT
// Scalar "vector" wrapper: one element per register, so kernels-inl.h runs
// unchanged on any target (the baseline x86/arm table and the plain wasm build).
#ifndef LP_OPTIM_SIMD_SCALAR_H_
#define LP_OPTIM_SIMD_SCALAR_H_

#include <cstddef>

#if defined(_MSC_VER) && !defined(__clang__)
// No __builtin_sqrt on MSVC; sqrt/sqrtf are extern CRT functions (intrinsics
// under /Oi), not inline functions that could be merged across ISAs.
#include <math.h>
#endif

namespace lp {
namespace scalar {

// Correctly rounded square roots in float and in double.
#if defined(_MSC_VER) && !defined(__clang__)
inline float sqrtOf(float x) { return ::sqrtf(x); }
inline double sqrtOf(double x) { return ::sqrt(x); }
#else
inline float sqrtOf(float x) { return __builtin_sqrtf(x); }
inline double sqrtOf(double x) { return __builtin_sqrt(x); }
#endif

template <typename T>
struct Vec {
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
  static inline Reg sqrt(Reg a) { return sqrtOf(a); }
  // NaN-propagating (a NaN in either operand is the result), like torch.maximum.
  static inline Reg max(Reg a, Reg b) { return (a < b || b != b) ? b : a; }
};

}  // namespace scalar
}  // namespace lp

#endif  // LP_OPTIM_SIMD_SCALAR_H_

// SPDX-License-Identifier: MIT
// Scalar "vector" wrapper: one element per register, so kernels-inl.h runs
// unchanged on any target (the baseline x86/arm table and the plain wasm build).
#ifndef LP_OPTIM_SIMD_SCALAR_H_
#define LP_OPTIM_SIMD_SCALAR_H_

#include <cstddef>

namespace lp {
namespace scalar {

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
};

}  // namespace scalar
}  // namespace lp

#endif  // LP_OPTIM_SIMD_SCALAR_H_

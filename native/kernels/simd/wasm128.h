// SPDX-License-Identifier: MIT
// WebAssembly simd128 vector wrapper (128-bit); needs -msimd128.
#ifndef LP_OPTIM_SIMD_WASM128_H_
#define LP_OPTIM_SIMD_WASM128_H_

#include <wasm_simd128.h>

#include <cstddef>

namespace lp {
namespace wasm_simd128 {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = v128_t;
  static constexpr size_t kWidth = 4;

  static inline Reg load(const float* p) { return wasm_v128_load(p); }
  static inline void store(float* p, Reg v) { wasm_v128_store(p, v); }
  static inline Reg set1(float x) { return wasm_f32x4_splat(x); }
  static inline Reg add(Reg a, Reg b) { return wasm_f32x4_add(a, b); }
  static inline Reg sub(Reg a, Reg b) { return wasm_f32x4_sub(a, b); }
  static inline Reg mul(Reg a, Reg b) { return wasm_f32x4_mul(a, b); }
  static inline Reg div(Reg a, Reg b) { return wasm_f32x4_div(a, b); }
  static inline Reg neg(Reg a) { return wasm_f32x4_neg(a); }
  // Correctly rounded, like the scalar sqrt.
  static inline Reg sqrt(Reg a) { return wasm_f32x4_sqrt(a); }
  // (a < b || b != b) ? b : a, lane by lane: a NaN in either operand is kept,
  // and -0/+0 are ordered like the scalar code (wasm_f32x4_max differs there).
  static inline Reg max(Reg a, Reg b) {
    const Reg takeB = wasm_v128_or(wasm_f32x4_lt(a, b), wasm_f32x4_ne(b, b));
    return wasm_v128_bitselect(b, a, takeB);
  }
  // Comparisons give a lane mask (false where either operand is NaN);
  // select(m, a, b) is m ? a : b lane by lane.
  using Mask = v128_t;
  static inline Mask lt(Reg a, Reg b) { return wasm_f32x4_lt(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return wasm_v128_bitselect(a, b, m); }
  // Clears the sign bit, exactly like scalar fabs.
  static inline Reg abs(Reg a) { return wasm_f32x4_abs(a); }
};

template <>
struct Vec<double> {
  using Reg = v128_t;
  static constexpr size_t kWidth = 2;

  static inline Reg load(const double* p) { return wasm_v128_load(p); }
  static inline void store(double* p, Reg v) { wasm_v128_store(p, v); }
  static inline Reg set1(double x) { return wasm_f64x2_splat(x); }
  static inline Reg add(Reg a, Reg b) { return wasm_f64x2_add(a, b); }
  static inline Reg sub(Reg a, Reg b) { return wasm_f64x2_sub(a, b); }
  static inline Reg mul(Reg a, Reg b) { return wasm_f64x2_mul(a, b); }
  static inline Reg div(Reg a, Reg b) { return wasm_f64x2_div(a, b); }
  static inline Reg neg(Reg a) { return wasm_f64x2_neg(a); }
  static inline Reg sqrt(Reg a) { return wasm_f64x2_sqrt(a); }
  static inline Reg max(Reg a, Reg b) {
    const Reg takeB = wasm_v128_or(wasm_f64x2_lt(a, b), wasm_f64x2_ne(b, b));
    return wasm_v128_bitselect(b, a, takeB);
  }
  using Mask = v128_t;
  static inline Mask lt(Reg a, Reg b) { return wasm_f64x2_lt(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return wasm_v128_bitselect(a, b, m); }
  static inline Reg abs(Reg a) { return wasm_f64x2_abs(a); }
};

}  // namespace wasm_simd128
}  // namespace lp

#endif  // LP_OPTIM_SIMD_WASM128_H_

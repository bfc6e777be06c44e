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
  // p[0..n) (n <= kWidth) and +0 above; nothing past p[n - 1] is read.
  static inline Reg loadFirst(const float* p, size_t n) {
    switch (n) {
      case 0: return wasm_f32x4_splat(0.0f);
      case 1: return wasm_v128_load32_zero(p);
      case 2: return wasm_v128_load64_zero(p);
      case 3: return wasm_v128_load32_lane(p + 2, wasm_v128_load64_zero(p), 2);
      default: return wasm_v128_load(p);
    }
  }
  // The lanes summed by the pairwise tree: lane i + lane i + 2, then + 1.
  static inline float sumTree(Reg v) {
    const Reg s = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1);
  }
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
  static inline Reg loadFirst(const double* p, size_t n) {
    if (n == 0) return wasm_f64x2_splat(0.0);
    return n == 1 ? wasm_v128_load64_zero(p) : wasm_v128_load(p);
  }
  static inline double sumTree(Reg v) { return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1); }
};

}  // namespace wasm_simd128
}  // namespace lp

#endif  // LP_OPTIM_SIMD_WASM128_H_

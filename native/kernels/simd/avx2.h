// SPDX-License-Identifier: MIT
// AVX2 vector wrapper (256-bit); include only from a translation unit built
// with -mavx2 -mfma (FMA is enabled but never used: no contraction).
#ifndef LP_OPTIM_SIMD_AVX2_H_
#define LP_OPTIM_SIMD_AVX2_H_

#include <immintrin.h>

#include <cstddef>

namespace lp {
namespace avx2 {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = __m256;
  static constexpr size_t kWidth = 8;

  static inline Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static inline Reg set1(float x) { return _mm256_set1_ps(x); }
  static inline Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  // Flip the sign bit, exactly like scalar negation (also for 0 and NaN).
  static inline Reg neg(Reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
};

template <>
struct Vec<double> {
  using Reg = __m256d;
  static constexpr size_t kWidth = 4;

  static inline Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static inline void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static inline Reg set1(double x) { return _mm256_set1_pd(x); }
  static inline Reg add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_pd(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_pd(a, b); }
  static inline Reg neg(Reg a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
};

}  // namespace avx2
}  // namespace lp

#endif  // LP_OPTIM_SIMD_AVX2_H_

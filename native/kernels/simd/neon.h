// SPDX-License-Identifier: MIT
// NEON vector wrapper (128-bit, AArch64: needs vdivq and float64x2_t).
#ifndef LP_OPTIM_SIMD_NEON_H_
#define LP_OPTIM_SIMD_NEON_H_

#include <arm_neon.h>

#include <cstddef>

namespace lp {
namespace neon {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = float32x4_t;
  static constexpr size_t kWidth = 4;

  static inline Reg load(const float* p) { return vld1q_f32(p); }
  static inline void store(float* p, Reg v) { vst1q_f32(p, v); }
  static inline Reg set1(float x) { return vdupq_n_f32(x); }
  static inline Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static inline Reg sub(Reg a, Reg b) { return vsubq_f32(a, b); }
  static inline Reg mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  static inline Reg div(Reg a, Reg b) { return vdivq_f32(a, b); }
  static inline Reg neg(Reg a) { return vnegq_f32(a); }
  // Correctly rounded, like the scalar sqrt.
  static inline Reg sqrt(Reg a) { return vsqrtq_f32(a); }
  // (a < b || b != b) ? b : a, lane by lane: a NaN in either operand is kept,
  // as torch.maximum does, and -0/+0 are ordered like the scalar code
  // (vmaxq_f32 puts -0 below +0).
  static inline Reg max(Reg a, Reg b) {
    const Reg ltPick = vbslq_f32(vcltq_f32(a, b), b, a);  // a < b ? b : a
    return vbslq_f32(vceqq_f32(b, b), ltPick, b);         // b is NaN: b
  }
  // Comparisons give a lane mask (false where either operand is NaN);
  // select(m, a, b) is m ? a : b lane by lane.
  using Mask = uint32x4_t;
  static inline Mask lt(Reg a, Reg b) { return vcltq_f32(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return vbslq_f32(m, a, b); }
  // Clears the sign bit (fabs), exactly like scalar fabs.
  static inline Reg abs(Reg a) { return vabsq_f32(a); }
};

template <>
struct Vec<double> {
  using Reg = float64x2_t;
  static constexpr size_t kWidth = 2;

  static inline Reg load(const double* p) { return vld1q_f64(p); }
  static inline void store(double* p, Reg v) { vst1q_f64(p, v); }
  static inline Reg set1(double x) { return vdupq_n_f64(x); }
  static inline Reg add(Reg a, Reg b) { return vaddq_f64(a, b); }
  static inline Reg sub(Reg a, Reg b) { return vsubq_f64(a, b); }
  static inline Reg mul(Reg a, Reg b) { return vmulq_f64(a, b); }
  static inline Reg div(Reg a, Reg b) { return vdivq_f64(a, b); }
  static inline Reg neg(Reg a) { return vnegq_f64(a); }
  static inline Reg sqrt(Reg a) { return vsqrtq_f64(a); }
  static inline Reg max(Reg a, Reg b) {
    const Reg ltPick = vbslq_f64(vcltq_f64(a, b), b, a);
    return vbslq_f64(vceqq_f64(b, b), ltPick, b);
  }
  using Mask = uint64x2_t;
  static inline Mask lt(Reg a, Reg b) { return vcltq_f64(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return vbslq_f64(m, a, b); }
  static inline Reg abs(Reg a) { return vabsq_f64(a); }
};

}  // namespace neon
}  // namespace lp

#endif  // LP_OPTIM_SIMD_NEON_H_

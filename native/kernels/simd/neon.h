// SPDX-License-Identifier: MIT
// NEON vector wrapper (128-bit, AArch64: needs vdivq and float64x2_t).
#ifndef LP_OPTIM_SIMD_NEON_H_
#define LP_OPTIM_SIMD_NEON_H_

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "../kernels.h"  // listBracketFrom, which finishes listBracket
#include "left_pack.h"

namespace lp {
namespace neon {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = float32x4_t;
  static constexpr size_t kWidth = 4;
  // (No realigned streams, fusedSweep: 16-byte vectors, and ordinary arrays
  // are 16-byte aligned.)
  static constexpr bool kHalfShift = false;

  // Top-q's bracket scan (kernels.h, ListBracket), four magnitudes at a
  // time: the lanes inside [lo, hi] by a compare, their indices left-packed
  // through kLeftPack4 and stored at the list's end (up to 4 past it).
  static inline size_t listBracket(const float* row, size_t cols, uint32_t lo, uint32_t hi,
                                   uint32_t* listed, size_t capacity, size_t* above) {
    static constexpr uint32_t kLaneBits[4] = {1, 2, 4, 8};
    const uint32x4_t absMask = vdupq_n_u32(0x7FFFFFFFu);
    const uint32x4_t hiV = vdupq_n_u32(hi);
    const uint32x4_t loV = vdupq_n_u32(lo);
    const uint32x4_t laneBits = vld1q_u32(kLaneBits);
    uint32x4_t aboveLanes = vdupq_n_u32(0);
    size_t n = 0;
    size_t j = 0;
    for (; cols - j >= 4; j += 4) {
      const uint32x4_t key = vandq_u32(vreinterpretq_u32_f32(vld1q_f32(row + j)), absMask);
      const uint32x4_t aboveHi = vcgtq_u32(key, hiV);
      const uint32x4_t inside = vbicq_u32(vcgeq_u32(key, loV), aboveHi);  // and not
      aboveLanes = vsubq_u32(aboveLanes, aboveHi);
      const unsigned lanes = vaddvq_u32(vandq_u32(inside, laneBits));
      vst1q_u32(listed + (n < capacity ? n : capacity),
                vaddq_u32(vld1q_u32(kLeftPack4.lane[lanes]), vdupq_n_u32(static_cast<uint32_t>(j))));
      n += kLeftPack4.count[lanes];
    }
    size_t count = vaddvq_u32(aboveLanes);
    *above = count;
    return listBracketFrom<float>(row, j, cols, lo, hi, listed, capacity, n, above);
  }

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
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0f), v), set1(1.0f), select(lt(v, set1(0.0f)), set1(-1.0f), set1(0.0f))); }
  // Clears the sign bit (fabs), exactly like scalar fabs.
  static inline Reg abs(Reg a) { return vabsq_f32(a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  // p[0..n) (n <= kWidth) and +0 above; nothing past p[n - 1] is read.
  static inline Reg loadFirst(const float* p, size_t n) {
    if (n >= 4) return vld1q_f32(p);
    Reg v = vdupq_n_f32(0.0f);
    if (n > 0) v = vld1q_lane_f32(p, v, 0);
    if (n > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (n > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
  }
  // The lanes summed by the pairwise tree: lane i + lane i + 2, then + 1.
  static inline float sumTree(Reg v) {
    const float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
  }
};

template <>
struct Vec<double> {
  using Reg = float64x2_t;
  static constexpr size_t kWidth = 2;
  static constexpr bool kHalfShift = false;

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
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0), v), set1(1.0), select(lt(v, set1(0.0)), set1(-1.0), set1(0.0))); }
  static inline Reg abs(Reg a) { return vabsq_f64(a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return vfmaq_f64(c, a, b); }
  static inline Reg loadFirst(const double* p, size_t n) {
    if (n >= 2) return vld1q_f64(p);
    return n == 1 ? vld1q_lane_f64(p, vdupq_n_f64(0.0), 0) : vdupq_n_f64(0.0);
  }
  static inline double sumTree(Reg v) { return vgetq_lane_f64(v, 0) + vgetq_lane_f64(v, 1); }
  // A real fma instruction serves rowNorms (see wasm128.h).
  static constexpr bool kEmulatedFmaPairs = false;
};

}  // namespace neon
}  // namespace lp

#endif  // LP_OPTIM_SIMD_NEON_H_

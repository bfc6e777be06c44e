// SPDX-License-Identifier: MIT
// WebAssembly simd128 vector wrapper (128-bit); needs -msimd128.
#ifndef LP_OPTIM_SIMD_WASM128_H_
#define LP_OPTIM_SIMD_WASM128_H_

#include <wasm_simd128.h>

#include <cstddef>
#include <cstdint>

#include "../exact_fma.h"
#include "../kernels.h"  // listBracketFrom, which finishes listBracket
#include "left_pack.h"

namespace lp {
namespace wasm_simd128 {

// exact_fma.h's roundedToOdd in both lanes: s stepped one double toward the
// exact s + e where s is inexact (e neither 0 nor NaN) and even.
inline v128_t roundedToOddLanes(v128_t s, v128_t e) {
  const v128_t zero = wasm_f64x2_splat(0.0);
  const v128_t one = wasm_i64x2_splat(1);
  const v128_t inexact = wasm_v128_or(wasm_f64x2_lt(e, zero), wasm_f64x2_gt(e, zero));
  const v128_t even = wasm_i64x2_eq(wasm_v128_and(s, one), wasm_i64x2_splat(0));
  const v128_t sameSign = wasm_v128_not(wasm_v128_xor(wasm_f64x2_gt(e, zero), wasm_f64x2_gt(s, zero)));
  const v128_t direction = wasm_v128_bitselect(one, wasm_i64x2_splat(-1), sameSign);
  return wasm_i64x2_add(s, wasm_v128_and(wasm_v128_and(inexact, even), direction));
}

// exact_fma.h's fmaFloatByDouble on two float lanes promoted to doubles:
// the product exact, the sum rounded once to double. Rounded again to float,
// that sum is a*b + c rounded once unless it lies exactly halfway between
// two floats (the exact sum may lie off it) or among float's subnormals
// (whose halfway points are spaced otherwise): rare, and there the sum's
// error (TwoSum) rounds it to odd first, as fmaFloatByDouble does always.
inline v128_t mulAddFloatPair(v128_t a, v128_t b, v128_t c) {
  const v128_t p = wasm_f64x2_mul(a, b);
  const v128_t s = wasm_f64x2_add(p, c);
  const v128_t halfway = wasm_i64x2_eq(wasm_v128_and(s, wasm_i64x2_splat(0x1FFFFFFF)), wasm_i64x2_splat(0x10000000));
  const v128_t abs = wasm_f64x2_abs(s);
  const v128_t subnormal = wasm_v128_and(wasm_f64x2_lt(abs, wasm_f64x2_splat(0x1p-126)), wasm_f64x2_gt(abs, wasm_f64x2_splat(0.0)));
  if (!wasm_v128_any_true(wasm_v128_or(halfway, subnormal))) return wasm_f32x4_demote_f64x2_zero(s);
  const v128_t sb = wasm_f64x2_sub(s, p);
  const v128_t e = wasm_f64x2_add(wasm_f64x2_sub(p, wasm_f64x2_sub(s, sb)), wasm_f64x2_sub(c, sb));
  return wasm_f32x4_demote_f64x2_zero(roundedToOddLanes(s, e));
}

// Out of line: only the weight decay term takes it, and inlined into every
// optimizer's instantiation it added 95 KB to the module for 10% on those
// steps. (About 1 ns an element: a step with weight decay takes 1.8-2x as
// long as without.)
__attribute__((noinline)) inline v128_t mulAddFloats(v128_t a, v128_t b, v128_t c) {
  const v128_t low = mulAddFloatPair(wasm_f64x2_promote_low_f32x4(a), wasm_f64x2_promote_low_f32x4(b),
                                     wasm_f64x2_promote_low_f32x4(c));
  const v128_t high = mulAddFloatPair(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(a, a, 2, 3, 0, 1)),
                                      wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(b, b, 2, 3, 0, 1)),
                                      wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(c, c, 2, 3, 0, 1)));
  return wasm_i32x4_shuffle(low, high, 0, 1, 4, 5);
}

inline v128_t mulAddDoubles(v128_t a, v128_t b, v128_t c);

template <typename T>
struct Vec;


template <>
struct Vec<float> {
  using Reg = v128_t;
  static constexpr size_t kWidth = 4;
  // (No realigned streams, fusedSweep: 16-byte vectors, and ordinary arrays
  // are 16-byte aligned.)
  static constexpr bool kHalfShift = false;

  // Top-q's bracket scan (kernels.h, ListBracket), four magnitudes at a
  // time: the lanes inside [lo, hi] by a compare, their indices left-packed
  // through kLeftPack4 and stored at the list's end (up to 4 past it).
  static inline size_t listBracket(const float* row, size_t cols, uint32_t lo, uint32_t hi,
                                   uint32_t* listed, size_t capacity, size_t* above) {
    const v128_t absMask = wasm_u32x4_splat(0x7FFFFFFFu);
    const v128_t hiV = wasm_u32x4_splat(hi);
    const v128_t loV = wasm_u32x4_splat(lo);
    v128_t aboveLanes = wasm_u32x4_splat(0);
    size_t n = 0;
    size_t j = 0;
    for (; cols - j >= 4; j += 4) {
      const v128_t key = wasm_v128_and(wasm_v128_load(row + j), absMask);
      const v128_t aboveHi = wasm_u32x4_gt(key, hiV);
      const v128_t inside = wasm_v128_andnot(wasm_u32x4_ge(key, loV), aboveHi);
      aboveLanes = wasm_i32x4_sub(aboveLanes, aboveHi);
      const unsigned lanes = static_cast<unsigned>(wasm_i32x4_bitmask(inside));
      wasm_v128_store(listed + (n < capacity ? n : capacity),
                      wasm_i32x4_add(wasm_v128_load(kLeftPack4.lane[lanes]),
                                     wasm_u32x4_splat(static_cast<uint32_t>(j))));
      n += kLeftPack4.count[lanes];
    }
    size_t count = size_t{wasm_u32x4_extract_lane(aboveLanes, 0)} + wasm_u32x4_extract_lane(aboveLanes, 1) +
                   wasm_u32x4_extract_lane(aboveLanes, 2) + wasm_u32x4_extract_lane(aboveLanes, 3);
    *above = count;
    return listBracketFrom<float>(row, j, cols, lo, hi, listed, capacity, n, above);
  }

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
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays):
  // exactly the pseudo-maximum and pseudo-minimum, one instruction each
  // where a compare and a bitselect take four.
  static inline Reg atLeast(Reg v, Reg lo) { return wasm_f32x4_pmax(v, lo); }
  static inline Reg atMost(Reg v, Reg hi) { return wasm_f32x4_pmin(v, hi); }
  // torch.sign (see One::sign): the compares' masks are -1 where true, so
  // (v < 0) - (0 < v) as integers is 1, -1 or 0, converted exactly; four
  // instructions where two selects take eight (V8's bitselect is three).
  // L-inf PGD over the CIFAR batch 17% faster.
  static inline Reg sign(Reg v) {
    const Reg zero = wasm_f32x4_splat(0.0f);
    return wasm_f32x4_convert_i32x4(wasm_i32x4_sub(wasm_f32x4_lt(v, zero), wasm_f32x4_lt(zero, v)));
  }
  // Clears the sign bit, exactly like scalar fabs.
  static inline Reg abs(Reg a) { return wasm_f32x4_abs(a); }
  // a * b + c rounded once (exact_fma.h: WebAssembly has no fma; the
  // kernels take this for the weight decay term, which PyTorch fuses and
  // which cancels).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return mulAddFloats(a, b, c); }
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
  static constexpr bool kHalfShift = false;

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
  static inline Reg atLeast(Reg v, Reg lo) { return wasm_f64x2_pmax(v, lo); }
  static inline Reg atMost(Reg v, Reg hi) { return wasm_f64x2_pmin(v, hi); }
  // torch.sign (see One::sign) as two selects (no 64-bit integer to double
  // conversion in simd128).
  static inline Reg sign(Reg v) { return select(lt(set1(0.0), v), set1(1.0), select(lt(v, set1(0.0)), set1(-1.0), set1(0.0))); }
  static inline Reg abs(Reg a) { return wasm_f64x2_abs(a); }
  // a * b + c rounded once (see Vec<float>::mulAdd).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return mulAddDoubles(a, b, c); }
  static inline Reg loadFirst(const double* p, size_t n) {
    if (n == 0) return wasm_f64x2_splat(0.0);
    return n == 1 ? wasm_v128_load64_zero(p) : wasm_v128_load(p);
  }
  static inline double sumTree(Reg v) { return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1); }

  // Two rows' float64 sums of squares side by side (see rowNorms): WebAssembly
  // has no fma, and exactMulAdd's error-free algorithm (exact_fma.h), one
  // chain per row, is most of a float64 step there; here it runs on both
  // lanes at once, operation for operation the same, so the bits are the same.
  static constexpr bool kEmulatedFmaPairs = true;
  static inline Reg pair(double lane0, double lane1) { return wasm_f64x2_make(lane0, lane1); }
  static inline double lane0(Reg v) { return wasm_f64x2_extract_lane(v, 0); }
  static inline double lane1(Reg v) { return wasm_f64x2_extract_lane(v, 1); }
  // a * b + c rounded once in each lane where exactMulAdd's algorithm applies
  // (its range checks, lane by lane); *inRange is false when a lane is outside
  // them, and the caller then takes both lanes through exactMulAdd.
  static inline Reg fmaInRange(Reg a, Reg b, Reg c, bool* inRange) {
    const Reg small = wasm_f64x2_splat(0x1p-480);
    const Reg large = wasm_f64x2_splat(0x1p480);
    const Reg aa = wasm_f64x2_abs(a);
    const Reg ab = wasm_f64x2_abs(b);
    // (NaN, Inf and zero operands fail these too.)
    Reg ok = wasm_v128_and(wasm_f64x2_ge(aa, small), wasm_f64x2_le(aa, large));
    ok = wasm_v128_and(ok, wasm_v128_and(wasm_f64x2_ge(ab, small), wasm_f64x2_le(ab, large)));
    ok = wasm_v128_and(ok, wasm_f64x2_le(wasm_f64x2_abs(c), wasm_f64x2_splat(0x1p1000)));
    const Reg p = wasm_f64x2_mul(a, b);
    const Reg splitter = wasm_f64x2_splat(134217729.0);  // 2^27 + 1
    Reg t = wasm_f64x2_mul(splitter, a);
    const Reg ah = wasm_f64x2_sub(t, wasm_f64x2_sub(t, a));
    const Reg al = wasm_f64x2_sub(a, ah);
    t = wasm_f64x2_mul(splitter, b);
    const Reg bh = wasm_f64x2_sub(t, wasm_f64x2_sub(t, b));
    const Reg bl = wasm_f64x2_sub(b, bh);
    Reg pl = wasm_f64x2_sub(wasm_f64x2_mul(ah, bh), p);
    pl = wasm_f64x2_add(pl, wasm_f64x2_mul(ah, bl));
    pl = wasm_f64x2_add(pl, wasm_f64x2_mul(al, bh));
    pl = wasm_f64x2_add(pl, wasm_f64x2_mul(al, bl));
    const Reg sh = wasm_f64x2_add(c, p);
    const Reg sb = wasm_f64x2_sub(sh, c);
    const Reg sl = wasm_f64x2_add(wasm_f64x2_sub(c, wasm_f64x2_sub(sh, sb)), wasm_f64x2_sub(p, sb));
    ok = wasm_v128_and(ok, wasm_f64x2_ge(wasm_f64x2_abs(sh), wasm_f64x2_splat(0x1p-900)));
    *inRange = wasm_i64x2_all_true(ok);
    const Reg v = wasm_f64x2_add(pl, sl);
    const Reg vb = wasm_f64x2_sub(v, pl);
    const Reg ve = wasm_f64x2_add(wasm_f64x2_sub(pl, wasm_f64x2_sub(v, vb)), wasm_f64x2_sub(sl, vb));
    // The low parts rounded to odd (their error is never NaN in range).
    return wasm_f64x2_add(sh, roundedToOddLanes(v, ve));
  }
};

// Vec<double>::mulAdd, out of line (see mulAddFloats): fmaInRange where
// its algorithm applies, else lane by lane.
__attribute__((noinline)) inline v128_t mulAddDoubles(v128_t a, v128_t b, v128_t c) {
  bool inRange;
  const v128_t fused = Vec<double>::fmaInRange(a, b, c, &inRange);
  if (inRange) return fused;
  return wasm_f64x2_make(exactMulAdd(wasm_f64x2_extract_lane(a, 0), wasm_f64x2_extract_lane(b, 0), wasm_f64x2_extract_lane(c, 0)),
                         exactMulAdd(wasm_f64x2_extract_lane(a, 1), wasm_f64x2_extract_lane(b, 1), wasm_f64x2_extract_lane(c, 1)));
}

}  // namespace wasm_simd128
}  // namespace lp

#endif  // LP_OPTIM_SIMD_WASM128_H_

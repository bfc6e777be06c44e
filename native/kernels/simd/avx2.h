// SPDX-License-Identifier: MIT
// AVX2 vector wrapper (256-bit); include only from a translation unit built
// with -mavx2 -mfma (FMA only where a kernel asks for one, mulAdd and the float64
// norms: never by contraction).
#ifndef LP_OPTIM_SIMD_AVX2_H_
#define LP_OPTIM_SIMD_AVX2_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "../kernels.h"  // listBracketFrom, which finishes listBracket
#include "left_pack.h"

namespace lp {
namespace avx2 {

// Lane masks for the first n lanes: kFirstLanes32 + 8 - n (32-bit lanes),
// kFirstLanes64 + 4 - n (64-bit lanes).
alignas(32) inline constexpr int32_t kFirstLanes32[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                          0,  0,  0,  0,  0,  0,  0,  0};
alignas(32) inline constexpr int64_t kFirstLanes64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = __m256;
  static constexpr size_t kWidth = 8;

  // Top-q's bracket scan (kernels.h, ListBracket), eight magnitudes at a
  // time: the lanes inside [lo, hi] by a compare, their indices left-packed
  // through kLeftPack8 and stored at the list's end (up to 8 past it).
  // Magnitude bits are below 2^31, so signed compares order them.
  static inline size_t listBracket(const float* row, size_t cols, uint32_t lo, uint32_t hi,
                                   uint32_t* listed, size_t capacity, size_t* above) {
    const __m256i absMask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i hiV = _mm256_set1_epi32(static_cast<int32_t>(hi));
    const __m256i loMinusOne = _mm256_set1_epi32(static_cast<int32_t>(lo) - 1);
    __m256i aboveLanes = _mm256_setzero_si256();
    size_t n = 0;
    size_t j = 0;
    for (; cols - j >= 8; j += 8) {
      const __m256i key =
          _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(row + j)), absMask);
      const __m256i aboveHi = _mm256_cmpgt_epi32(key, hiV);
      const __m256i inside = _mm256_andnot_si256(aboveHi, _mm256_cmpgt_epi32(key, loMinusOne));
      aboveLanes = _mm256_sub_epi32(aboveLanes, aboveHi);
      const unsigned lanes =
          static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(inside)));
      const __m256i packed = _mm256_cvtepu8_epi32(
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kLeftPack8.lane[lanes])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(listed + (n < capacity ? n : capacity)),
                          _mm256_add_epi32(packed, _mm256_set1_epi32(static_cast<int32_t>(j))));
      n += kLeftPack8.count[lanes];
    }
    alignas(32) uint32_t lanesAbove[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanesAbove), aboveLanes);
    size_t count = 0;
    for (uint32_t c : lanesAbove) count += c;
    *above = count;
    return listBracketFrom<float>(row, j, cols, lo, hi, listed, capacity, n, above);
  }

  static inline Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  // a's upper half, then b's lower half: for a stream half a vector off the
  // sweep's alignment (fusedSweep in kernels-inl.h).
  static constexpr bool kHalfShift = true;
  static inline Reg halfShift(Reg a, Reg b) { return _mm256_permute2f128_ps(a, b, 0x21); }
  static inline Reg set1(float x) { return _mm256_set1_ps(x); }
  static inline Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  // Flip the sign bit, exactly like scalar negation (also for 0 and NaN).
  static inline Reg neg(Reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  // Correctly rounded, like the scalar sqrt.
  static inline Reg sqrt(Reg a) { return _mm256_sqrt_ps(a); }
  // (a < b || b != b) ? b : a, lane by lane: a NaN in either operand is kept
  // (unlike _mm256_max_ps), as torch.maximum does.
  static inline Reg max(Reg a, Reg b) {
    const Reg takeB =
        _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ), _mm256_cmp_ps(b, b, _CMP_UNORD_Q));
    return _mm256_blendv_ps(a, b, takeB);
  }
  // Comparisons give a lane mask (false where either operand is NaN);
  // select(m, a, b) is m ? a : b lane by lane.
  using Mask = __m256;
  static inline Mask lt(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm256_blendv_ps(b, a, m); }
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0f), v), set1(1.0f), select(lt(v, set1(0.0f)), set1(-1.0f), set1(0.0f))); }
  // Clear the sign bit, exactly like scalar fabs (also for 0 and NaN).
  static inline Reg abs(Reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  // p[0..n) (n <= kWidth) and +0 above; nothing past p[n - 1] is read.
  static inline Reg loadFirst(const float* p, size_t n) {
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kFirstLanes32 + 8 - n));
    return _mm256_maskload_ps(p, mask);
  }
  // The lanes summed by the pairwise tree: lane i + lane i + 4, then + 2, + 1.
  static inline float sumTree(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

template <>
struct Vec<double> {
  using Reg = __m256d;
  static constexpr size_t kWidth = 4;

  static inline Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static inline void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static constexpr bool kHalfShift = true;
  static inline Reg halfShift(Reg a, Reg b) { return _mm256_permute2f128_pd(a, b, 0x21); }
  static inline Reg set1(double x) { return _mm256_set1_pd(x); }
  static inline Reg add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_pd(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_pd(a, b); }
  static inline Reg neg(Reg a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
  static inline Reg sqrt(Reg a) { return _mm256_sqrt_pd(a); }
  static inline Reg max(Reg a, Reg b) {
    const Reg takeB =
        _mm256_or_pd(_mm256_cmp_pd(a, b, _CMP_LT_OQ), _mm256_cmp_pd(b, b, _CMP_UNORD_Q));
    return _mm256_blendv_pd(a, b, takeB);
  }
  using Mask = __m256d;
  static inline Mask lt(Reg a, Reg b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm256_blendv_pd(b, a, m); }
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0), v), set1(1.0), select(lt(v, set1(0.0)), set1(-1.0), set1(0.0))); }
  static inline Reg abs(Reg a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static inline Reg loadFirst(const double* p, size_t n) {
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kFirstLanes64 + 4 - n));
    return _mm256_maskload_pd(p, mask);
  }
  // lane i + lane i + 2, then + 1.
  static inline double sumTree(Reg v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  // A real fma instruction serves rowNorms (see wasm128.h).
  static constexpr bool kEmulatedFmaPairs = false;
};

}  // namespace avx2
}  // namespace lp

#endif  // LP_OPTIM_SIMD_AVX2_H_

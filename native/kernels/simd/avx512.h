// SPDX-License-Identifier: MIT
// AVX-512 vector wrapper (512-bit, AVX-512F/DQ only); include only from a
// translation unit built with -mavx512f -mavx512dq -mavx2 -mfma.
#ifndef LP_OPTIM_SIMD_AVX512_H_
#define LP_OPTIM_SIMD_AVX512_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "../kernels.h"  // listBracketFrom, which finishes listBracket
#include "left_pack.h"

namespace lp {
namespace avx512 {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using Reg = __m512;
  static constexpr size_t kWidth = 16;
  // (No realigned streams, fusedSweep: an ordinary Float32Array is 16-byte
  // aligned, so it sits a quarter, half or three quarters of a 64-byte vector
  // off; not done for a table that is never the default.)
  static constexpr bool kHalfShift = false;

  // Top-q's bracket scan (kernels.h, ListBracket), sixteen magnitudes at a
  // time: the lanes inside [lo, hi] by a compare, their indices compressed
  // to the front of a register and stored at the list's end (up to 16 past
  // it). Magnitude bits are below 2^31, so signed compares order them.
  static inline size_t listBracket(const float* row, size_t cols, uint32_t lo, uint32_t hi,
                                   uint32_t* listed, size_t capacity, size_t* above) {
    const __m512i absMask = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i hiV = _mm512_set1_epi32(static_cast<int32_t>(hi));
    const __m512i loMinusOne = _mm512_set1_epi32(static_cast<int32_t>(lo) - 1);
    const __m512i laneNumbers =
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i aboveLanes = _mm512_setzero_si512();
    size_t n = 0;
    size_t j = 0;
    for (; cols - j >= 16; j += 16) {
      const __m512i key =
          _mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(row + j)), absMask);
      const __mmask16 aboveHi = _mm512_cmpgt_epi32_mask(key, hiV);
      const __mmask16 inside =
          static_cast<__mmask16>(_mm512_cmpgt_epi32_mask(key, loMinusOne) & ~aboveHi);
      aboveLanes = _mm512_mask_add_epi32(aboveLanes, aboveHi, aboveLanes, one);
      const __m512i indices =
          _mm512_add_epi32(laneNumbers, _mm512_set1_epi32(static_cast<int32_t>(j)));
      _mm512_storeu_si512(listed + (n < capacity ? n : capacity),
                          _mm512_maskz_compress_epi32(inside, indices));
      n += size_t{kLeftPack8.count[inside & 0xFFu]} + kLeftPack8.count[inside >> 8];
    }
    alignas(64) uint32_t lanesAbove[16];
    _mm512_store_si512(lanesAbove, aboveLanes);
    size_t count = 0;
    for (uint32_t c : lanesAbove) count += c;
    *above = count;
    return listBracketFrom<float>(row, j, cols, lo, hi, listed, capacity, n, above);
  }

  static inline Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static inline Reg set1(float x) { return _mm512_set1_ps(x); }
  static inline Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  // Sign-bit flip (AVX-512DQ), exactly like scalar negation.
  static inline Reg neg(Reg a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
  // Correctly rounded, like the scalar sqrt. The all-lanes masked form is the
  // same vsqrtps; it avoids _mm512_undefined_ps, which GCC 12 reports as
  // "may be used uninitialized" (GCC bug 105593).
  static inline Reg sqrt(Reg a) {
    return _mm512_mask_sqrt_ps(a, static_cast<__mmask16>(0xFFFF), a);
  }
  // (a < b || b != b) ? b : a, lane by lane: a NaN in either operand is kept
  // (unlike _mm512_max_ps), as torch.maximum does.
  static inline Reg max(Reg a, Reg b) {
    const __mmask16 takeB = static_cast<__mmask16>(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ) |
                                                   _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q));
    return _mm512_mask_blend_ps(takeB, a, b);
  }
  // Comparisons give a lane mask (false where either operand is NaN);
  // select(m, a, b) is m ? a : b lane by lane.
  using Mask = __mmask16;
  static inline Mask lt(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm512_mask_blend_ps(m, b, a); }
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0f), v), set1(1.0f), select(lt(v, set1(0.0f)), set1(-1.0f), set1(0.0f))); }
  // Clear the sign bit (AVX-512DQ), exactly like scalar fabs.
  static inline Reg abs(Reg a) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  // p[0..n) (n <= kWidth) and +0 above; nothing past p[n - 1] is read.
  static inline Reg loadFirst(const float* p, size_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  // The lanes summed by the pairwise tree: lane i + lane i + 8, then + 4, + 2, + 1.
  static inline float sumTree(Reg v) {
    // Masked extracts: the plain ones and the casts (extracts in GCC) trip
    // GCC bug 105593 (see sqrt).
    const __mmask8 all = static_cast<__mmask8>(0xFF);
    const __m256 h = _mm256_add_ps(_mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), all, v, 0),
                                   _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), all, v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

template <>
struct Vec<double> {
  using Reg = __m512d;
  static constexpr size_t kWidth = 8;
  static constexpr bool kHalfShift = false;

  static inline Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static inline void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static inline Reg set1(double x) { return _mm512_set1_pd(x); }
  static inline Reg add(Reg a, Reg b) { return _mm512_add_pd(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm512_sub_pd(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm512_div_pd(a, b); }
  static inline Reg neg(Reg a) { return _mm512_xor_pd(a, _mm512_set1_pd(-0.0)); }
  static inline Reg sqrt(Reg a) {
    return _mm512_mask_sqrt_pd(a, static_cast<__mmask8>(0xFF), a);
  }
  static inline Reg max(Reg a, Reg b) {
    const __mmask8 takeB = static_cast<__mmask8>(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ) |
                                                 _mm512_cmp_pd_mask(b, b, _CMP_UNORD_Q));
    return _mm512_mask_blend_pd(takeB, a, b);
  }
  using Mask = __mmask8;
  static inline Mask lt(Reg a, Reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm512_mask_blend_pd(m, b, a); }
  // v < lo ? lo : v and hi < v ? hi : v (torch.clamp's bounds; a NaN stays).
  static inline Reg atLeast(Reg v, Reg lo) { return select(lt(v, lo), lo, v); }
  static inline Reg atMost(Reg v, Reg hi) { return select(lt(hi, v), hi, v); }
  // torch.sign (see One::sign) as two selects.
  static inline Reg sign(Reg v) { return select(lt(set1(0.0), v), set1(1.0), select(lt(v, set1(0.0)), set1(-1.0), set1(0.0))); }
  static inline Reg abs(Reg a) { return _mm512_andnot_pd(_mm512_set1_pd(-0.0), a); }
  // a * b + c rounded once (the fused instruction).
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static inline Reg loadFirst(const double* p, size_t n) {
    return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
  }
  // lane i + lane i + 4, then + 2, + 1.
  static inline double sumTree(Reg v) {
    const __mmask8 all = static_cast<__mmask8>(0xF);
    const __m256d h = _mm256_add_pd(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), all, v, 0),
                                    _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), all, v, 1));
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  // A real fma instruction serves rowNorms (see wasm128.h).
  static constexpr bool kEmulatedFmaPairs = false;
};

}  // namespace avx512
}  // namespace lp

#endif  // LP_OPTIM_SIMD_AVX512_H_

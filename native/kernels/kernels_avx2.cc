// SPDX-License-Identifier: MIT
// The AVX2 kernel table (x86-64; this file alone is built with -mavx2 -mfma).
#define LP_ISA avx2
#define LP_ISA_NAME "avx2"
#include "simd/avx2.h"
// Included after the wrapper on purpose: the bodies use its Vec<T>.
#include "kernels-inl.h"

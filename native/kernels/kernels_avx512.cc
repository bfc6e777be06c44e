// SPDX-License-Identifier: MIT
// The AVX-512 kernel table (x86-64; this file alone is built with
// -mavx512f -mavx512dq -mavx2 -mfma).
#define LP_ISA avx512
#define LP_ISA_NAME "avx512"
#include "simd/avx512.h"
// Included after the wrapper on purpose: the bodies use its Vec<T>.
#include "kernels-inl.h"

// SPDX-License-Identifier: MIT
// The NEON kernel table (AArch64, where NEON is part of the baseline).
#define LP_ISA neon
#define LP_ISA_NAME "neon"
#include "simd/neon.h"
// Included after the wrapper on purpose: the bodies use its Vec<T>.
#include "kernels-inl.h"

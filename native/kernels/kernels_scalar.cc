// SPDX-License-Identifier: MIT
// The portable kernel table: baseline x86-64/arm64/other CPUs, and the plain
// (non-simd) WebAssembly build, where the table is named "wasm".
#define LP_ISA scalar
#if defined(__wasm__)
#define LP_ISA_NAME "wasm"
#else
#define LP_ISA_NAME "scalar"
#endif
#include "simd/scalar.h"
// Included after the wrapper on purpose: the bodies use its Vec<T>.
#include "kernels-inl.h"

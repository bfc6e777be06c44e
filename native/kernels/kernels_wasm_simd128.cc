// SPDX-License-Identifier: MIT
// The WebAssembly simd128 kernel table (built with -msimd128).
#define LP_ISA wasm_simd128
#define LP_ISA_NAME "wasm-simd128"
#include "simd/wasm128.h"
// Included after the wrapper on purpose: the bodies use its Vec<T>.
#include "kernels-inl.h"

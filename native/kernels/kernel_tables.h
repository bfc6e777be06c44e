// SPDX-License-Identifier: MIT
// Which per-ISA kernel tables this target compiles, and their declarations
// (internal to the kernels library, dispatch.cc and the unit tests).
#ifndef LP_OPTIM_KERNEL_TABLES_H_
#define LP_OPTIM_KERNEL_TABLES_H_

#include "kernels.h"

// The target decides the set of tables; binding.gyp and CMakeLists.txt pick
// the matching per-ISA sources from native/sources.json (a mismatch is a link
// error, never a silent fallback).
#if defined(__wasm__)
#define LP_KERNELS_WASM 1
#if defined(__wasm_simd128__)
// The simd module is validated as a whole by the engine, so every source in
// it is built with -msimd128 and it holds only the simd128 table.
#define LP_KERNELS_HAVE_WASM_SIMD128 1
#else
#define LP_KERNELS_HAVE_SCALAR 1
#endif
#elif defined(__x86_64__) || defined(_M_X64)
#define LP_KERNELS_X86_64 1
#define LP_KERNELS_HAVE_SCALAR 1
#define LP_KERNELS_HAVE_AVX2 1
#define LP_KERNELS_HAVE_AVX512 1
#elif defined(__aarch64__) || defined(_M_ARM64)
#define LP_KERNELS_HAVE_SCALAR 1
#define LP_KERNELS_HAVE_NEON 1
#else
#define LP_KERNELS_HAVE_SCALAR 1
#endif

namespace lp {
#if defined(LP_KERNELS_HAVE_SCALAR)
namespace scalar {
extern const KernelTable kKernelTable;  // named "wasm" in the plain wasm build
}
#endif
#if defined(LP_KERNELS_HAVE_AVX2)
namespace avx2 {
extern const KernelTable kKernelTable;
}
#endif
#if defined(LP_KERNELS_HAVE_AVX512)
namespace avx512 {
extern const KernelTable kKernelTable;
}
#endif
#if defined(LP_KERNELS_HAVE_NEON)
namespace neon {
extern const KernelTable kKernelTable;
}
#endif
#if defined(LP_KERNELS_HAVE_WASM_SIMD128)
namespace wasm_simd128 {
extern const KernelTable kKernelTable;
}
#endif
}  // namespace lp

#endif  // LP_OPTIM_KERNEL_TABLES_H_

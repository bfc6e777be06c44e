// SPDX-License-Identifier: MIT
// Picks a kernel table: lists the compiled ones and checks what this CPU runs.
//
// Built with the baseline flags of the target (never with an ISA flag), so
// this file runs everywhere and only calls into a table once it is known to
// be supported.
#include <cstdio>
#include <cstring>

#include "kernel_tables.h"

#if defined(LP_KERNELS_X86_64) && defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#endif

namespace lp {
namespace {

// In order of preference; the first one this CPU supports is the default.
// AVX2 comes before AVX-512: every step here is bound by memory or by a chain
// of dependent adds, not by vector width, and on the AVX-512 machines we
// measure on (AMD Zen 4, which splits a 512-bit operation in two) the AVX2
// table ran every bench workload 5-12% faster, its memory floor included.
// AVX-512 stays compiled and tested, and LP_OPTIM_FORCE_ISA=avx512 or
// setIsa('avx512') selects it.
const KernelTable* const kCompiledTables[] = {
#if defined(LP_KERNELS_HAVE_WASM_SIMD128)
    &wasm_simd128::kKernelTable,
#endif
#if defined(LP_KERNELS_HAVE_AVX2)
    &avx2::kKernelTable,
#endif
#if defined(LP_KERNELS_HAVE_AVX512)
    &avx512::kKernelTable,
#endif
#if defined(LP_KERNELS_HAVE_NEON)
    &neon::kKernelTable,
#endif
#if defined(LP_KERNELS_HAVE_SCALAR)
    &scalar::kKernelTable,
#endif
};

constexpr size_t kCompiledTableCount = sizeof(kCompiledTables) / sizeof(kCompiledTables[0]);

#if defined(LP_KERNELS_X86_64)

struct X86Features {
  bool avx2;  // AVX2 and FMA, with the OS saving the YMM state
  bool avx512;  // AVX-512F and DQ, with the OS saving the ZMM state
};

#if defined(_MSC_VER) && !defined(__clang__)
X86Features detectX86Features() {
  X86Features f{false, false};
  int regs[4];
  __cpuid(regs, 0);
  if (regs[0] < 7) return f;
  __cpuid(regs, 1);
  const bool fma = (regs[2] & (1 << 12)) != 0;
  const bool osxsave = (regs[2] & (1 << 27)) != 0;
  const bool avx = (regs[2] & (1 << 28)) != 0;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = _xgetbv(0);
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  __cpuidex(regs, 7, 0);
  const bool avx2 = (regs[1] & (1 << 5)) != 0;
  const bool avx512f = (regs[1] & (1 << 16)) != 0;
  const bool avx512dq = (regs[1] & (1 << 17)) != 0;
  f.avx2 = ymmState && avx2 && fma;
  f.avx512 = zmmState && avx512f && avx512dq;
  return f;
}
#else
X86Features detectX86Features() {
  // The compiler runtime's check also verifies that the OS saves the wider
  // register state (XGETBV), not only the CPUID bits.
  __builtin_cpu_init();
  X86Features f;
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return f;
}
#endif

const X86Features& x86Features() {
  static const X86Features features = detectX86Features();
  return features;
}

#endif  // LP_KERNELS_X86_64

}  // namespace

const KernelTable* const* compiledKernelTables(size_t* count) {
  if (count != nullptr) *count = kCompiledTableCount;
  return kCompiledTables;
}

bool cpuSupports(const KernelTable& table) {
#if defined(LP_KERNELS_HAVE_AVX512)
  if (&table == &avx512::kKernelTable) return x86Features().avx512;
#endif
#if defined(LP_KERNELS_HAVE_AVX2)
  if (&table == &avx2::kKernelTable) return x86Features().avx2;
#endif
  // NEON is part of AArch64; the wasm engine validated the module; the scalar
  // table needs nothing. A table that is not one of ours is not supported.
  for (size_t i = 0; i < kCompiledTableCount; ++i) {
    if (kCompiledTables[i] == &table) return true;
  }
  return false;
}

const KernelTable& bestKernelTable() {
  for (size_t i = 0; i < kCompiledTableCount; ++i) {
    if (cpuSupports(*kCompiledTables[i])) return *kCompiledTables[i];
  }
  // The last table (scalar or the single wasm table) is always supported.
  return *kCompiledTables[kCompiledTableCount - 1];
}

const KernelTable* findKernelTable(const char* name, const char** reason) {
  // Per thread, so that two threads asking at once keep their own message.
  thread_local char message[256];
  const char* shownName = name != nullptr ? name : "(null)";
  for (size_t i = 0; name != nullptr && i < kCompiledTableCount; ++i) {
    const KernelTable& table = *kCompiledTables[i];
    if (std::strcmp(table.name, name) != 0) continue;
    if (cpuSupports(table)) {
      if (reason != nullptr) *reason = nullptr;
      return &table;
    }
    std::snprintf(message, sizeof message, "this CPU does not support %s", table.name);
    if (reason != nullptr) *reason = message;
    return nullptr;
  }
  // List the compiled tables from the baseline up ("scalar, avx512, avx2").
  int used = std::snprintf(message, sizeof message, "unknown ISA '%.64s'; compiled: ", shownName);
  for (size_t i = kCompiledTableCount; i > 0 && used > 0 && static_cast<size_t>(used) < sizeof message;
       --i) {
    const int wrote = std::snprintf(message + used, sizeof message - static_cast<size_t>(used), "%s%s",
                                    kCompiledTables[i - 1]->name, i > 1 ? ", " : "");
    if (wrote < 0) break;
    used += wrote;
  }
  if (reason != nullptr) *reason = message;
  return nullptr;
}

}  // namespace lp

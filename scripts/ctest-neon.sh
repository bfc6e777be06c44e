#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The NEON kernel table's C++ tests: cross-built for AArch64 in build-neon/ and
# run under qemu-aarch64 (user-mode emulation), since the machines we work on
# are x86-64 and NEON ships in the arm64 prebuilds. kernels_neon runs here, and
# kernels_selection (plain code, but the arm64 compiler's: its radix select,
# sampled bracket and nth_element); the dispatch, spec, thread and scalar
# tests already run natively. About 2 minutes and 45 s emulated, against 13 s
# and 6 s natively.
# Needs aarch64-linux-gnu-g++ and qemu-aarch64 (Debian: g++-aarch64-linux-gnu,
# qemu-user); exits 77 without them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-neon"
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"

for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake; do
  if ! command -v "$tool" >/dev/null; then
    echo "ctest-neon: '$tool' is not on PATH (Debian: g++-aarch64-linux-gnu, qemu-user)" >&2
    exit 77
  fi
done

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/scripts/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build" --parallel "$jobs" --target kernels_test
ctest --test-dir "$build" --output-on-failure -R '^kernels_(neon|selection)$'

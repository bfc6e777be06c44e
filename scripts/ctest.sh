#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configures, builds and runs the C++ kernel unit tests (CMake + ctest) in build-cmake/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-cmake"
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --parallel "$jobs"
# The tests are independent processes: one per core.
ctest --test-dir "$build" --output-on-failure --parallel "$jobs"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rebuilds lp_optim.wasm and lp_optim_simd.wasm, each with a _shared variant (shared memory, for allocArray), (emscripten, through CMake and native/sources.json) into OUTDIR (default wasm/).
#
# Usage: scripts/build-wasm.sh [OUTDIR]
# Needs emcc/emcmake on PATH (emscripten 3.1.6 is what the committed files
# were built with; another version gives other, equally valid, bytes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
outdir="${1:-$root/wasm}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
jobs="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"

for tool in emcmake emcc cmake node; do
  command -v "$tool" >/dev/null || { echo "build-wasm: '$tool' is not on PATH" >&2; exit 1; }
done

# A fresh build directory every time: nothing stale, and a path that differs
# from run to run, which check-wasm.sh relies on to catch embedded paths.
build="$(mktemp -d "${TMPDIR:-/tmp}/lp-optim-wasm.XXXXXX")"
trap 'rm -rf "$build"' EXIT

emcmake cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --parallel "$jobs"

for name in lp_optim lp_optim_simd lp_optim_shared lp_optim_simd_shared; do
  # The loader instantiates these with one import only; fail here, not there.
  # And no function body over 64 KB: V8 runs a function on its baseline tier
  # until its optimising tier has compiled it, which for the 190 KB body
  # fusedStepRows once was (see lp_add_wasm in CMakeLists.txt) took 0.3 s.
  node -e '
    const file = process.argv[1];
    const bytes = require("fs").readFileSync(file);
    const mod = new WebAssembly.Module(bytes);
    const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
    if (imports.join() !== "env.emscripten_notify_memory_growth") {
      console.error(`build-wasm: ${file} has unexpected imports: ${imports.join(", ")}`);
      process.exit(1);
    }
    let at = 8; // after the magic number and version, a sequence of sections
    const leb = () => {
      let value = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[at++];
        value += (byte & 127) * 2 ** shift;
        if (byte < 128) return value;
      }
    };
    let largest = 0;
    while (at < bytes.length) {
      const id = bytes[at++];
      const end = leb() + at;
      if (id === 10) { // the code section: a count, then each body after its size
        for (let count = leb(); count > 0; count--) {
          const size = leb();
          largest = Math.max(largest, size);
          at += size;
        }
      }
      at = end;
    }
    if (largest === 0 || largest > 65536) {
      console.error(`build-wasm: ${file}: largest function body ${largest} bytes (expected 1 to 65536)`);
      process.exit(1);
    }' "$build/$name.wasm"
  cp "$build/$name.wasm" "$outdir/$name.wasm"
done
echo "build-wasm: wrote lp_optim.wasm, lp_optim_simd.wasm and their _shared variants to $outdir"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails (exit 1) when a fresh build of the WebAssembly modules differs from the committed wasm/*.wasm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fresh="$(mktemp -d "${TMPDIR:-/tmp}/lp-optim-wasm-check.XXXXXX")"
trap 'rm -rf "$fresh"' EXIT

bash "$root/scripts/build-wasm.sh" "$fresh" >/dev/null

status=0
for name in lp_optim.wasm lp_optim_simd.wasm lp_optim_shared.wasm lp_optim_simd_shared.wasm; do
  if [ ! -f "$root/wasm/$name" ]; then
    echo "check-wasm: wasm/$name is missing; run scripts/build-wasm.sh" >&2
    status=1
  elif ! cmp -s "$root/wasm/$name" "$fresh/$name"; then
    echo "check-wasm: wasm/$name differs from a fresh build; run scripts/build-wasm.sh and commit the result" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "check-wasm: every wasm/*.wasm module matches a fresh build"
exit "$status"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A differential run against rai_toolbox itself: random cases recorded from
# the reference (gen_optim.py: small, big and groups; gen_attack.py), then
# each through lp-optim on every native ISA this CPU runs and both
# WebAssembly modules, over ordinary arrays and allocArray ones. Needs
# /usr/bin/python3 with torch (Debian: python3-torch) and rai_toolbox's
# source (github.com/mit-ll-responsible-ai/responsible-ai-toolbox, its src/).
#
#   bash scripts/differential/run.sh <responsible-ai-toolbox>/src [SEED] [COUNT]
#
# COUNT (default 100) cases of each kind but big (COUNT / 20: each holds up
# to 210,000 elements a tensor). Exits non-zero when any case disagrees.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rai="${1:?usage: run.sh <responsible-ai-toolbox>/src [SEED] [COUNT]}"
seed="${2:-1}"
count="${3:-100}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

gen() { PYTHONPATH="$rai" /usr/bin/python3 "$root/scripts/differential/$@"; }
echo "differential: recording cases from rai_toolbox (seed $seed) in $out"
gen gen_optim.py small "$seed" "$count" > "$out/small.json"
gen gen_optim.py big "$seed" "$(( (count + 19) / 20 ))" > "$out/big.json"
gen gen_optim.py groups "$seed" "$count" > "$out/groups.json"
gen gen_attack.py "$seed" "$(( (count + 1) / 2 ))" > "$out/attack.json"

cd "$root"
isas="$(node -e "process.stdout.write(require('node-gyp-build')(process.cwd()).supportedIsas().join(' '))")"
failed=0
run() { # ISA, cases file, test file, alloc
  local label="$1 $(basename "$2" .json)${4:+ (allocArray)}"
  if LP_OPTIM_FORCE_ISA="$1" LP_DIFF_CASES="$2" LP_DIFF_ALLOC="${4:-0}" \
     npx jest --roots='<rootDir>/scripts/differential' --testPathPattern "differential/$3" --silent > "$out/log" 2>&1; then
    echo "differential: $label: $(grep -o 'Tests: .*' "$out/log")"
  else
    failed=1
    echo "differential: $label: FAILED"
    grep -E '✕|●' "$out/log" | head -20
  fi
}
for isa in $isas wasm-simd128 wasm; do
  for kind in small big groups; do run "$isa" "$out/$kind.json" optim; done
  run "$isa" "$out/attack.json" attack
done
for isa in wasm-simd128 ${isas%% *}; do
  for kind in small big groups; do run "$isa" "$out/$kind.json" optim 1; done
done
exit "$failed"

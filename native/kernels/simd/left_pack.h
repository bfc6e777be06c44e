// SPDX-License-Identifier: MIT
// Tables for left-packing the lanes a vector compare selected (top-q's
// bracket scan, Vec<float>::listBracket): for each lane mask, the selected
// lanes' numbers in increasing order, then how many there are. Data only,
// built at compile time, so every ISA's translation unit may share them
// (unlike code compiled with that ISA's flags).
#ifndef LP_OPTIM_SIMD_LEFT_PACK_H_
#define LP_OPTIM_SIMD_LEFT_PACK_H_

#include <cstdint>

namespace lp {

template <unsigned kLanes, typename Lane>
struct LeftPackTable {
  Lane lane[1u << kLanes][kLanes];  // unused places 0
  uint8_t count[1u << kLanes];
};

template <unsigned kLanes, typename Lane>
constexpr LeftPackTable<kLanes, Lane> makeLeftPackTable() {
  LeftPackTable<kLanes, Lane> table{};
  for (unsigned mask = 0; mask < (1u << kLanes); ++mask) {
    unsigned k = 0;
    for (unsigned i = 0; i < kLanes; ++i) {
      if ((mask >> i) & 1u) table.lane[mask][k++] = static_cast<Lane>(i);
    }
    table.count[mask] = static_cast<uint8_t>(k);
  }
  return table;
}

// Eight lanes as bytes (AVX2 widens them on load; AVX-512 counts its 16-bit
// masks a byte at a time here), four as 32-bit lanes (NEON, wasm simd128).
inline constexpr LeftPackTable<8, uint8_t> kLeftPack8 = makeLeftPackTable<8, uint8_t>();
inline constexpr LeftPackTable<4, uint32_t> kLeftPack4 = makeLeftPackTable<4, uint32_t>();

}  // namespace lp

#endif  // LP_OPTIM_SIMD_LEFT_PACK_H_

// SPDX-License-Identifier: MIT
// The selection kernels topQRows and l1LmoRows (see kernels.h): plain code,
// built with the target's baseline flags and shared by every kernel table.
//
// Both rank entries by an unsigned integer key that orders like the rank of
// kernels.h: the bits of |g| (the sign bit cleared), which for non-negative
// IEEE values order exactly like the values (-0 and +0 are both 0, +Inf is
// above every finite value), with every NaN mapped to one key just above
// +Inf. Ties between equal keys go to the lower index.
//
// topQRows finds the keep-th largest key by a most-significant-digit radix
// select (8-bit digits, one counting pass over the row per digit, stopping as
// soon as the candidates are all kept), then keeps in one last pass every
// entry above that key and, in index order, as many entries equal to it as
// are still needed. That is O(cols) time and needs no memory beyond 256
// counters, so it cannot fail and pulls nothing into the wasm modules.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lp {
namespace {

template <typename T>
struct KeyTraits;

template <>
struct KeyTraits<float> {
  using Key = uint32_t;
  static constexpr Key kInfinity = 0x7F800000u;
};

template <>
struct KeyTraits<double> {
  using Key = uint64_t;
  static constexpr Key kInfinity = 0x7FF0000000000000ull;
};

template <typename T>
using KeyOf = typename KeyTraits<T>::Key;

// The rank key of x: larger means ranked first.
template <typename T>
KeyOf<T> magnitudeKey(T x) {
  using Key = KeyOf<T>;
  constexpr Key kSignBit = Key(1) << (sizeof(Key) * 8 - 1);
  Key bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits &= ~kSignBit;
  // Every NaN (any payload, either sign) ranks equal and above +Inf.
  return bits > KeyTraits<T>::kInfinity ? KeyTraits<T>::kInfinity + 1 : bits;
}

// torch.sign: 1, -1, or +0 for 0, -0 and NaN.
template <typename T>
T signOf(T v) {
  return (v > T(0) ? T(1) : T(0)) - (v < T(0) ? T(1) : T(0));
}

constexpr unsigned kDigitBits = 8;
constexpr size_t kDigitValues = size_t{1} << kDigitBits;

// One row of topQRows, with 0 < keep < cols.
template <typename T>
void topQRow(T* row, size_t cols, size_t keep) {
  using Key = KeyOf<T>;
  constexpr unsigned kKeyBits = sizeof(Key) * 8;
  // The candidates are the entries whose key matches prefix on the bits of
  // mask; the entry sought is the need-th largest of them (ties by index),
  // and every entry whose masked key is above prefix ranks before it.
  Key prefix = 0;
  Key mask = 0;
  size_t need = keep;
  for (unsigned shift = kKeyBits; shift > 0;) {
    shift -= kDigitBits;
    size_t count[kDigitValues] = {};
    for (size_t j = 0; j < cols; ++j) {
      const Key key = magnitudeKey(row[j]);
      if ((key & mask) == prefix) ++count[static_cast<size_t>(key >> shift) & (kDigitValues - 1)];
    }
    // The digit of the need-th largest candidate (need <= the candidates, so
    // this stops at a digit at the latest at 0).
    size_t digit = kDigitValues - 1;
    size_t above = 0;
    while (above + count[digit] < need) above += count[digit--];
    need -= above;
    prefix |= static_cast<Key>(digit) << shift;
    mask |= static_cast<Key>(kDigitValues - 1) << shift;
    // All the remaining candidates are kept: the order among them no longer
    // matters, so the prefix decides.
    if (count[digit] == need) break;
  }
  // Keep the entries ranked above the prefix, and the first `need` (by
  // index) of those matching it; zero the rest.
  for (size_t j = 0; j < cols; ++j) {
    const Key key = magnitudeKey(row[j]) & mask;
    if (key > prefix) continue;
    if (key == prefix && need != 0) {
      --need;
      continue;
    }
    row[j] = T(0);
  }
}

}  // namespace

template <typename T>
void topQRows(T* g, size_t rows, size_t cols, size_t keep) {
  if (keep >= cols) return;
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    if (keep == 0) {
      for (size_t j = 0; j < cols; ++j) row[j] = T(0);
    } else {
      topQRow(row, cols, keep);
    }
  }
}

template <typename T>
void l1LmoRows(T* g, size_t rows, size_t cols) {
  if (cols == 0) return;
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    size_t best = 0;
    KeyOf<T> bestKey = magnitudeKey(row[0]);
    for (size_t j = 1; j < cols; ++j) {
      const KeyOf<T> key = magnitudeKey(row[j]);
      if (key > bestKey) {  // strictly: the first of equal magnitudes stays
        best = j;
        bestKey = key;
      }
    }
    const T s = signOf(row[best]);
    // torch zeroes with grad.mul_(0): NaN (and Inf * 0) give NaN, a negative
    // entry gives -0.
    for (size_t j = 0; j < cols; ++j) row[j] = row[j] * T(0);
    row[best] = s;
  }
}

template void topQRows<float>(float* g, size_t rows, size_t cols, size_t keep);
template void topQRows<double>(double* g, size_t rows, size_t cols, size_t keep);
template void l1LmoRows<float>(float* g, size_t rows, size_t cols);
template void l1LmoRows<double>(double* g, size_t rows, size_t cols);

}  // namespace lp

// SPDX-License-Identifier: MIT
// The selection kernels topQRows, topQSignL1Rows and l1LmoRows (see
// kernels.h): plain code, built with the target's baseline flags and shared
// by every kernel table.
//
// Both rank entries by an unsigned integer key that orders like the rank of
// kernels.h: the bits of |g| (the sign bit cleared), which for non-negative
// IEEE values order exactly like the values (-0 and +0 are both 0, +Inf is
// above every finite value), with every NaN mapped to one key just above
// +Inf. Ties between equal keys go to the lower index.
//
// topQRows finds the keep-th largest key by a most-significant-digit radix
// select (8-bit digits, one counting pass over the row per digit, stopping as
// soon as the candidates are all kept, or as 0 turns out to be the threshold), then keeps in one last pass every
// entry above that key and, in index order, as many entries equal to it as
// are still needed; once few candidates are left, that last pass also copies
// them and the last digits are counted over the copy. Long rows first try a
// bracket read off a sample (bracketedTopQRow): two passes where the radix
// select takes three, the first of them the kernel table's listBracket
// (vector compares and a left-pack of the indices where the ISA has them;
// the plain loop here otherwise); when the sample puts both ends of the
// bracket on one key, a counting pass checks that key instead
// (oneKeyTopQRow: rows mostly of zeros or of one magnitude, whose ties the
// list could not hold). That is O(cols) time; the radix select needs nothing
// beyond the stack (counters and at most kBufferedCandidates keys and
// indices, about 26 KB), and the bracket's scratch (80 KB at most, once per
// call) comes from malloc, off the stack of whatever thread runs it: when
// malloc fails, the radix select runs instead, so a call cannot fail.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

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

// x where keep, else +0, by a mask on its bits: written as a choice, the
// compiler branched, and where about half the entries are kept (q near 0.5)
// that branch went either way at random (the pass took twice as long).
template <typename T>
T keptOrZero(T x, bool keep) {
  using Key = KeyOf<T>;
  Key bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits &= Key(0) - static_cast<Key>(keep);
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

constexpr unsigned kDigitBits = 8;
constexpr size_t kDigitValues = size_t{1} << kDigitBits;

// A counting pass keeps this many histograms, entry j adding to histogram
// j % kHistograms: a row's magnitudes share few exponents, so one histogram's
// increments mostly hit the same counter and wait on each other through
// memory (the first digit's pass took most of an ImageNet row's selection).
constexpr size_t kHistograms = 4;

// Once this few candidates are left (and they are under half the row), the
// pass that settles the other entries also copies the candidates' keys and
// indices to the stack; the remaining digits are counted over the copy alone
// (an ImageNet row of 150528 entries has a few hundred left after two digits).
constexpr size_t kBufferedCandidates = 1024;

// The digit (and how many candidates rank above it) of the need-th largest
// of the counted candidates; counts[0][d] becomes digit d's total. need <=
// their number, so this stops at a digit at the latest at 0 (and stops there
// anyway, should another thread be writing a shared array meanwhile).
inline size_t findDigit(size_t (*counts)[kDigitValues], size_t histograms, size_t need, size_t* above) {
  size_t digit = kDigitValues - 1;
  size_t sum = 0;
  for (;; --digit) {
    size_t total = 0;
    for (size_t h = 0; h < histograms; ++h) total += counts[h][digit];
    counts[0][digit] = total;
    if (sum + total >= need || digit == 0) break;
    sum += total;
  }
  *above = sum;
  return digit;
}

// Long rows first try a bracket read off a sample, which settles most rows
// in two passes over the row (the radix select below takes three, and its
// counting passes are the slow kind: each entry increments a counter in
// memory). An evenly spaced sample of the row's keys gives two keys, hi
// and lo, between which the keep-th largest almost surely lies; one pass
// (listBracket) counts the entries above hi and lists the indices of those
// in [lo, hi]; the exact threshold is selected among the listed entries
// alone, and one last pass keeps what is at or above it. When the sample
// misleads (the threshold outside the bracket, or more entries inside it
// than the list holds: rows of few distinct magnitudes, or patterns in step
// with the sample), nothing has been written yet and the radix select runs.
constexpr size_t kBracketMinCols = 32768;
constexpr size_t kBracketSample = 2048;
// How many indices the list holds; rows whose expected bracket would not fit
// in three quarters of it skip the attempt.
constexpr size_t kBracketCapacity = 16384;

template <typename T>
struct BracketScratch {
  KeyOf<T> sample[kBracketSample];
  uint32_t listed[kBracketCapacity + kListSlack];
};

// The scratch of a call whose rows are long enough to try the bracket (null
// otherwise, or when malloc fails); freed when it goes out of scope.
template <typename T>
struct BracketScratchFor {
  BracketScratch<T>* scratch;
  explicit BracketScratchFor(size_t cols)
      : scratch(cols >= kBracketMinCols && cols <= UINT32_MAX
                    ? static_cast<BracketScratch<T>*>(std::malloc(sizeof(BracketScratch<T>)))
                    : nullptr) {}
  ~BracketScratchFor() { std::free(scratch); }
  BracketScratchFor(const BracketScratchFor&) = delete;
  BracketScratchFor& operator=(const BracketScratchFor&) = delete;
};

// A row whose threshold is likely the key k (a long row's sample put both
// ends of the bracket on it; or 0, where the radix select's first digit is
// 0): when k is the keep-th largest key (one counting pass says so), the row is
// settled in that pass, a search for the last tie kept, and the keep pass;
// else (false) nothing has been written. Rows mostly of zeros (a sparse
// gradient), of one magnitude (signs) or of NaN have their threshold tied
// over most of the row, where the radix select finds it only after a
// counting pass per digit, each incrementing one counter entry after entry
// (an ImageNet batch, 95% zeros, q 0.9: 82 ms a sparse L1 step, 15 ms for
// a dense one).
template <typename T>
bool oneKeyTopQRow(T* row, size_t cols, size_t keep, KeyOf<T> k) {
  // On the raw magnitude bits (sign cleared, NaN payloads kept), compared
  // as signed integers (the bits fit; SSE2 has no unsigned compare), so
  // that the passes vectorise: an entry ranks at or above k where its bits
  // are >= k, and above k where they are > kAbove (k itself, except that
  // when k is NaN's key nothing ranks above it).
  using Key = KeyOf<T>;
  using SignedKey = std::make_signed_t<Key>;
  constexpr Key kAbsMask = ~(Key(1) << (sizeof(Key) * 8 - 1));
  const SignedKey atLeast = static_cast<SignedKey>(k);
  const SignedKey kAbove = static_cast<SignedKey>(k > KeyTraits<T>::kInfinity ? kAbsMask : k);
  const auto magnitudeBits = [row](size_t j) {
    Key bits;
    std::memcpy(&bits, &row[j], sizeof bits);
    return static_cast<SignedKey>(bits & kAbsMask);
  };
  size_t atOrAbove = 0;
  size_t above = 0;
  for (size_t j = 0; j < cols; ++j) {
    const SignedKey bits = magnitudeBits(j);
    atOrAbove += bits >= atLeast;
    above += bits > kAbove;
  }
  if (above >= keep || atOrAbove < keep) return false;
  // The entries tied at k before `end` are the first keep - above of them.
  // (Never past the row, should another thread be writing a shared array
  // meanwhile.)
  size_t need = keep - above;
  size_t end = 0;
  while (need != 0 && end < cols) {
    const SignedKey bits = magnitudeBits(end++);
    need -= bits >= atLeast && bits <= kAbove;
  }
  for (size_t j = 0; j < end; ++j) row[j] = keptOrZero(row[j], magnitudeBits(j) >= atLeast);
  for (size_t j = end; j < cols; ++j) row[j] = keptOrZero(row[j], magnitudeBits(j) > kAbove);
  return true;
}

// Rows of few distinct magnitudes (signs, a quantised gradient) tie their
// threshold over much of the row, where the radix select takes a counting
// pass per digit of a key every candidate shares (a row of signs: four).
// A probe of kTiedProbe evenly spaced entries shows such a row: unless some
// neighbouring probed keys are equal (for a row of varied magnitudes almost
// never), it costs those loads and compares and nothing more; else the
// probed key nearest the keep-th rank, where it recurs among the probed
// ones, is checked as the threshold by oneKeyTopQRow (one vectorised pass;
// on a wrong guess nothing has been written).
constexpr size_t kTiedProbe = 32;
constexpr size_t kTiedProbeMinCols = 256;

template <typename T>
bool tiedKeyTopQRow(T* row, size_t cols, size_t keep) {
  using Key = KeyOf<T>;
  Key probe[kTiedProbe];
  size_t neighboursEqual = 0;
  for (size_t i = 0; i < kTiedProbe; ++i) {
    probe[i] = magnitudeKey(row[i * cols / kTiedProbe]);
    if (i != 0) neighboursEqual += probe[i] == probe[i - 1];
  }
  if (neighboursEqual < 2) return false;
  // The keep-th largest sits about keep / cols of the way down from the top.
  const size_t fromTop = static_cast<size_t>(double(keep) / double(cols) * kTiedProbe);
  const size_t place = kTiedProbe - 1 - (fromTop < kTiedProbe ? fromTop : kTiedProbe - 1);
  std::nth_element(probe, probe + place, probe + kTiedProbe);
  const Key k = probe[place];
  size_t same = 0;
  for (size_t i = 0; i < kTiedProbe; ++i) same += probe[i] == k;
  return same >= 4 && oneKeyTopQRow(row, cols, keep, k);
}

// scratch comes from BracketScratchFor, which makes one only for rows of
// kBracketMinCols to UINT32_MAX entries (the list holds 32-bit indices).
template <typename T>
bool bracketedTopQRow(T* row, size_t cols, size_t keep, BracketScratch<T>& scratch,
                      ListBracket<T> listBracket) {
  using Key = KeyOf<T>;
  constexpr Key kAbsMask = ~(Key(1) << (sizeof(Key) * 8 - 1));
  constexpr Key kFiniteMax = KeyTraits<T>::kInfinity - 1;
  // The bracket spans 3.5 standard deviations of the sample's count above
  // the threshold on either side (plus 4 ranks for small fractions): a
  // random row misses it about once in 2000.
  const double fraction = double(keep) / double(cols);
  const double expectedRank = fraction * kBracketSample;  // counted from the top
  const double spread = 3.5 * std::sqrt(kBracketSample * fraction * (1 - fraction)) + 4;
  if (double(cols) * 2 * spread / kBracketSample > 0.75 * kBracketCapacity) return false;

  Key* const sample = scratch.sample;
  for (size_t i = 0; i < kBracketSample; ++i) {
    sample[i] = magnitudeKey(row[static_cast<size_t>(uint64_t(i) * cols / kBracketSample)]);
  }
  // The key of descending rank r (0: the largest) is at ascending place
  // kBracketSample - 1 - r once selected; lo is selected first, so hi's
  // place is searched above it only.
  const double loRank = expectedRank + spread;
  const double hiRank = expectedRank - spread;
  Key lo = 0;
  size_t loPlace = 0;
  if (loRank < kBracketSample - 1) {
    loPlace = kBracketSample - 1 - static_cast<size_t>(loRank);
    std::nth_element(sample, sample + loPlace, sample + kBracketSample);
    lo = sample[loPlace];
  }
  // Keys above kFiniteMax (infinities, NaN) are never inside the bracket,
  // so that the entries above it are counted by their raw bits.
  Key hi = kFiniteMax;
  if (hiRank >= 0) {
    const size_t hiPlace = kBracketSample - 1 - static_cast<size_t>(hiRank);
    if (hiPlace > loPlace) {
      std::nth_element(sample + loPlace + 1, sample + hiPlace, sample + kBracketSample);
      // Both ends one key: most likely the threshold, tied far beyond what
      // the list holds (a row mostly of zeros, of one magnitude, of NaN).
      if (sample[hiPlace] == lo) return oneKeyTopQRow(row, cols, keep, lo);
      hi = sample[hiPlace] < kFiniteMax ? sample[hiPlace] : kFiniteMax;
    }
  }
  if (lo >= hi) return false;
  // Rows of few distinct magnitudes put far more of the sample inside the
  // bracket than its ranks span: the list would overflow, so do not try.
  size_t sampledInside = 0;
  for (size_t i = 0; i < kBracketSample; ++i) sampledInside += sample[i] >= lo && sample[i] <= hi;
  if (double(sampledInside) * double(cols) / kBracketSample > 0.9 * kBracketCapacity) return false;

  uint32_t* const listed = scratch.listed;
  size_t above = 0;
  const size_t n = listBracket(row, cols, lo, hi, listed, kBracketCapacity, &above);
  if (n > kBracketCapacity || above >= keep || above + n < keep) return false;

  // The need-th largest listed entry, by its key's offset from lo, a digit
  // at a time from the highest digit the offsets use.
  size_t need = keep - above;
  const Key width = hi - lo;
  unsigned shift = 0;
  while (shift < sizeof(Key) * 8 && (width >> shift) != 0) shift += kDigitBits;
  Key prefix = 0;
  Key mask = 0;
  bool exact = true;
  while (shift > 0) {
    shift -= kDigitBits;
    size_t counts[1][kDigitValues] = {};
    for (size_t k = 0; k < n; ++k) {
      Key bits;
      std::memcpy(&bits, &row[listed[k]], sizeof bits);
      const Key offset = (bits & kAbsMask) - lo;
      counts[0][static_cast<size_t>(offset >> shift) & (kDigitValues - 1)] += (offset & mask) == prefix;
    }
    size_t ranksAbove = 0;
    const size_t digit = findDigit(counts, 1, need, &ranksAbove);
    need -= ranksAbove;
    prefix |= static_cast<Key>(digit) << shift;
    mask |= static_cast<Key>(kDigitValues - 1) << shift;
    // Every listed entry with this prefix is kept: the prefix decides.
    if (counts[0][digit] == need) {
      exact = false;
      break;
    }
  }
  const Key threshold = lo + prefix;
  if (exact) {
    // Entries equal to the threshold (all listed, in index order): the
    // first `need` stay, the others become +0 now, so that the pass below,
    // which keeps whatever is at or above the threshold, drops them (a
    // threshold of 0 keeps +0 as +0).
    for (size_t k = 0; k < n; ++k) {
      T& x = row[listed[k]];
      Key bits;
      std::memcpy(&bits, &x, sizeof bits);
      if ((bits & kAbsMask) != threshold) continue;
      if (need != 0) {
        --need;
      } else {
        x = T(0);
      }
    }
  }
  for (size_t j = 0; j < cols; ++j) {
    Key bits;
    std::memcpy(&bits, &row[j], sizeof bits);
    row[j] = keptOrZero(row[j], (bits & kAbsMask) >= threshold);
  }
  return true;
}

// One row of topQRows, with 0 < keep < cols; scratch may be null.
template <typename T>
void topQRow(T* row, size_t cols, size_t keep, BracketScratch<T>* scratch,
             ListBracket<T> listBracket) {
  if (scratch != nullptr && bracketedTopQRow(row, cols, keep, *scratch, listBracket)) return;
  if (cols >= kTiedProbeMinCols && tiedKeyTopQRow(row, cols, keep)) return;
  using Key = KeyOf<T>;
  constexpr unsigned kKeyBits = sizeof(Key) * 8;
  // The candidates are the entries whose key matches prefix on the bits of
  // mask; the entry sought is the need-th largest of them (ties by index),
  // and every entry whose masked key is above prefix ranks before it.
  Key prefix = 0;
  Key mask = 0;
  size_t need = keep;
  size_t candidates = cols;
  unsigned shift = kKeyBits;
  bool decided = false;
  // Counting passes over the whole row while the candidates are many (or
  // still most of the row, where copying them would only add a pass).
  while (shift > 0 && (candidates > kBufferedCandidates || candidates * 2 > cols)) {
    shift -= kDigitBits;
    size_t counts[kHistograms][kDigitValues] = {};
    size_t j = 0;
    // Every entry adds its match (0 or 1) rather than branching on it: about
    // half of a row's entries are candidates in the second digit's pass, a
    // branch mispredicted at every other entry.
    for (; cols - j >= kHistograms; j += kHistograms) {
      for (size_t h = 0; h < kHistograms; ++h) {
        const Key key = magnitudeKey(row[j + h]);
        counts[h][static_cast<size_t>(key >> shift) & (kDigitValues - 1)] += (key & mask) == prefix;
      }
    }
    for (; j < cols; ++j) {
      const Key key = magnitudeKey(row[j]);
      counts[0][static_cast<size_t>(key >> shift) & (kDigitValues - 1)] += (key & mask) == prefix;
    }
    size_t above = 0;
    const size_t digit = findDigit(counts, kHistograms, need, &above);
    need -= above;
    prefix |= static_cast<Key>(digit) << shift;
    mask |= static_cast<Key>(kDigitValues - 1) << shift;
    candidates = counts[0][digit];
    // All the remaining candidates are kept: the order among them no longer
    // matters, so the prefix decides.
    if (candidates == need) {
      decided = true;
      break;
    }
    // A first digit of 0 holds the zeros and the magnitudes under 2^-125
    // (float64: 2^-1021). Where 0 itself is the threshold (a sparse
    // gradient), the digits below would only count the same entries again,
    // three more passes: oneKeyTopQRow checks 0 in one vectorised pass and
    // settles the row (else it writes nothing, and the digits go on).
    if (digit == 0 && shift == kKeyBits - kDigitBits && oneKeyTopQRow(row, cols, keep, Key(0))) return;
  }
  if (!decided && shift > 0) {
    // One pass settles every entry but the candidates (those above the
    // prefix kept, those below zeroed) and copies the candidates' keys and
    // indices; the remaining digits are counted over the copy, then only
    // the candidates are revisited.
    Key keys[kBufferedCandidates];
    size_t at[kBufferedCandidates];
    size_t n = 0;
    for (size_t j = 0; j < cols; ++j) {
      const Key key = magnitudeKey(row[j]);
      const Key masked = key & mask;
      // (n cannot pass the count, but another thread writing a shared
      // array meanwhile could change it: never past the buffer.)
      row[j] = keptOrZero(row[j], masked >= prefix);
      if (masked == prefix && n < kBufferedCandidates) {
        keys[n] = key;
        at[n++] = j;
      }
    }
    while (shift > 0) {
      shift -= kDigitBits;
      size_t counts[1][kDigitValues] = {};
      for (size_t k = 0; k < n; ++k) {
        counts[0][static_cast<size_t>(keys[k] >> shift) & (kDigitValues - 1)] += (keys[k] & mask) == prefix;
      }
      size_t above = 0;
      const size_t digit = findDigit(counts, 1, need, &above);
      need -= above;
      prefix |= static_cast<Key>(digit) << shift;
      mask |= static_cast<Key>(kDigitValues - 1) << shift;
      if (counts[0][digit] == need) break;
    }
    // The candidates, in index order, as the last pass below treats a row.
    for (size_t k = 0; k < n; ++k) {
      const Key key = keys[k] & mask;
      const bool tie = key == prefix && need != 0;
      need -= tie;
      if (!(key > prefix || tie)) row[at[k]] = T(0);
    }
    return;
  }
  // Keep the entries ranked above the prefix, and the first `need` (by
  // index) of those matching it; zero the rest.
  // (Without branches on the keys, which go either way unpredictably.)
  for (size_t j = 0; j < cols; ++j) {
    const Key key = magnitudeKey(row[j]) & mask;
    const bool tie = key == prefix && need != 0;
    need -= tie;
    row[j] = keptOrZero(row[j], key > prefix || tie);
  }
}

}  // namespace

template <typename T>
void topQRows(T* g, size_t rows, size_t cols, size_t keep, ListBracket<T> listBracket) {
  if (keep >= cols) return;
  if (listBracket == nullptr) listBracket = &listBracketPlain<T>;
  const BracketScratchFor<T> bracket(keep == 0 ? 0 : cols);
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    if (keep == 0) {
      for (size_t j = 0; j < cols; ++j) row[j] = T(0);
    } else {
      topQRow(row, cols, keep, bracket.scratch, listBracket);
    }
  }
}

template <typename T>
void topQSignL1Rows(T* g, size_t rows, size_t cols, size_t keep, double divByZeroEps,
                    ListBracket<T> listBracket) {
  if (listBracket == nullptr) listBracket = &listBracketPlain<T>;
  const T eps = static_cast<T>(divByZeroEps);
  const BracketScratchFor<T> bracket(keep == 0 || keep >= cols ? 0 : cols);
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    if (keep == 0) {
      for (size_t j = 0; j < cols; ++j) row[j] = T(0);
    } else if (keep < cols) {
      topQRow(row, cols, keep, bracket.scratch, listBracket);
    }
    // The L1 norm of the signs is the count of entries neither zero nor NaN
    // (counted in 32 bits a block at a time, which the compiler vectorises).
    size_t nonzero = 0;
    for (size_t start = 0; start < cols; start += size_t{1} << 30) {
      const size_t end = cols - start > (size_t{1} << 30) ? start + (size_t{1} << 30) : cols;
      uint32_t block = 0;
      for (size_t j = start; j < end; ++j) block += (row[j] > T(0)) | (row[j] < T(0));
      nonzero += block;
    }
    const T count = static_cast<T>(nonzero);
    const T divisor = count < eps ? eps : count;  // as normalizeRowsL1's divisor
    if (nonzero == 0) {
      // Every sign is +0: +0 / divisor, which is NaN for a divisor of 0.
      for (size_t j = 0; j < cols; ++j) row[j] = signOf(row[j]) / divisor;
    } else {
      // divisor >= 1, so 1 / divisor is finite and s * (1 / divisor) is
      // s / divisor to the bit for s in {1, -1, +0}.
      const T reciprocal = T(1) / divisor;
      for (size_t j = 0; j < cols; ++j) row[j] = signOf(row[j]) * reciprocal;
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

template <typename T>
size_t listBracketFrom(const T* row, size_t begin, size_t cols, MagnitudeBitsOf<T> lo,
                       MagnitudeBitsOf<T> hi, uint32_t* listed, size_t capacity, size_t n,
                       size_t* above) {
  using Key = MagnitudeBitsOf<T>;
  constexpr Key kAbsMask = ~(Key(1) << (sizeof(Key) * 8 - 1));
  const Key width = hi - lo;
  size_t count = 0;
  for (size_t j = begin; j < cols; ++j) {
    Key bits;
    std::memcpy(&bits, &row[j], sizeof bits);
    const Key key = bits & kAbsMask;  // NaN's raw bits are above hi, as is its rank
    count += key > hi;
    // Written every time, kept when inside (no branch on a coin toss); past
    // the capacity, always at the same place.
    listed[n < capacity ? n : capacity] = static_cast<uint32_t>(j);
    n += Key(key - lo) <= width;
  }
  *above += count;
  return n;
}

template <typename T>
size_t listBracketPlain(const T* row, size_t cols, MagnitudeBitsOf<T> lo, MagnitudeBitsOf<T> hi,
                        uint32_t* listed, size_t capacity, size_t* above) {
  *above = 0;
  return listBracketFrom(row, 0, cols, lo, hi, listed, capacity, 0, above);
}

template void topQRows<float>(float* g, size_t rows, size_t cols, size_t keep, ListBracket<float>);
template void topQRows<double>(double* g, size_t rows, size_t cols, size_t keep, ListBracket<double>);
template void topQSignL1Rows<float>(float* g, size_t rows, size_t cols, size_t keep, double divByZeroEps,
                                    ListBracket<float>);
template void topQSignL1Rows<double>(double* g, size_t rows, size_t cols, size_t keep, double divByZeroEps,
                                     ListBracket<double>);
template size_t listBracketPlain<float>(const float*, size_t, uint32_t, uint32_t, uint32_t*, size_t, size_t*);
template size_t listBracketPlain<double>(const double*, size_t, uint64_t, uint64_t, uint32_t*, size_t, size_t*);
template size_t listBracketFrom<float>(const float*, size_t, size_t, uint32_t, uint32_t, uint32_t*, size_t,
                                       size_t, size_t*);
template size_t listBracketFrom<double>(const double*, size_t, size_t, uint64_t, uint64_t, uint32_t*,
                                        size_t, size_t, size_t*);
template void l1LmoRows<float>(float* g, size_t rows, size_t cols);
template void l1LmoRows<double>(double* g, size_t rows, size_t cols);

}  // namespace lp

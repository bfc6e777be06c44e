// SPDX-License-Identifier: MIT
// The kernel bodies, written once against the per-ISA Vec<T> wrapper and
// compiled once per ISA inside namespace lp::LP_ISA.
//
// Include exactly once, from a kernels_<isa>.cc that first defines LP_ISA
// (the namespace) and LP_ISA_NAME (the table name) and includes its
// simd/<isa>.h. There is deliberately no include guard.
//
// Everything here lives in lp::LP_ISA (most of it in an anonymous namespace
// there): code compiled with -mavx2 must never be shared, through the linker's
// merging of inline functions, with code that runs on CPUs without AVX2. That
// is also why nothing from <cmath> or <algorithm> is called.
#if !defined(LP_ISA) || !defined(LP_ISA_NAME)
#error "define LP_ISA and LP_ISA_NAME and include the matching simd/<isa>.h first"
#endif

#include <cstddef>
#include <limits>

#include "exact_fma.h"
#include "kernel_tables.h"

#if defined(_MSC_VER) && !defined(__clang__)
// MSVC has no __builtin_sqrt; its C sqrt(double) is an extern CRT function
// (an intrinsic under /Oi), not an inline function that could be merged.
#include <math.h>
#define LP_SQRT(x) sqrt(x)
#define LP_SQRTF(x) sqrtf(x)
#define LP_FABS(x) fabs(x)
#define LP_FABSF(x) fabsf(x)
#else
#define LP_SQRT(x) __builtin_sqrt(x)
#define LP_SQRTF(x) __builtin_sqrtf(x)
#define LP_FABS(x) __builtin_fabs(x)
#define LP_FABSF(x) __builtin_fabsf(x)
#endif

// Keeps a helper out of line: the fused step's code that is instantiated per
// inner op calls the parts that do not depend on the op rather than carrying
// a copy of each.
#if defined(_MSC_VER) && !defined(__clang__)
#define LP_NOINLINE __declspec(noinline)
#define LP_ALWAYS_INLINE __forceinline
#else
#define LP_NOINLINE __attribute__((noinline))
#define LP_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

// Before a tail loop (fewer than a vector's elements): unrolling or
// vectorizing it would only add code (clang honours both; GCC the unroll).
#if defined(__clang__)
#define LP_TAIL_LOOP _Pragma("clang loop vectorize(disable) interleave(disable) unroll(disable)")
#elif defined(__GNUC__)
#define LP_TAIL_LOOP _Pragma("GCC unroll 1")
#else
#define LP_TAIL_LOOP
#endif

namespace lp {
namespace LP_ISA {
namespace {

// The correctly rounded square root in T (sqrtss / sqrtsd, f32.sqrt / f64.sqrt).
inline float sqrtT(float x) { return LP_SQRTF(x); }
inline double sqrtT(double x) { return LP_SQRT(x); }
// The magnitude: the sign bit cleared (also for 0 and NaN), like Vec<T>::abs.
inline float absT(float x) { return LP_FABSF(x); }
inline double absT(double x) { return LP_FABS(x); }

// One element at a time, with the same operations as Vec<T>: used for the
// tails, so a tail element is computed exactly like a vector element.
template <typename T>
struct One {
  using Reg = T;
  static constexpr size_t kWidth = 1;

  static inline Reg load(const T* p) { return *p; }
  static inline void store(T* p, Reg v) { *p = v; }
  static inline Reg set1(T x) { return x; }
  static inline Reg add(Reg a, Reg b) { return a + b; }
  static inline Reg sub(Reg a, Reg b) { return a - b; }
  static inline Reg mul(Reg a, Reg b) { return a * b; }
  static inline Reg div(Reg a, Reg b) { return a / b; }
  static inline Reg neg(Reg a) { return -a; }
  static inline Reg sqrt(Reg a) { return sqrtT(a); }
  // NaN-propagating (a NaN in either operand is the result), like torch.maximum
  // and every Vec<T>::max.
  static inline Reg max(Reg a, Reg b) { return (a < b || b != b) ? b : a; }
  // A comparison (false when either operand is NaN) and m ? a : b, like
  // Vec<T>::lt and Vec<T>::select.
  using Mask = bool;
  static inline Mask lt(Reg a, Reg b) { return a < b; }
  static inline Reg select(Mask m, Reg a, Reg b) { return m ? a : b; }
  static inline Reg atLeast(Reg v, Reg lo) { return v < lo ? lo : v; }
  static inline Reg atMost(Reg v, Reg hi) { return hi < v ? hi : v; }
  // torch.sign (1.13, CPU): (v > 0) - (v < 0), so 1, -1, or +0 for 0, -0
  // and NaN; every Vec<T>::sign gives exactly these three values.
  static inline Reg sign(Reg v) { return T(0) < v ? T(1) : (v < T(0) ? T(-1) : T(0)); }
  static inline Reg abs(Reg a) { return absT(a); }
  // a * b + c rounded once, like Vec<T>::mulAdd.
  static inline Reg mulAdd(Reg a, Reg b, Reg c) { return exactMulAdd(a, b, c); }
};

// Runs op.run<V>(i) on full vectors, then op.run<One<T>>(i) on the rest.
template <typename T, typename Op>
inline void forEachElement(size_t n, const Op& op) {
  constexpr size_t kWidth = Vec<T>::kWidth;
  size_t i = 0;
  for (; n - i >= kWidth; i += kWidth) op.template run<Vec<T>>(i);
  for (; i < n; ++i) op.template run<One<T>>(i);
}

// What a row reduction adds per element: its square (the L2 norm) or its
// magnitude (the L1 norm).
struct SquareTerm {
  template <typename O>
  static inline typename O::Reg of(typename O::Reg v) {
    return O::mul(v, v);
  }
};
struct AbsTerm {
  template <typename O>
  static inline typename O::Reg of(typename O::Reg v) {
    return O::abs(v);
  }
};

// The fixed-order sum of Term (squares or magnitudes) over one row (see
// kReductionLanes), in T: element j goes to lane j % 16, the lanes held in
// 16 / kWidth registers (which may start rotated, so that blocks of 16 can
// begin at an aligned address: startAligned), each lane adding in index
// order; then the lanes are combined pairwise in a fixed tree. rowSumSquares
// and the fused step both sum through SquareLanes, so their norms are the
// same bits.
template <typename T, typename Term>
struct ReductionLanes {
  using V = Vec<T>;
  static constexpr size_t kRegs = kReductionLanes / V::kWidth;
  static_assert(kReductionLanes % V::kWidth == 0, "a vector must hold a whole number of lanes");
  // Register lane i holds lane i, or after startAligned(x, head) lane
  // (head + i) % kReductionLanes.
  typename V::Reg acc[kRegs];

  inline void clear() {
    for (size_t r = 0; r < kRegs; ++r) acc[r] = V::set1(T(0));
  }
  // Lanes for a row whose blocks start `head` elements in (head <
  // kReductionLanes): x[0..head) are the first terms of lanes 0..head-1,
  // which sit at register lanes kReductionLanes - head + l.
  inline void startAligned(const T* x, size_t head) {
    T lane[kReductionLanes];
    for (size_t k = 0; k < kReductionLanes; ++k) lane[k] = T(0);
    for (size_t l = 0; l < head; ++l) lane[kReductionLanes - head + l] = Term::template of<One<T>>(x[l]);
    for (size_t r = 0; r < kRegs; ++r) acc[r] = V::load(lane + r * V::kWidth);
  }
  // Register r of the next block, given in a register (see fusedSweep).
  inline void addRegister(size_t r, typename V::Reg x) { acc[r] = V::add(acc[r], Term::template of<V>(x)); }
  // The next block of kReductionLanes elements.
  inline void addBlock(const T* x) {
    for (size_t r = 0; r < kRegs; ++r) {
      acc[r] = V::add(acc[r], Term::template of<V>(V::load(x + r * V::kWidth)));
    }
  }
  // The sum, once the tail (count < kReductionLanes elements after the last
  // block) has gone to the next lanes in order (register lanes 0, 1, ...):
  // the lanes combined pairwise in a fixed tree, lane i + lane i + h for h =
  // kReductionLanes / 2, ..., 1, without memory. The tail's terms come in as
  // vectors with +0 above the tail, which adds exactly (a lane's sum is never
  // -0); the tree runs across registers while its step spans whole ones, then
  // within the last (V::sumTree). Rotated lanes (startAligned) need no
  // rotating back: a rotation moves each of the tree's pairs to register
  // lanes q and q + h (mod 2h), the same pairs the tree adds in place, and
  // addition commutes, so the bits are those of the lanes in order.
  // Lanes through memory cost a store-forwarding stall a row: 60-110 ns on
  // rows of 4-64 elements, 5% of a CIFAR-size step when rotated ones went
  // back in place that way. Always inlined: were finish, or anything taking
  // `this`, a call of its own, the lanes would live in memory (in
  // WebAssembly, cleared and copied through memory.fill and memory.copy,
  // calls into the engine, at every row).
  LP_ALWAYS_INLINE T finish(const T* tail, size_t count) const {
    typename V::Reg lanes[kRegs];
    for (size_t r = 0; r < kRegs; ++r) {
      lanes[r] = acc[r];
      const size_t first = r * V::kWidth;
      if (count > first) {
        const size_t n = count - first < V::kWidth ? count - first : V::kWidth;
        lanes[r] = V::add(lanes[r], Term::template of<V>(V::loadFirst(tail + first, n)));
      }
    }
    for (size_t h = kRegs / 2; h > 0; h /= 2) {
      for (size_t r = 0; r < h; ++r) lanes[r] = V::add(lanes[r], lanes[r + h]);
    }
    return V::sumTree(lanes[0]);
  }
};

template <typename T>
using SquareLanes = ReductionLanes<T, SquareTerm>;

// SquareLanes::finish in the fused step's code, which is instantiated per
// inner op. In WebAssembly out of line: inlined into every op's copy it
// doubled the baseline module (380 to 740 KB), for no speed we could measure
// (it runs once per row of 128 elements or more). Natively inlined: out of
// line, rows of 784 to 3072 elements ran 10% slower. (The pipelined rows'
// other once-a-row helpers below take it too.)
#if defined(__wasm__)
#define LP_FUSED_FINISH LP_NOINLINE
#else
#define LP_FUSED_FINISH LP_ALWAYS_INLINE
#endif
template <typename T>
LP_FUSED_FINISH T finishSquares(const SquareLanes<T>& squares, const T* tail, size_t count) {
  return squares.finish(tail, count);
}

// SquareLanes::startAligned in the pipelined rows' code (instantiated per
// inner op), likewise out of line in WebAssembly: inlined, the two lane sets
// a row starts added 46 KB to the simd128 module. (Once per row of 64K
// elements or more: the call costs nothing measurable.)
template <typename T>
LP_FUSED_FINISH void startSquaresAligned(SquareLanes<T>& squares, const T* x, size_t head) {
  squares.startAligned(x, head);
}

// How many elements come before x's first element aligned to a whole vector
// (0 when x is not even aligned to T).
template <typename T>
inline size_t alignedHead(const T* x) {
  constexpr size_t kBytes = Vec<T>::kWidth * sizeof(T);
  const size_t address = reinterpret_cast<size_t>(x);
  if (address % sizeof(T) != 0) return 0;
  return ((kBytes - address % kBytes) % kBytes) / sizeof(T);
}

// Whether x sits half a vector off a vector's alignment (see fusedSweep).
template <typename V, typename T>
inline bool isHalfVectorOff(const T* x) {
  return reinterpret_cast<size_t>(x) % (V::kWidth * sizeof(T)) == V::kWidth * sizeof(T) / 2;
}

// A sweep's gradient vectors, stored in order into a g half a vector off the
// sweep's alignment (isHalfVectorOff; Vec::kHalfShift ISAs only): the first
// ones as they lie (plain), so that nothing is written before them; every
// later one (next) at the aligned address half a vector behind, its lower
// half with the upper half of the vector before; then the last one's upper
// half (finish). A store across two cache lines costs much more than a load
// (see fusedSweep).
template <typename T>
struct HalfShiftedStores {
  using V = Vec<T>;
  T* g;
  typename V::Reg previous;

  LP_ALWAYS_INLINE void plain(size_t k, typename V::Reg v) {
    V::store(g + k, v);
    previous = v;
  }
  LP_ALWAYS_INLINE void next(size_t k, typename V::Reg v) {
    V::store(g + k - V::kWidth / 2, V::halfShift(previous, v));
    previous = v;
  }
  // `end`: one past the last vector stored.
  LP_ALWAYS_INLINE void finish(size_t end) { V::store(g + end - V::kWidth, previous); }
};

// Where a row's lane blocks start: at its first aligned element when a whole
// block follows it, else at 0 (see ReductionLanes::startAligned).
// Rows shorter than kAlignedStartMinCols start at 0: startAligned builds its
// lanes through memory (a store-forwarding stall), which costs more than split
// loads on so few vectors (Node, one thread, about 1M float32 elements, after
// rotated lanes stopped costing anything to finish: rows of 200 26% slower
// aligned, 576 even, 784 4% faster, 3072 faster by 10% before that change).
constexpr size_t kAlignedStartMinCols = 1024;

template <typename T>
inline size_t laneBlockStart(const T* x, size_t cols) {
  if (cols < kAlignedStartMinCols) return 0;
  const size_t head = alignedHead(x);
  return cols >= head + kReductionLanes ? head : 0;
}

template <typename T, typename Term>
inline T rowSum(const T* x, size_t cols) {
  ReductionLanes<T, Term> lanes;
  lanes.clear();
  const size_t start = laneBlockStart(x, cols);
  if (start != 0) lanes.startAligned(x, start);
  size_t j = start;
  for (; cols - j >= kReductionLanes; j += kReductionLanes) lanes.addBlock(x + j);
  return lanes.finish(x + j, cols - j);
}

// float64 sums of squares follow PyTorch's own order, one element after
// another with a fused multiply-add (s = fma(x, x, s), what torch.norm and
// torch.renorm compute for float64 on CPU), so that a projection decision at
// ||p|| == epsilon, where the 1e-7 of renorm's factor shows far above
// float64's tolerance, is the reference's. float32 keeps the 16 lanes: its
// results agree with torch's within float32 rounding, decisions included.
// exactMulAdd (exact_fma.h) is exact everywhere: an instruction where the ISA
// has one, the C library's correctly rounded fma or an error-free algorithm
// otherwise (the scalar table, WebAssembly).
template <typename T>
inline constexpr bool kSequentialSquares = sizeof(T) == sizeof(double);

template <typename T>
inline T rowSumSquares(const T* x, size_t cols) {
  if constexpr (kSequentialSquares<T>) {
    T s = 0;
    for (size_t j = 0; j < cols; ++j) s = exactMulAdd(x[j], x[j], s);
    return s;
  } else {
    return rowSum<T, SquareTerm>(x, cols);
  }
}

// The L1 norm of a row: the fixed-order sum of magnitudes, in T (no sqrt).
template <typename T>
inline T rowNormL1(const T* x, size_t cols) {
  return rowSum<T, AbsTerm>(x, cols);
}

// sqrt in double, rounded once to T: the correctly rounded square root in T.
template <typename T>
inline T normOfSumSquares(T sumSquares) {
  return static_cast<T>(LP_SQRT(static_cast<double>(sumSquares)));
}

template <typename T>
inline T rowNorm(const T* x, size_t cols) {
  return normOfSumSquares(rowSumSquares(x, cols));
}

// The norms of `count` consecutive rows (count <= kNormRows). A float64 row's
// chain of fmas waits on itself at every element (see rowSumSquares), so
// several rows' chains run interleaved, each in its own order; float32 rows
// go one after another. In WebAssembly simd128, where fma is exactMulAdd's
// error-free algorithm, not an instruction, the four rows go two to a vector
// (Vec::kEmulatedFmaPairs): the CIFAR batch's float64 step 12.1 -> 9.2 ms
// (eight rows in four vectors ran no faster).
constexpr size_t kNormRows = 4;

// Rows x, x + cols, ... (2 * kPairs of them): their float64 sums of squares,
// two rows to a vector of Vec<double>::fmaInRange (kEmulatedFmaPairs only).
template <typename T, size_t kPairs>
inline void sumSquaresInPairs(const T* x, size_t cols, T* sums) {
  using V = Vec<T>;
  typename V::Reg s[kPairs];
  for (size_t k = 0; k < kPairs; ++k) s[k] = V::set1(T(0));
  for (size_t j = 0; j < cols; ++j) {
    for (size_t k = 0; k < kPairs; ++k) {
      const T a0 = x[(2 * k) * cols + j];
      const T a1 = x[(2 * k + 1) * cols + j];
      const typename V::Reg a = V::pair(a0, a1);
      bool inRange;
      const typename V::Reg next = V::fmaInRange(a, a, s[k], &inRange);
      s[k] = inRange ? next : V::pair(exactMulAdd(a0, a0, V::lane0(s[k])), exactMulAdd(a1, a1, V::lane1(s[k])));
    }
  }
  for (size_t k = 0; k < kPairs; ++k) {
    sums[2 * k] = V::lane0(s[k]);
    sums[2 * k + 1] = V::lane1(s[k]);
  }
}

template <typename T>
inline void rowNorms(const T* x, size_t count, size_t cols, T* out) {
  if constexpr (kSequentialSquares<T>) {
    if constexpr (Vec<T>::kEmulatedFmaPairs) {
      T sums[kNormRows];
      size_t done = 0;
      if (count == kNormRows) {
        sumSquaresInPairs<T, kNormRows / 2>(x, cols, sums);
        done = kNormRows;
      }
      for (; count - done >= 2; done += 2) sumSquaresInPairs<T, 1>(x + done * cols, cols, sums + done);
      for (; done < count; ++done) sums[done] = rowSumSquares(x + done * cols, cols);
      for (size_t k = 0; k < count; ++k) out[k] = normOfSumSquares(sums[k]);
      return;
    } else if (count == kNormRows) {
      const T* r1 = x + cols;
      const T* r2 = r1 + cols;
      const T* r3 = r2 + cols;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t j = 0; j < cols; ++j) {
        s0 = exactMulAdd(x[j], x[j], s0);
        s1 = exactMulAdd(r1[j], r1[j], s1);
        s2 = exactMulAdd(r2[j], r2[j], s2);
        s3 = exactMulAdd(r3[j], r3[j], s3);
      }
      out[0] = normOfSumSquares(s0);
      out[1] = normOfSumSquares(s1);
      out[2] = normOfSumSquares(s2);
      out[3] = normOfSumSquares(s3);
      return;
    }
  }
  for (size_t k = 0; k < count; ++k) out[k] = rowNorm(x + k * cols, cols);
}

// Rows [0, rows) a block of up to kNormRows at a time: each block's norms,
// then visit(row index, norm) for each of its rows. (float32 rows, which
// rowNorms takes one by one anyway, visit each norm as it comes: the block's
// array of norms, copied into `out` by rowNormsL2, became a memory.copy per
// block in WebAssembly, a call into the engine.)
template <typename T, typename Visit>
inline void forEachRowNorm(const T* x, size_t rows, size_t cols, Visit visit) {
  if constexpr (!kSequentialSquares<T>) {
    for (size_t r = 0; r < rows; ++r) visit(r, rowNorm(x + r * cols, cols));
    return;
  }
  T norms[kNormRows];
  for (size_t r = 0; r < rows; r += kNormRows) {
    const size_t count = rows - r < kNormRows ? rows - r : kNormRows;
    rowNorms(x + r * cols, count, cols, norms);
    for (size_t k = 0; k < count; ++k) visit(r + k, norms[k]);
  }
}

// The divisor of a gradient row: max(norm, eps), written as a comparison (not
// a max helper) so that a NaN norm stays NaN.
template <typename T>
inline T normalizeDivisor(T norm, T eps) {
  return (norm < eps) ? eps : norm;
}

template <typename T>
struct DivideBy {
  T* g;
  T divisor;
  template <typename O>
  inline void run(size_t i) const {
    O::store(g + i, O::div(O::load(g + i), O::set1(divisor)));
  }
};

// float32 L2 normalisation multiplies a gradient row by the reciprocal of its
// divisor, rounded once, instead of dividing every element: the divider was
// what the fused step waited on (Node, one thread: the CIFAR batch 26% faster,
// ResNet-18 with Adam 9%). Each product is within an ulp of g / divisor, well
// inside float32's tolerance against the reference. Where the divisor or its
// reciprocal is not a normal number (a zero, subnormal, huge, infinite or NaN
// divisor) the row is divided, in place, and then multiplied by 1 (x * 1 is x
// for every x). float64 divides, as PyTorch does: its norms follow PyTorch's
// order (kSequentialSquares), so its quotients are the reference's bits, which
// decide projections that land on the epsilon-sphere. Every path and ISA, and
// the TypeScript reference, apply this one rule, so their bits agree.
template <typename T>
inline constexpr bool kNormalizeByReciprocal = !kSequentialSquares<T>;

// The divisors whose reciprocal is used: the normal numbers up to 1 / FLT_MIN (DBL_MIN).
template <typename T>
inline constexpr T kMinReciprocable = std::numeric_limits<T>::min();
template <typename T>
inline constexpr T kMaxReciprocable = T(1) / std::numeric_limits<T>::min();

template <typename T>
inline bool reciprocalIsNormal(T divisor) {
  return divisor >= kMinReciprocable<T> && divisor <= kMaxReciprocable<T>;  // false for NaN
}

// What a gradient row's elements are normalised with (normalizeBy): the
// reciprocal (or 1, the row divided here) for float32, the divisor for float64.
template <typename T>
LP_NOINLINE T rowNormalizer(T* g, size_t cols, T divisor) {
  if constexpr (kNormalizeByReciprocal<T>) {
    if (reciprocalIsNormal(divisor)) return T(1) / divisor;
    forEachElement<T>(cols, DivideBy<T>{g, divisor});
    return T(1);
  } else {
    (void)g;
    (void)cols;
    return divisor;
  }
}

template <typename T, typename O>
inline typename O::Reg normalizeBy(typename O::Reg v, typename O::Reg normalizer) {
  if constexpr (kNormalizeByReciprocal<T>) {
    return O::mul(v, normalizer);
  } else {
    return O::div(v, normalizer);
  }
}

template <typename T>
struct MultiplyBy {
  T* p;
  T factor;
  template <typename O>
  inline void run(size_t i) const {
    O::store(p + i, O::mul(O::load(p + i), O::set1(factor)));
  }
};

// PyTorch's renorm factor of a row whose norm is known: limit / (norm +
// T(1e-7)) where norm > limit; false where the row is left alone.
template <typename T>
inline bool renormFactor(T norm, T limit, T* factor) {
  if (!(norm > limit)) return false;
  *factor = limit / (norm + static_cast<T>(1e-7));
  return true;
}

// PyTorch's renorm of one row whose norm is known: the row times its
// renormFactor, or left alone where there is none. The
// vectors start at the row's first aligned element (alignedHead) and run from
// the row's end back to its start: a fused sweep has just gone over the row
// front to back, so its end is the likeliest to be still in L1 (in Node, the
// bench's CIFAR batch went from 0.217 to 0.193 ms a step, ImageNet and
// ResNet-18 2-4% faster). An elementwise product: the order changes no bits.
template <typename T>
inline void renormRow(T* row, size_t cols, T norm, T limit) {
  T factor;
  if (renormFactor(norm, limit, &factor)) {
    const MultiplyBy<T> op{row, factor};
    size_t head = alignedHead(row);
    if (head > cols) head = cols;
    constexpr size_t kWidth = Vec<T>::kWidth;
    const size_t vectorEnd = head + (cols - head) / kWidth * kWidth;
    for (size_t i = cols; i > vectorEnd; --i) op.template run<One<T>>(i - 1);
    size_t i = vectorEnd;
    for (; i - head >= 4 * kWidth; i -= 4 * kWidth) {
      const size_t base = i - 4 * kWidth;
      op.template run<Vec<T>>(base + 3 * kWidth);
      op.template run<Vec<T>>(base + 2 * kWidth);
      op.template run<Vec<T>>(base + kWidth);
      op.template run<Vec<T>>(base);
    }
    for (; i > head; i -= kWidth) op.template run<Vec<T>>(i - kWidth);
    for (size_t j = 0; j < head; ++j) op.template run<One<T>>(j);
  }
}

template <typename T, bool kScale, bool kBias>
struct ScaleBiasOp {
  T* g;
  T scale;
  T bias;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg v = O::load(g + i);
    if (kScale) v = O::mul(v, O::set1(scale));
    if (kBias) v = O::add(v, O::set1(bias));
    O::store(g + i, v);
  }
};

enum MomentumMode { kNoMomentum, kFirstMomentumStep, kMomentumUpdate };

template <typename T>
struct SgdConstants {
  T weightDecay;
  T momentum;
  T oneMinusDampening;
  T negLr;
};

// torch 1.13 _single_tensor_sgd for one element / one vector, with every
// option branch resolved at compile time.
template <typename T, bool kMaximize, bool kDecay, MomentumMode kMomentum, bool kNesterov>
struct SgdOp {
  T* p;
  const T* g;
  T* buf;
  SgdConstants<T> c;
  template <typename O>
  inline void run(size_t i) const {
    update<O>(i, O::load(g + i));
  }
  // The update of element(s) i from their gradient d, given in registers;
  // returns the new parameter (also stored).
  template <typename O>
  inline typename O::Reg update(size_t i, typename O::Reg d) const {
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(p + i);
    if (kDecay) d = O::mulAdd(O::set1(c.weightDecay), param, d);  // fused, as torch's add(alpha)
    if (kMomentum != kNoMomentum) {
      typename O::Reg b = d;
      if (kMomentum == kMomentumUpdate) {
        b = O::add(O::mul(O::load(buf + i), O::set1(c.momentum)),
                   O::mul(O::set1(c.oneMinusDampening), d));
      }
      O::store(buf + i, b);
      d = kNesterov ? O::add(d, O::mul(O::set1(c.momentum), b)) : b;
    }
    const typename O::Reg next = O::add(param, O::mul(O::set1(c.negLr), d));
    O::store(p + i, next);
    return next;
  }
};

// Calls visit(op) with the SgdOp of these momentum options.
template <typename T, bool kMaximize, bool kDecay, typename Visit>
inline void sgdPickMomentum(T* p, const T* g, T* buf, const SgdConstants<T>& c, bool momentum,
                            bool nesterov, bool bufferInitialized, const Visit& visit) {
  if (!momentum) {
    visit(SgdOp<T, kMaximize, kDecay, kNoMomentum, false>{p, g, buf, c});
  } else if (!bufferInitialized) {
    if (nesterov) {
      visit(SgdOp<T, kMaximize, kDecay, kFirstMomentumStep, true>{p, g, buf, c});
    } else {
      visit(SgdOp<T, kMaximize, kDecay, kFirstMomentumStep, false>{p, g, buf, c});
    }
  } else if (nesterov) {
    visit(SgdOp<T, kMaximize, kDecay, kMomentumUpdate, true>{p, g, buf, c});
  } else {
    visit(SgdOp<T, kMaximize, kDecay, kMomentumUpdate, false>{p, g, buf, c});
  }
}

// Calls visit(op) with the SgdOp of these options: the one place that turns
// SgdOptions into an op, for sgdStep and the fused step alike.
template <typename T, typename Visit>
inline void visitSgdOp(T* p, const T* g, T* momentumBuf, const SgdOptions& o,
                       bool bufferInitialized, const Visit& visit) {
  const SgdConstants<T> c{static_cast<T>(o.weightDecay), static_cast<T>(o.momentum),
                          static_cast<T>(1.0 - o.dampening), static_cast<T>(-o.lr)};
  // The option tests are on the doubles, as in torch (a tiny momentum that
  // rounds to a float 0 still takes the momentum path).
  const bool momentum = o.momentum != 0.0;
  const bool decay = o.weightDecay != 0.0;
  if (o.maximize) {
    if (decay) {
      sgdPickMomentum<T, true, true>(p, g, momentumBuf, c, momentum, o.nesterov, bufferInitialized,
                                     visit);
    } else {
      sgdPickMomentum<T, true, false>(p, g, momentumBuf, c, momentum, o.nesterov,
                                      bufferInitialized, visit);
    }
  } else if (decay) {
    sgdPickMomentum<T, false, true>(p, g, momentumBuf, c, momentum, o.nesterov, bufferInitialized,
                                    visit);
  } else {
    sgdPickMomentum<T, false, false>(p, g, momentumBuf, c, momentum, o.nesterov,
                                     bufferInitialized, visit);
  }
}

// How weight decay enters Adam: not at all, as an L2 term added to the
// gradient (Adam), or by shrinking the parameter first (AdamW).
enum DecayMode { kNoDecay, kL2Decay, kDecoupledDecay };

// The arrays and the options (each already rounded to T) of one Adam step.
template <typename T>
struct AdamData {
  T* p;
  const T* g;
  T* expAvg;
  T* expAvgSq;
  T* maxExpAvgSq;  // null unless amsgrad
  T weightDecay;
  T decoupledFactor;  // T(1 - lr * weightDecay), the product in double
  T beta1;
  T oneMinusBeta1;
  T beta2;
  T oneMinusBeta2;
  T biasCorrection2Sqrt;
  T eps;
  T negStepSize;
};

// torch 1.13 _single_tensor_adam for one element / one vector.
template <typename T, bool kMaximize, DecayMode kDecay, bool kAmsgrad>
struct AdamOp {
  AdamData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    update<O>(i, O::load(a.g + i));
  }
  // As SgdOp::update.
  template <typename O>
  inline typename O::Reg update(size_t i, typename O::Reg d) const {
    if (kMaximize) d = O::neg(d);
    typename O::Reg param = O::load(a.p + i);
    if (kDecay == kDecoupledDecay) param = O::mul(param, O::set1(a.decoupledFactor));
    if (kDecay == kL2Decay) d = O::mulAdd(O::set1(a.weightDecay), param, d);  // fused, as torch's add(alpha)
    const typename O::Reg m = O::add(O::mul(O::load(a.expAvg + i), O::set1(a.beta1)),
                                     O::mul(O::set1(a.oneMinusBeta1), d));
    O::store(a.expAvg + i, m);
    const typename O::Reg v = O::add(O::mul(O::load(a.expAvgSq + i), O::set1(a.beta2)),
                                     O::mul(O::mul(O::set1(a.oneMinusBeta2), d), d));
    O::store(a.expAvgSq + i, v);
    typename O::Reg vHat = v;
    if (kAmsgrad) {
      vHat = O::max(O::load(a.maxExpAvgSq + i), v);
      O::store(a.maxExpAvgSq + i, vHat);
    }
    const typename O::Reg denom =
        O::add(O::div(O::sqrt(vHat), O::set1(a.biasCorrection2Sqrt)), O::set1(a.eps));
    const typename O::Reg next = O::add(param, O::div(O::mul(O::set1(a.negStepSize), m), denom));
    O::store(a.p + i, next);
    return next;
  }
};

template <typename T, bool kMaximize, DecayMode kDecay, typename Visit>
inline void adamPickAmsgrad(const AdamData<T>& a, bool amsgrad, const Visit& visit) {
  if (amsgrad) {
    visit(AdamOp<T, kMaximize, kDecay, true>{a});
  } else {
    visit(AdamOp<T, kMaximize, kDecay, false>{a});
  }
}

template <typename T, bool kMaximize, typename Visit>
inline void adamPickDecay(const AdamData<T>& a, DecayMode decay, bool amsgrad, const Visit& visit) {
  switch (decay) {
    case kNoDecay: adamPickAmsgrad<T, kMaximize, kNoDecay>(a, amsgrad, visit); break;
    case kL2Decay: adamPickAmsgrad<T, kMaximize, kL2Decay>(a, amsgrad, visit); break;
    case kDecoupledDecay: adamPickAmsgrad<T, kMaximize, kDecoupledDecay>(a, amsgrad, visit); break;
  }
}

// Calls visit(op) with the AdamOp of these options (for adamStep and the
// fused step).
template <typename T, typename Visit>
inline void visitAdamOp(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq,
                        const AdamOptions& o, const Visit& visit) {
  const AdamData<T> a{p,
                      g,
                      expAvg,
                      expAvgSq,
                      o.amsgrad ? maxExpAvgSq : nullptr,
                      static_cast<T>(o.weightDecay),
                      static_cast<T>(1.0 - o.lr * o.weightDecay),
                      static_cast<T>(o.beta1),
                      static_cast<T>(1.0 - o.beta1),
                      static_cast<T>(o.beta2),
                      static_cast<T>(1.0 - o.beta2),
                      static_cast<T>(o.biasCorrection2Sqrt),
                      static_cast<T>(o.eps),
                      static_cast<T>(-o.stepSize)};
  // The option test is on the double, as in torch.
  const DecayMode decay = o.weightDecay == 0.0 ? kNoDecay
                          : o.decoupledWeightDecay ? kDecoupledDecay
                                                   : kL2Decay;
  if (o.maximize) {
    adamPickDecay<T, true>(a, decay, o.amsgrad, visit);
  } else {
    adamPickDecay<T, false>(a, decay, o.amsgrad, visit);
  }
}

// The arrays and the options (each already rounded to T) of one RMSprop step.
template <typename T>
struct RmspropData {
  T* p;
  const T* g;
  T* squareAvg;
  T* gradAvg;         // null unless centered
  T* momentumBuffer;  // null unless momentum > 0
  T weightDecay;
  T alpha;
  T oneMinusAlpha;
  T eps;
  T momentum;
  T negLr;
};

// torch 1.13 _single_tensor_rmsprop for one element / one vector.
template <typename T, bool kMaximize, bool kDecay, bool kCentered, bool kMomentum>
struct RmspropOp {
  RmspropData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    update<O>(i, O::load(a.g + i));
  }
  // As SgdOp::update.
  template <typename O>
  inline typename O::Reg update(size_t i, typename O::Reg d) const {
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(a.p + i);
    if (kDecay) d = O::mulAdd(O::set1(a.weightDecay), param, d);  // fused, as torch's add(alpha)
    const typename O::Reg sq = O::add(O::mul(O::load(a.squareAvg + i), O::set1(a.alpha)),
                                      O::mul(O::mul(O::set1(a.oneMinusAlpha), d), d));
    O::store(a.squareAvg + i, sq);
    typename O::Reg avg;
    if (kCentered) {
      const typename O::Reg ga = O::add(O::mul(O::load(a.gradAvg + i), O::set1(a.alpha)),
                                        O::mul(O::set1(a.oneMinusAlpha), d));
      O::store(a.gradAvg + i, ga);
      avg = O::sqrt(O::add(sq, O::mul(O::neg(ga), ga)));
    } else {
      avg = O::sqrt(sq);
    }
    avg = O::add(avg, O::set1(a.eps));
    if (kMomentum) {
      const typename O::Reg b =
          O::add(O::mul(O::load(a.momentumBuffer + i), O::set1(a.momentum)), O::div(d, avg));
      O::store(a.momentumBuffer + i, b);
      const typename O::Reg next = O::add(param, O::mul(O::set1(a.negLr), b));
      O::store(a.p + i, next);
      return next;
    }
    const typename O::Reg next = O::add(param, O::div(O::mul(O::set1(a.negLr), d), avg));
    O::store(a.p + i, next);
    return next;
  }
};

template <typename T, bool kMaximize, bool kDecay, bool kCentered, typename Visit>
inline void rmspropPickMomentum(const RmspropData<T>& a, bool momentum, const Visit& visit) {
  if (momentum) {
    visit(RmspropOp<T, kMaximize, kDecay, kCentered, true>{a});
  } else {
    visit(RmspropOp<T, kMaximize, kDecay, kCentered, false>{a});
  }
}

template <typename T, bool kMaximize, bool kDecay, typename Visit>
inline void rmspropPickCentered(const RmspropData<T>& a, bool centered, bool momentum,
                                const Visit& visit) {
  if (centered) {
    rmspropPickMomentum<T, kMaximize, kDecay, true>(a, momentum, visit);
  } else {
    rmspropPickMomentum<T, kMaximize, kDecay, false>(a, momentum, visit);
  }
}

template <typename T, bool kMaximize, typename Visit>
inline void rmspropPickDecay(const RmspropData<T>& a, bool decay, bool centered, bool momentum,
                             const Visit& visit) {
  if (decay) {
    rmspropPickCentered<T, kMaximize, true>(a, centered, momentum, visit);
  } else {
    rmspropPickCentered<T, kMaximize, false>(a, centered, momentum, visit);
  }
}

// Calls visit(op) with the RmspropOp of these options (for rmspropStep and
// the fused step).
template <typename T, typename Visit>
inline void visitRmspropOp(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer,
                           const RmspropOptions& o, const Visit& visit) {
  // The option tests are on the doubles, as in torch.
  const bool decay = o.weightDecay != 0.0;
  const bool momentum = o.momentum > 0.0;
  const RmspropData<T> a{p,
                         g,
                         squareAvg,
                         o.centered ? gradAvg : nullptr,
                         momentum ? momentumBuffer : nullptr,
                         static_cast<T>(o.weightDecay),
                         static_cast<T>(o.alpha),
                         static_cast<T>(1.0 - o.alpha),
                         static_cast<T>(o.eps),
                         static_cast<T>(o.momentum),
                         static_cast<T>(-o.lr)};
  if (o.maximize) {
    rmspropPickDecay<T, true>(a, decay, o.centered, momentum, visit);
  } else {
    rmspropPickDecay<T, false>(a, decay, o.centered, momentum, visit);
  }
}

// The arrays and the options (each already rounded to T) of one Adagrad step.
template <typename T>
struct AdagradData {
  T* p;
  const T* g;
  T* sum;
  T weightDecay;
  T eps;
  T negClr;
};

// torch 1.13 _single_tensor_adagrad (dense gradients) for one element / one vector.
template <typename T, bool kMaximize, bool kDecay>
struct AdagradOp {
  AdagradData<T> a;
  template <typename O>
  inline void run(size_t i) const {
    update<O>(i, O::load(a.g + i));
  }
  // As SgdOp::update.
  template <typename O>
  inline typename O::Reg update(size_t i, typename O::Reg d) const {
    if (kMaximize) d = O::neg(d);
    const typename O::Reg param = O::load(a.p + i);
    if (kDecay) d = O::mulAdd(O::set1(a.weightDecay), param, d);  // fused, as torch's add(alpha)
    const typename O::Reg s = O::add(O::load(a.sum + i), O::mul(d, d));
    O::store(a.sum + i, s);
    const typename O::Reg denom = O::add(O::sqrt(s), O::set1(a.eps));  // torch's "std"
    const typename O::Reg next = O::add(param, O::div(O::mul(O::set1(a.negClr), d), denom));
    O::store(a.p + i, next);
    return next;
  }
};

template <typename T, bool kMaximize, typename Visit>
inline void adagradPickDecay(const AdagradData<T>& a, bool decay, const Visit& visit) {
  if (decay) {
    visit(AdagradOp<T, kMaximize, true>{a});
  } else {
    visit(AdagradOp<T, kMaximize, false>{a});
  }
}

// Calls visit(op) with the AdagradOp of these options (for adagradStep and
// the fused step).
template <typename T, typename Visit>
inline void visitAdagradOp(T* p, const T* g, T* sum, const AdagradOptions& o, const Visit& visit) {
  const AdagradData<T> a{p, g, sum, static_cast<T>(o.weightDecay), static_cast<T>(o.eps),
                         static_cast<T>(-o.clr)};
  const bool decay = o.weightDecay != 0.0;  // on the double, as in torch
  if (o.maximize) {
    adagradPickDecay<T, true>(a, decay, visit);
  } else {
    adagradPickDecay<T, false>(a, decay, visit);
  }
}

// ---- elementwise ops shared by the family's kernels and the fused step ----

template <typename T>
struct SignOp {
  T* g;
  template <typename O>
  inline void run(size_t i) const {
    O::store(g + i, O::sign(O::load(g + i)));
  }
};

// torch.clamp as comparisons: v < lo ? lo : v, then v > hi ? hi : v. A NaN
// element (or bound) compares false and stays; -0 stays -0 against a 0 bound.
template <typename T, bool kLo, bool kHi>
struct ClampOp {
  T* x;
  T lo;
  T hi;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg v = O::load(x + i);
    if (kLo) v = O::atLeast(v, O::set1(lo));
    if (kHi) v = O::atMost(v, O::set1(hi));
    O::store(x + i, v);
  }
};

// ---- the fused group step ----

// A group that normalises its gradient (without gradScale/gradBias) takes
// each row of kFusedSweepMinCols or more elements in one sweep (fusedSweep,
// below). The others work on pieces of about this many elements, each while
// it is in L1, so that memory sees one pass:
// - a row of at least kFusedChunk elements is walked in chunks of this size
//   (a multiple of kReductionLanes): per chunk the gradient transform, the
//   inner op, and the new p's squares into the lanes in rowSumSquares's
//   order; the row's projection follows, still in cache;
// - shorter rows go a block of whole rows at a time: each row's gradient
//   norm and transform, then the inner op over the whole block (vectors run
//   across row ends, as in the unfused step), then each row's projection.
// Working piece by piece rather than vector by vector keeps the inner op's
// loop the only code instantiated per op: the steps around it are called
// through pointers chosen once per call (a no-op where the group does not ask
// for one), so there is no flag test in the loops to unswitch them on.
constexpr size_t kFusedChunk = 512;
static_assert(kFusedChunk % kReductionLanes == 0, "chunks must hold whole lane blocks");

// Rows shorter than this go a block at a time even when fusedSweep could take
// them: per row, the sweep's calls cost more than a second look at a block in
// L1 (Node, one thread, 2M float32 elements, SGD: rows of 20 3.1 -> 1.6 ms a
// step, of 64 1.2-1.5 -> 1.0, of 100 1.0 -> 0.84; rows of 200 and 400 the same
// either way).
constexpr size_t kFusedSweepMinCols = 128;
static_assert(kFusedSweepMinCols <= kFusedChunk, "rows below kFusedSweepMinCols must fit a block");

// The inner op over elements [begin, begin + n): full vectors, then single
// elements (forEachElement on a range).
template <typename T, typename Op>
LP_NOINLINE void runOp(const Op& opArgument, size_t begin, size_t n) {
  // A local copy: its fields stay in registers (the stores through its
  // pointers cannot be to it), which also lets the compiler vectorize the
  // scalar table's loop.
  const Op op = opArgument;
  constexpr size_t kWidth = Vec<T>::kWidth;
  const size_t end = begin + n;
  size_t i = begin;
  for (; end - i >= kWidth; i += kWidth) op.template run<Vec<T>>(i);
  // (The scalar table has no tail, so no second copy of the op either.)
  if constexpr (kWidth > 1) {
    LP_TAIL_LOOP
    for (; i < end; ++i) op.template run<One<T>>(i);
  }
}

// The gradient transform of the fused step on one vector / element: g
// normalised (kNormalize, see rowNormalizer) or sign(g) (kSign,
// SignedGradientOptim), then g * scale + bias (kScaleBias). A disabled scale or bias is passed as its exact
// identity, 1 and -0 (x * 1 and x + (-0) are x for every x, -0 included), so
// scaleBias's three enabled cases share one loop.
template <typename T, bool kNormalize, bool kScaleBias, bool kSign = false>
struct GradientTransform {
  static_assert(!(kNormalize && kSign), "a gradient is normalised or signed, not both");
  T* g;
  T normalizer;
  T scale;
  T bias;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg v = O::load(g + i);
    if (kNormalize) v = normalizeBy<T, O>(v, O::set1(normalizer));
    if (kSign) v = O::sign(v);
    if (kScaleBias) v = O::add(O::mul(v, O::set1(scale)), O::set1(bias));
    O::store(g + i, v);
  }
};

// Rows of one element (a 1-D parameter under paramNdim -1: a bias, a norm
// layer's weight) are most of a step's time when done row by row, so they go
// as vectors of rows. A one-element row's sum of squares is its square (the
// other lanes hold +0, which adds exactly), and a correctly rounded sqrt in T
// equals the sqrt in double rounded to T that normOfSumSquares takes (53 >=
// 2 * 24 + 2 bits), so these are the bits of the row-by-row path.
template <typename T, bool kNormalize, bool kScaleBias>
struct UnitRowsTransform {
  T* g;
  T eps;
  T scale;
  T bias;
  template <typename O>
  inline void run(size_t i) const {
    typename O::Reg v = O::load(g + i);
    if (kNormalize) {
      const typename O::Reg norm = O::sqrt(O::mul(v, v));
      const typename O::Reg e = O::set1(eps);
      const typename O::Reg divisor = O::select(O::lt(norm, e), e, norm);  // normalizeDivisor
      const typename O::Reg quotient = O::div(v, divisor);
      if constexpr (kNormalizeByReciprocal<T>) {
        // rowNormalizer's rule, lane by lane.
        v = O::select(O::lt(divisor, O::set1(kMinReciprocable<T>)), quotient,
                      O::select(O::lt(O::set1(kMaxReciprocable<T>), divisor), quotient, O::mul(v, O::div(O::set1(T(1)), divisor))));
      } else {
        v = quotient;
      }
    }
    if (kScaleBias) v = O::add(O::mul(v, O::set1(scale)), O::set1(bias));
    O::store(g + i, v);
  }
};

// renormRow of one-element rows, all to the same limit.
template <typename T>
struct UnitRowsRenorm {
  T* p;
  T limit;
  template <typename O>
  inline void run(size_t i) const {
    const typename O::Reg v = O::load(p + i);
    const typename O::Reg norm = O::sqrt(O::mul(v, v));
    const typename O::Reg l = O::set1(limit);
    const typename O::Reg factor = O::div(l, O::add(norm, O::set1(static_cast<T>(1e-7))));
    O::store(p + i, O::select(O::lt(l, norm), O::mul(v, factor), v));
  }
};

// The constants of the gradient transform.
template <typename T>
struct TransformConstants {
  T eps;
  T scale;  // 1 when not applied
  T bias;   // -0 when not applied
};

// Long rows: one chunk of the gradient transform, with the row's normalizer (rowNormalizer).
template <typename T>
using TransformChunk = void (*)(T* g, size_t n, T normalizer, const TransformConstants<T>& c);

template <typename T, bool kNormalize, bool kScaleBias>
LP_NOINLINE void transformChunk(T* g, size_t n, T normalizer, const TransformConstants<T>& c) {
  forEachElement<T>(n, GradientTransform<T, kNormalize, kScaleBias>{g, normalizer, c.scale, c.bias});
}

// Short rows: the gradient transform of whole rows, each with its own
// divisor (normalizeRowsL2's).
template <typename T>
using TransformRows = void (*)(T* g, size_t rows, size_t cols, const TransformConstants<T>& c);

// Short rows a batch at a time: first every row's sum of squares (each a
// chain that waits on itself: side by side they overlap), then the square
// roots and the divisions of the whole batch as vectors of rows (one row at
// a time, a scalar square root and division a row kept the divider busy),
// then the rows' elementwise work. A float32 sqrt rounded once equals the
// sqrt in double rounded to float that normOfSumSquares takes (53 >= 2 * 24
// + 2 bits), so the bits are those of a row at a time. float64 rows get
// their norms from forEachRowNorm (its interleaved chains), then likewise.
// (Node, one thread, 2M float32 elements: rows of 16 to 32 elements 16-26%
// faster, 64 and 100 even.) Shorter rows differ: their transform ran 12-39%
// slower batched and goes a row at a time under kRowBatchMinCols, while
// their projection, batched alone, took rows of 6 to 12 elements 10-28%
// faster and rows of 2 and 4 7-15% slower (kProjectBatchMinCols).
constexpr size_t kRowBatch = 64;
constexpr size_t kRowBatchMinCols = kReductionLanes;
constexpr size_t kProjectBatchMinCols = 6;

// The batch's sums of squares (float) or norms (float64) into out[0..count).
template <typename T>
inline void rowBatchSquares(const T* x, size_t count, size_t cols, T* out) {
  if constexpr (kSequentialSquares<T>) {
    forEachRowNorm(x, count, cols, [&](size_t r, T norm) { out[r] = norm; });
  } else {
    for (size_t r = 0; r < count; ++r) out[r] = rowSumSquares(x + r * cols, cols);
  }
}

// Norms from rowBatchSquares: a square root for float, as they are for float64.
template <typename T, typename O>
inline typename O::Reg rowBatchNorms(typename O::Reg v) {
  if constexpr (kSequentialSquares<T>) {
    return v;
  } else {
    return O::sqrt(v);
  }
}

// divisors[i] = normalizeDivisor(norm of row i, eps), in place over the batch.
template <typename T>
struct BatchDivisors {
  T* values;
  T eps;
  template <typename O>
  inline void run(size_t i) const {
    const typename O::Reg norm = rowBatchNorms<T, O>(O::load(values + i));
    const typename O::Reg e = O::set1(eps);
    O::store(values + i, O::select(O::lt(norm, e), e, norm));
  }
};

// values[i] = renormFactor of row i, or 1 where the row is left alone (no
// factor, or its norm is NaN), in place over the batch. A factor of exactly
// 1 scales nothing either, so a row whose value is 1 is skipped.
template <typename T>
struct BatchRenormFactors {
  T* values;
  const T* limits;
  template <typename O>
  inline void run(size_t i) const {
    const typename O::Reg norm = rowBatchNorms<T, O>(O::load(values + i));
    const typename O::Reg limit = O::load(limits + i);
    const typename O::Reg factor = O::div(limit, O::add(norm, O::set1(static_cast<T>(1e-7))));
    O::store(values + i, O::select(O::lt(limit, norm), factor, O::set1(T(1))));
  }
};

template <typename T, bool kNormalize, bool kScaleBias>
LP_NOINLINE void transformRows(T* g, size_t rows, size_t cols, const TransformConstants<T>& c) {
  if constexpr (kNormalize) {
    if (cols < kRowBatchMinCols) {
      forEachRowNorm(g, rows, cols, [&](size_t r, T norm) {
        T* row = g + r * cols;
        const T normalizer = rowNormalizer(row, cols, normalizeDivisor(norm, c.eps));
        forEachElement<T>(cols, GradientTransform<T, kNormalize, kScaleBias>{row, normalizer, c.scale, c.bias});
      });
      return;
    }
    T divisors[kRowBatch];
    for (size_t r0 = 0; r0 < rows; r0 += kRowBatch) {
      const size_t count = rows - r0 < kRowBatch ? rows - r0 : kRowBatch;
      T* batch = g + r0 * cols;
      rowBatchSquares(batch, count, cols, divisors);
      forEachElement<T>(count, BatchDivisors<T>{divisors, c.eps});
      for (size_t r = 0; r < count; ++r) {
        T* row = batch + r * cols;
        const T normalizer = rowNormalizer(row, cols, divisors[r]);
        forEachElement<T>(cols, GradientTransform<T, kNormalize, kScaleBias>{row, normalizer, c.scale, c.bias});
      }
    }
  } else {
    for (size_t r = 0; r < rows; ++r) {
      forEachElement<T>(cols, GradientTransform<T, kNormalize, kScaleBias>{g + r * cols, T(1), c.scale, c.bias});
    }
  }
}

// Short rows of one element each (see UnitRowsTransform).
template <typename T, bool kNormalize, bool kScaleBias>
LP_NOINLINE void transformUnitRows(T* g, size_t rows, size_t cols, const TransformConstants<T>& c) {
  (void)cols;  // 1
  forEachElement<T>(rows, UnitRowsTransform<T, kNormalize, kScaleBias>{g, c.eps, c.scale, c.bias});
}

// The sign transform (SignedGradientOptim, LinfProjectedOptim) is
// elementwise, so a block of short rows goes as one run of elements.
template <typename T, bool kScaleBias>
LP_NOINLINE void signChunk(T* g, size_t n, T normalizer, const TransformConstants<T>& c) {
  (void)normalizer;  // (no norm)
  forEachElement<T>(n, GradientTransform<T, false, kScaleBias, true>{g, T(1), c.scale, c.bias});
}

template <typename T, bool kScaleBias>
LP_NOINLINE void signRows(T* g, size_t rows, size_t cols, const TransformConstants<T>& c) {
  signChunk<T, kScaleBias>(g, rows * cols, T(1), c);
}

template <typename T>
LP_NOINLINE void keepGradientChunk(T*, size_t, T, const TransformConstants<T>&) {}
template <typename T>
LP_NOINLINE void keepGradientRows(T*, size_t, size_t, const TransformConstants<T>&) {}

// Long rows: the squares of one chunk's whole lane blocks (n rounded down to
// a multiple of kReductionLanes) into the lanes.
template <typename T>
using SquaresChunk = void (*)(SquareLanes<T>& squares, const T* x, size_t n);

template <typename T>
LP_NOINLINE void addSquareBlocks(SquareLanes<T>& squares, const T* x, size_t n) {
  // In a local copy the lanes stay in registers (x could alias the caller's).
  SquareLanes<T> lanes = squares;
  for (size_t j = 0; kReductionLanes <= n - j; j += kReductionLanes) lanes.addBlock(x + j);
  squares = lanes;
}

template <typename T>
LP_NOINLINE void skipSquares(SquareLanes<T>&, const T*, size_t) {}

// Short rows: the projection of whole rows, row r to maxNorms[r] (or to
// maxNorm when maxNorms is null).
template <typename T>
using ProjectRows = void (*)(T* p, size_t rows, size_t cols, const double* maxNorms, T maxNorm);

// A batch of rows at a time (see kRowBatch).
template <typename T>
LP_NOINLINE void projectRows(T* p, size_t rows, size_t cols, const double* maxNorms, T maxNorm) {
  if (cols < kProjectBatchMinCols) {
    forEachRowNorm(p, rows, cols, [&](size_t r, T norm) {
      renormRow(p + r * cols, cols, norm, maxNorms != nullptr ? static_cast<T>(maxNorms[r]) : maxNorm);
    });
    return;
  }
  T factors[kRowBatch];
  T limits[kRowBatch];
  for (size_t r0 = 0; r0 < rows; r0 += kRowBatch) {
    const size_t count = rows - r0 < kRowBatch ? rows - r0 : kRowBatch;
    T* batch = p + r0 * cols;
    rowBatchSquares(batch, count, cols, factors);
    for (size_t r = 0; r < count; ++r) limits[r] = maxNorms != nullptr ? static_cast<T>(maxNorms[r0 + r]) : maxNorm;
    forEachElement<T>(count, BatchRenormFactors<T>{factors, limits});
    for (size_t r = 0; r < count; ++r) {
      if (factors[r] != T(1)) forEachElement<T>(cols, MultiplyBy<T>{batch + r * cols, factors[r]});
    }
  }
}

// Short rows of one element each, all to maxNorm (see UnitRowsRenorm).
template <typename T>
LP_NOINLINE void projectUnitRows(T* p, size_t rows, size_t cols, const double* maxNorms, T maxNorm) {
  (void)cols;      // 1
  (void)maxNorms;  // null: chosen only without per-row radii
  forEachElement<T>(rows, UnitRowsRenorm<T>{p, maxNorm});
}

template <typename T>
LP_NOINLINE void skipProjectRows(T*, size_t, size_t, const double*, T) {}

// The L-inf projection (LinfProjectedOptim): each row clamped to [-limit,
// limit], the radius rounded to T as clampInPlace rounds its bounds (rounding
// is symmetric, so -T(x) == T(-x)).
template <typename T>
LP_NOINLINE void clampChunk(T* p, size_t n, T limit) {
  forEachElement<T>(n, ClampOp<T, true, true>{p, -limit, limit});
}

// Short rows: row by row with per-row radii, else the whole block at once.
template <typename T>
LP_NOINLINE void clampRows(T* p, size_t rows, size_t cols, const double* maxNorms, T maxNorm) {
  if (maxNorms == nullptr) {
    clampChunk(p, rows * cols, maxNorm);
    return;
  }
  for (size_t r = 0; r < rows; ++r) clampChunk(p + r * cols, cols, static_cast<T>(maxNorms[r]));
}

// Long rows: normalizeRowsL2's divisor of one gradient row.
template <typename T>
LP_NOINLINE T gradientRowDivisor(const T* g, size_t cols, T eps) {
  return normalizeDivisor(rowNorm(g, cols), eps);
}

// Long rows: one block of a row's projection, by its factor (renormFactor).
template <typename T>
LP_NOINLINE void scaleBlock(T* p, size_t n, T factor) {
  forEachElement<T>(n, MultiplyBy<T>{p, factor});
}

// Long rows: renormRow from the row's sum of squares.
template <typename T>
LP_NOINLINE void projectRow(T* row, size_t cols, T sumSquares, T limit) {
  renormRow(row, cols, normOfSumSquares(sumSquares), limit);
}

// A row's whole fused step in one sweep, for the common case (the gradient
// normalised, no gradScale/gradBias): per vector, g normalised (see
// rowNormalizer) is stored and
// handed to the inner op in registers, and (kProject) the new parameter it
// returns goes into the row's squares, in rowSumSquares's lane order.
// Nothing just stored is loaded again: reloading a 512-bit store at once
// stalls on CPUs that split it in two (Zen 4 among them), which made a
// vector-by-vector version through memory slower than separate sweeps. The
// elements after the row's last whole lane block are left for
// SquareLanes::finish, as in rowSumSquares.
template <typename T, typename Op, bool kProject>
LP_NOINLINE void fusedSweep(const Op& opArgument, T* g, size_t begin, size_t n, T normalizer,
                            SquareLanes<T>& squares) {
  using V = Vec<T>;
  const Op op = opArgument;        // fields in registers (see runOp)
  SquareLanes<T> lanes = squares;  // likewise
  const typename V::Reg normalizerV = V::set1(normalizer);
  const size_t end = begin + n;
  size_t i = begin;
  if constexpr (V::kHalfShift) {
    if (n >= 2 * kReductionLanes && isHalfVectorOff<V>(g + begin)) {
      // g half a vector off p (the sweep starts where p is aligned): every
      // other vector of g crosses a cache line. That is the common case,
      // not a corner: the C library aligns an ordinary array to 16 bytes
      // only, at any offset once earlier work has freed large blocks.
      // Crossing loads cost little, crossing stores much (Zen 4, the CIFAR
      // batch's SGD step: 1.29x the time of an aligned gradient, 1.06x with
      // these stores; in Node 15% faster), so the normalised gradient goes
      // out at aligned addresses (HalfShiftedStores). The same values, so
      // the same bits.
      HalfShiftedStores<T> stores{g, V::set1(T(0))};
      for (size_t r = 0; r < SquareLanes<T>::kRegs; ++r) {
        const size_t k = i + r * V::kWidth;
        const typename V::Reg gradient = normalizeBy<T, V>(V::load(g + k), normalizerV);
        stores.plain(k, gradient);
        const typename V::Reg next = op.template update<V>(k, gradient);
        if (kProject) lanes.addRegister(r, next);
      }
      for (i += kReductionLanes; end - i >= kReductionLanes; i += kReductionLanes) {
        for (size_t r = 0; r < SquareLanes<T>::kRegs; ++r) {
          const size_t k = i + r * V::kWidth;
          const typename V::Reg gradient = normalizeBy<T, V>(V::load(g + k), normalizerV);
          stores.next(k, gradient);
          const typename V::Reg next = op.template update<V>(k, gradient);
          if (kProject) lanes.addRegister(r, next);
        }
      }
      stores.finish(i);
    }
  }
  for (; end - i >= kReductionLanes; i += kReductionLanes) {
    for (size_t r = 0; r < SquareLanes<T>::kRegs; ++r) {
      const size_t k = i + r * V::kWidth;
      const typename V::Reg gradient = normalizeBy<T, V>(V::load(g + k), normalizerV);
      V::store(g + k, gradient);
      const typename V::Reg next = op.template update<V>(k, gradient);
      if (kProject) lanes.addRegister(r, next);
    }
  }
  squares = lanes;
  LP_TAIL_LOOP
  for (; i < end; ++i) {
    const T gradient = normalizeBy<T, One<T>>(g[i], normalizer);
    g[i] = gradient;
    op.template update<One<T>>(i, gradient);
  }
}

// What a fused call does around the inner op, resolved once per call.
template <typename T>
struct FusedRowData {
  T* p;
  T* g;
  size_t cols;
  bool normalize;
  bool scaleBias;
  bool project;  // the L2 renorm
  bool clamp;    // the L-inf clamp (never with normalize: parseGroupSpec refuses the pair)
  bool sign;     // the gradient's sign (never with normalize)
  TransformConstants<T> constants;
  TransformChunk<T> transformChunk;
  TransformRows<T> transformRows;
  SquaresChunk<T> squaresChunk;
  ProjectRows<T> projectRows;
  const double* maxNorms;  // or null: maxNorm for every row
  T maxNorm;
};

// float32 rows of kPipelinedCols or more elements (an ImageNet image is
// 150528) outgrow L2 before their three reads are done (the gradient's norm,
// the sweep, the projection), and read one after another the first of them
// is a read-only pass over memory, then a read-write one. So each row's sweep
// also sums the next row's gradient squares, a piece (kPipelineChunk
// elements) at a time: one steady stream of misses, and the next row's norm
// ready when its sweep starts. The sums run in rowSumSquares's lane order,
// so the bits are those of a row at a time. On an AVX-512 Zen 4 (1 MB L2),
// the bench's ImageNet batch went from 1.5x to 1.3x the memory floor. The
// projection likewise: a row's rescale (by renormFactor, an elementwise
// product, so in any order) runs a piece at a time during the next row's
// sweep instead of as a pass of its own from L3 (ImageNet 6% faster in C++,
// about 10% in Node on one thread, 5% on two); a range's last row has no next
// one and is rescaled at once. The sweep starts where the row's p is aligned
// and the next row's sums where its g is, as in fusedRows (at the start of a
// Float32Array, only 16-byte aligned, every other AVX2 access crossed a cache
// line: the ImageNet batch 3-6% faster aligned, Node, one thread).
// Shorter rows are left alone: 4608-element rows (ResNet's largest) ran
// 10-15% slower pipelined unaligned, in pieces of 128 to 4608 elements, and
// no faster aligned (pieces of 1024; of 512 5-17% slower); software
// prefetching, also tried on them, helped plain SGD a little but slowed the
// optimizers with state.
constexpr size_t kPipelinedCols = 65536;
constexpr size_t kPipelineChunk = 1024;
static_assert(kPipelineChunk % kReductionLanes == 0, "pieces must hold whole lane blocks");

// The pipelined rows' work on the next row's gradient. The next piece:
// whole lane blocks, up to n elements, from where the sums stand (*done).
// (Inlined: out of line in WebAssembly, the call per piece cost 1-2% of an
// ImageNet step.)
template <typename T>
LP_ALWAYS_INLINE void sumNextRowPiece(SquareLanes<T>& squares, const T* g, size_t cols, size_t n, size_t* done) {
  const size_t blocks = (cols - *done < n ? cols - *done : n) / kReductionLanes * kReductionLanes;
  addSquareBlocks(squares, g + *done, blocks);
  *done += blocks;
}

// The rest of the next row (a block is left over when its blocks start later
// than this row's), then its divisor; once a row, out of line in WebAssembly
// (as finishSquares).
template <typename T>
LP_FUSED_FINISH T nextRowDivisor(SquareLanes<T>& squares, const T* g, size_t cols, size_t start, size_t done, T eps) {
  addSquareBlocks(squares, g + done, cols - done);
  const size_t rest = (cols - start) % kReductionLanes;
  return normalizeDivisor(normOfSumSquares(finishSquares(squares, g + cols - rest, rest)), eps);
}

template <typename T, typename Op, bool kProject>
void fusedRowsPipelinedAs(const Op& op, const FusedRowData<T>& d, size_t rowBegin, size_t rowEnd) {
  const size_t cols = d.cols;
  const T eps = d.constants.eps;
  T divisor = gradientRowDivisor(d.g + rowBegin * cols, cols, eps);
  T* pending = nullptr;  // the previous row, rescaled by pendingFactor during this row's sweep
  T pendingFactor = T(1);
  for (size_t r = rowBegin; r < rowEnd; ++r) {
    const size_t base = r * cols;
    const T normalizer = rowNormalizer(d.g + base, cols, divisor);
    const bool hasNext = r + 1 < rowEnd;
    const T* nextG = d.g + base + cols;
    const size_t start = laneBlockStart(d.p + base, cols);
    const size_t nextStart = hasNext ? laneBlockStart(nextG, cols) : 0;
    SquareLanes<T> squares;
    SquareLanes<T> nextSquares;
    squares.clear();
    nextSquares.clear();
    if (start != 0) {
      fusedSweep<T, Op, false>(op, d.g, base, start, normalizer, squares);
      if (kProject) startSquaresAligned(squares, d.p + base, start);
      if (kProject && pending != nullptr) scaleBlock(pending, start, pendingFactor);
    }
    if (nextStart != 0) startSquaresAligned(nextSquares, nextG, nextStart);
    size_t nextDone = nextStart;  // the next row's elements summed so far: whole blocks, as the pieces go
    for (size_t j = start; j < cols; j += kPipelineChunk) {
      const size_t n = cols - j < kPipelineChunk ? cols - j : kPipelineChunk;
      fusedSweep<T, Op, kProject>(op, d.g, base + j, n, normalizer, squares);
      if (hasNext) sumNextRowPiece(nextSquares, nextG, cols, n, &nextDone);
      if (kProject && pending != nullptr) scaleBlock(pending + j, n, pendingFactor);
    }
    pending = nullptr;
    if (kProject) {
      const size_t rest = (cols - start) % kReductionLanes;
      const T limit = d.maxNorms != nullptr ? static_cast<T>(d.maxNorms[r]) : d.maxNorm;
      const T sumSquares = finishSquares(squares, d.p + base + cols - rest, rest);
      if (!hasNext) {
        projectRow(d.p + base, cols, sumSquares, limit);
      } else if (renormFactor(normOfSumSquares(sumSquares), limit, &pendingFactor)) {
        pending = d.p + base;
      }
    }
    if (hasNext) divisor = nextRowDivisor(nextSquares, nextG, cols, nextStart, nextDone, eps);
  }
}

template <typename T, typename Op>
void fusedRowsPipelined(const Op& op, const FusedRowData<T>& d, size_t rowBegin, size_t rowEnd) {
  static_assert(!kSequentialSquares<T>, "float64 rows keep PyTorch's sequential order (see fusedRows)");
  if (d.project) {
    fusedRowsPipelinedAs<T, Op, true>(op, d, rowBegin, rowEnd);
  } else {
    fusedRowsPipelinedAs<T, Op, false>(op, d, rowBegin, rowEnd);
  }
}

// torch.clamp(v, -limit, limit) on registers, as ClampOp does it.
template <typename T, typename O>
inline typename O::Reg clampTo(typename O::Reg v, typename O::Reg lo, typename O::Reg hi) {
  return O::atMost(O::atLeast(v, lo), hi);
}

// An L-inf step's row (LinfProjectedOptim: the gradient's sign, the inner op,
// the clamp; no gradScale/gradBias) of kFusedSweepMinCols or more elements
// in one sweep: each vector's sign is stored and handed to the inner op in
// registers, and the new parameter it returns is clamped and stored again
// (an extra store, not a pass). Three passes over each piece in L1 before:
// the CIFAR batch's L-inf step took 1.3x its L2 one. Elementwise, so the
// vectors start where p is aligned at no cost, and a g half a vector off is
// stored through realigned vectors (see fusedSweep). The same operations on
// the same values as the passes, so the same bits.
template <typename T, typename Op>
LP_NOINLINE void signClampSweep(const Op& opArgument, T* p, T* g, size_t begin, size_t n, T limit) {
  using V = Vec<T>;
  const Op op = opArgument;  // fields in registers (see runOp)
  const typename V::Reg lo = V::set1(-limit);
  const typename V::Reg hi = V::set1(limit);
  const size_t end = begin + n;
  const size_t aligned = alignedHead(p + begin);
  const size_t head = aligned < n ? aligned : n;
  const auto one = [&](size_t k) {
    const T gradient = One<T>::sign(g[k]);
    g[k] = gradient;
    p[k] = clampTo<T, One<T>>(op.template update<One<T>>(k, gradient), -limit, limit);
  };
  size_t i = begin;
  LP_TAIL_LOOP
  for (; i < begin + head; ++i) one(i);
  const size_t vectorEnd = i + (end - i) / V::kWidth * V::kWidth;
  if constexpr (V::kHalfShift) {
    if (vectorEnd - i >= 2 * V::kWidth && isHalfVectorOff<V>(g + i)) {
      HalfShiftedStores<T> stores{g, V::set1(T(0))};
      const typename V::Reg first = V::sign(V::load(g + i));
      stores.plain(i, first);
      V::store(p + i, clampTo<T, V>(op.template update<V>(i, first), lo, hi));
      for (i += V::kWidth; i < vectorEnd; i += V::kWidth) {
        const typename V::Reg gradient = V::sign(V::load(g + i));
        stores.next(i, gradient);
        V::store(p + i, clampTo<T, V>(op.template update<V>(i, gradient), lo, hi));
      }
      stores.finish(i);
    }
  }
  for (; i < vectorEnd; i += V::kWidth) {
    const typename V::Reg gradient = V::sign(V::load(g + i));
    V::store(g + i, gradient);
    V::store(p + i, clampTo<T, V>(op.template update<V>(i, gradient), lo, hi));
  }
  LP_TAIL_LOOP
  for (; i < end; ++i) one(i);
}

// Rows [rowBegin, rowEnd) of one tensor (see kFusedChunk). Out of line, a
// function per inner op: inlined, the fifty-odd ops made fusedStepRows one
// function of 500 KB of WebAssembly machine code, which V8 compiles with its
// optimising tier only after 0.3 s of steps at twice the time (see
// lp_add_wasm in CMakeLists.txt).
template <typename T, typename Op>
LP_NOINLINE void fusedRows(const Op& op, const FusedRowData<T>& d, size_t rowBegin, size_t rowEnd) {
  const size_t cols = d.cols;
  if (d.normalize && !d.scaleBias && cols >= kReductionLanes && kSequentialSquares<T>) {
    // float64: a block of rows at a time, so that their norms' chains run
    // interleaved (see rowNorms); the new p's squares in their own order,
    // a second pass over the block's rows while they are in cache.
    SquareLanes<T> unused;
    unused.clear();
    for (size_t r = rowBegin; r < rowEnd; r += kNormRows) {
      const size_t count = rowEnd - r < kNormRows ? rowEnd - r : kNormRows;
      T norms[kNormRows];
      rowNorms(d.g + r * cols, count, cols, norms);
      for (size_t k = 0; k < count; ++k) {
        T* row = d.g + (r + k) * cols;
        fusedSweep<T, Op, false>(op, d.g, (r + k) * cols, cols, rowNormalizer(row, cols, normalizeDivisor(norms[k], d.constants.eps)), unused);
      }
      if (!d.project) continue;
      rowNorms(d.p + r * cols, count, cols, norms);
      for (size_t k = 0; k < count; ++k) {
        const T limit = d.maxNorms != nullptr ? static_cast<T>(d.maxNorms[r + k]) : d.maxNorm;
        renormRow(d.p + (r + k) * cols, cols, norms[k], limit);
      }
    }
    return;
  }
  // (float64 rows that normalise took the branch above; `if constexpr` keeps
  // these from being instantiated for them.)
  if constexpr (!kSequentialSquares<T>) {
    if (d.normalize && !d.scaleBias && cols >= kPipelinedCols) {
      fusedRowsPipelined(op, d, rowBegin, rowEnd);
      return;
    }
    if (d.normalize && !d.scaleBias && cols >= kFusedSweepMinCols) {
      for (size_t r = rowBegin; r < rowEnd; ++r) {
        const size_t base = r * cols;
        const T normalizer = rowNormalizer(d.g + base, cols, gradientRowDivisor(d.g + base, cols, d.constants.eps));
        // The sweep's vectors start where p's are aligned (a load or store
        // across two cache lines costs twice, and the C library aligns a
        // Float32Array's memory to only 16 bytes): the elements before go one
        // at a time, and the squares' lanes start rotated to match.
        const size_t start = laneBlockStart(d.p + base, cols);
        SquareLanes<T> squares;
        squares.clear();
        if (start != 0) fusedSweep<T, Op, false>(op, d.g, base, start, normalizer, squares);
        if (d.project) {
          if (start != 0) squares.startAligned(d.p + base, start);
          fusedSweep<T, Op, true>(op, d.g, base + start, cols - start, normalizer, squares);
          const size_t rest = (cols - start) % kReductionLanes;
          const T limit = d.maxNorms != nullptr ? static_cast<T>(d.maxNorms[r]) : d.maxNorm;
          projectRow(d.p + base, cols, finishSquares(squares, d.p + base + cols - rest, rest), limit);
        } else {
          fusedSweep<T, Op, false>(op, d.g, base + start, cols - start, normalizer, squares);
        }
      }
      return;
    }
  }
  if (d.sign && d.clamp && !d.scaleBias && cols >= kFusedSweepMinCols) {
    for (size_t r = rowBegin; r < rowEnd; ++r) {
      const T limit = d.maxNorms != nullptr ? static_cast<T>(d.maxNorms[r]) : d.maxNorm;
      signClampSweep<T, Op>(op, d.p, d.g, r * cols, cols, limit);
    }
    return;
  }
  if (cols < kFusedChunk) {
    const size_t blockRows = kFusedChunk / cols;
    for (size_t r = rowBegin; r < rowEnd; r += blockRows) {
      const size_t rows = rowEnd - r < blockRows ? rowEnd - r : blockRows;
      const size_t base = r * cols;
      d.transformRows(d.g + base, rows, cols, d.constants);
      runOp<T>(op, base, rows * cols);
      d.projectRows(d.p + base, rows, cols, d.maxNorms != nullptr ? d.maxNorms + r : nullptr,
                    d.maxNorm);
    }
    return;
  }
  const size_t tail = cols % kReductionLanes;  // the elements after the last whole block
  for (size_t r = rowBegin; r < rowEnd; ++r) {
    const size_t base = r * cols;
    const T normalizer = d.normalize ? rowNormalizer(d.g + base, cols, gradientRowDivisor(d.g + base, cols, d.constants.eps)) : T(1);
    SquareLanes<T> squares;
    squares.clear();
    const T limit = d.maxNorms != nullptr ? static_cast<T>(d.maxNorms[r]) : d.maxNorm;
    for (size_t j = 0; j < cols;) {
      const size_t n = cols - j < kFusedChunk ? cols - j : kFusedChunk;
      d.transformChunk(d.g + base + j, n, normalizer, d.constants);
      runOp<T>(op, base + j, n);
      d.squaresChunk(squares, d.p + base + j, n);
      // The L-inf clamp is elementwise: each chunk while it is in L1.
      if (d.clamp) clampChunk(d.p + base + j, n, limit);
      j += n;
    }
    if (d.project) {
      if constexpr (kSequentialSquares<T>) {
        renormRow(d.p + base, cols, rowNorm(d.p + base, cols), limit);
      } else {
        projectRow(d.p + base, cols, finishSquares(squares, d.p + base + cols - tail, tail), limit);
      }
    }
  }
}

// The pieces of a fused call for these flags.
template <typename T>
FusedRowData<T> fusedRowData(const FusedGroup& group, const FusedTensor<T>& t) {
  const bool normalize = group.normalizeGrad;
  const bool scaleBias = group.applyScale || group.applyBias;
  FusedRowData<T> d{t.p,
                    t.g,
                    t.cols,
                    normalize,
                    scaleBias,
                    group.project,
                    group.clamp,
                    group.signGrad,
                    {static_cast<T>(group.divByZeroEps),
                     group.applyScale ? static_cast<T>(group.gradScale) : T(1),
                     group.applyBias ? static_cast<T>(group.gradBias) : T(-0.0)},
                    &keepGradientChunk<T>,
                    &keepGradientRows<T>,
                    group.project && !kSequentialSquares<T> ? &addSquareBlocks<T> : &skipSquares<T>,
                    group.project ? &projectRows<T> : &skipProjectRows<T>,
                    t.maxNorms,
                    static_cast<T>(group.maxNorm)};
  const bool unitRows = t.cols == 1;
  if (normalize && scaleBias) {
    d.transformChunk = &transformChunk<T, true, true>;
    d.transformRows = unitRows ? &transformUnitRows<T, true, true> : &transformRows<T, true, true>;
  } else if (normalize) {
    // (Its rows of kFusedSweepMinCols or more elements take fusedSweep, so
    // no chunk transform: only the short rows' one.)
    d.transformRows = unitRows ? &transformUnitRows<T, true, false> : &transformRows<T, true, false>;
  } else if (group.signGrad) {
    d.transformChunk = scaleBias ? &signChunk<T, true> : &signChunk<T, false>;
    d.transformRows = scaleBias ? &signRows<T, true> : &signRows<T, false>;
  } else if (scaleBias) {
    d.transformChunk = &transformChunk<T, false, true>;
    d.transformRows = unitRows ? &transformUnitRows<T, false, true> : &transformRows<T, false, true>;
  }
  if (unitRows && group.project && t.maxNorms == nullptr) d.projectRows = &projectUnitRows<T>;
  if (group.clamp) d.projectRows = &clampRows<T>;
  return d;
}

// memoryFloor's loop body: the fewest operations that touch what a plain SGD
// step touches (p and g read and written).
template <typename T>
struct FloorOp {
  T* p;
  T* g;
  T scale;
  T lr;
  template <typename O>
  inline void run(size_t i) const {
    const typename O::Reg scaled = O::mul(O::load(g + i), O::set1(scale));
    O::store(g + i, scaled);
    O::store(p + i, O::sub(O::load(p + i), O::mul(O::set1(lr), scaled)));
  }
};

// ---- the Frank-Wolfe update ----

// A Frank-Wolfe step: p = p * keep + w * g, each operation rounded to T.
template <typename T>
struct FrankWolfeOp {
  T* p;
  const T* g;
  T keep;
  T w;
  template <typename O>
  inline void run(size_t i) const {
    update<O>(i, O::load(g + i));
  }
  // As SgdOp::update: the step with the (transformed) gradient d given.
  template <typename O>
  inline typename O::Reg update(size_t i, typename O::Reg d) const {
    const typename O::Reg next = O::add(O::mul(O::load(p + i), O::set1(keep)), O::mul(O::set1(w), d));
    O::store(p + i, next);
    return next;
  }
};

// The FrankWolfeOp of these options: keep = 1 - alpha and w = -(alpha *
// lmoScale), each computed in double and rounded to T once (for
// frankWolfeStep and the fused step alike).
template <typename T>
inline FrankWolfeOp<T> frankWolfeOpFor(T* p, const T* g, const FrankWolfeOptions& o) {
  return FrankWolfeOp<T>{p, g, static_cast<T>(1.0 - o.alpha), static_cast<T>(-(o.alpha * o.lmoScale))};
}

// ---- the kernels of KernelsFor<T> ----

template <typename T>
void rowNormsL2(const T* x, size_t rows, size_t cols, T* out) {
  forEachRowNorm(x, rows, cols, [&](size_t r, T norm) { out[r] = norm; });
}

template <typename T>
void normalizeRowsL2(T* g, size_t rows, size_t cols, double divByZeroEps) {
  const T eps = static_cast<T>(divByZeroEps);
  forEachRowNorm(g, rows, cols, [&](size_t r, T norm) {
    T* row = g + r * cols;
    const T normalizer = rowNormalizer(row, cols, normalizeDivisor(norm, eps));
    // (scale 1 and bias -0 unused: kScaleBias is false.)
    forEachElement<T>(cols, GradientTransform<T, true, false>{row, normalizer, T(1), T(-0.0)});
  });
}

template <typename T>
void renormRowsL2(T* p, size_t rows, size_t cols, double maxNorm) {
  const T limit = static_cast<T>(maxNorm);
  forEachRowNorm(p, rows, cols, [&](size_t r, T norm) { renormRow(p + r * cols, cols, norm, limit); });
}

template <typename T>
void renormRowsL2PerRow(T* p, size_t rows, size_t cols, const double* maxNorms) {
  forEachRowNorm(p, rows, cols, [&](size_t r, T norm) {
    renormRow(p + r * cols, cols, norm, static_cast<T>(maxNorms[r]));
  });
}

// Op<T, kFirst, kSecond>{x, first, second} over n elements, with the flags
// of the two optional constants resolved at compile time; nothing when
// neither is given (scaleBias, clampInPlace).
template <template <typename, bool, bool> class Op, typename T>
void forEachWithOptionalPair(T* x, size_t n, double first, bool hasFirst, double second,
                             bool hasSecond) {
  const T a = static_cast<T>(first);
  const T b = static_cast<T>(second);
  if (hasFirst && hasSecond) {
    forEachElement<T>(n, Op<T, true, true>{x, a, b});
  } else if (hasFirst) {
    forEachElement<T>(n, Op<T, true, false>{x, a, b});
  } else if (hasSecond) {
    forEachElement<T>(n, Op<T, false, true>{x, a, b});
  }
}

template <typename T>
void scaleBias(T* g, size_t n, double scale, bool applyScale, double bias, bool applyBias) {
  forEachWithOptionalPair<ScaleBiasOp, T>(g, n, scale, applyScale, bias, applyBias);
}

template <typename T>
void sgdStep(T* p, const T* g, T* momentumBuf, size_t n, const SgdOptions& o,
             bool bufferInitialized) {
  visitSgdOp(p, g, momentumBuf, o, bufferInitialized,
             [n](const auto& op) { forEachElement<T>(n, op); });
}

template <typename T>
void adamStep(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq, size_t n,
              const AdamOptions& o) {
  visitAdamOp(p, g, expAvg, expAvgSq, maxExpAvgSq, o,
              [n](const auto& op) { forEachElement<T>(n, op); });
}

template <typename T>
void rmspropStep(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer, size_t n,
                 const RmspropOptions& o) {
  visitRmspropOp(p, g, squareAvg, gradAvg, momentumBuffer, o,
                 [n](const auto& op) { forEachElement<T>(n, op); });
}

template <typename T>
void adagradStep(T* p, const T* g, T* sum, size_t n, const AdagradOptions& o) {
  visitAdagradOp(p, g, sum, o, [n](const auto& op) { forEachElement<T>(n, op); });
}

template <typename T>
void fusedStepRows(const FusedGroup& group, const FusedTensor<T>& t, size_t rowBegin,
                   size_t rowEnd) {
  // A row of no elements changes nothing in the unfused sequence either.
  if (rowBegin >= rowEnd || t.cols == 0) return;
  const FusedRowData<T> d = fusedRowData(group, t);
  const auto rows = [&](const auto& op) { fusedRows<T>(op, d, rowBegin, rowEnd); };
  switch (group.inner) {
    case FusedInner::kSgd:
      visitSgdOp(t.p, t.g, t.buf0, group.sgd, t.s0 != 0.0, rows);
      break;
    case FusedInner::kAdam: {
      AdamOptions o = group.adam;
      o.stepSize = t.s0;
      o.biasCorrection2Sqrt = t.s1;
      visitAdamOp(t.p, t.g, t.buf0, t.buf1, t.buf2, o, rows);
      break;
    }
    case FusedInner::kRmsprop:
      visitRmspropOp(t.p, t.g, t.buf0, t.buf1, t.buf2, group.rmsprop, rows);
      break;
    case FusedInner::kAdagrad: {
      AdagradOptions o = group.adagrad;
      o.clr = t.s0;
      visitAdagradOp(t.p, t.g, t.buf0, o, rows);
      break;
    }
    case FusedInner::kFrankWolfe: {
      FrankWolfeOptions o = group.frankWolfe;
      o.alpha = t.s0;
      rows(frankWolfeOpFor(t.p, t.g, o));
      break;
    }
  }
}

template <typename T>
void memoryFloor(T* p, T* g, size_t n, double scale, double lr) {
  forEachElement<T>(n, FloorOp<T>{p, g, static_cast<T>(scale), static_cast<T>(lr)});
}

template <typename T>
void normalizeRowsL1(T* g, size_t rows, size_t cols, double divByZeroEps) {
  const T eps = static_cast<T>(divByZeroEps);
  for (size_t r = 0; r < rows; ++r) {
    T* row = g + r * cols;
    const T divisor = normalizeDivisor(rowNormL1(row, cols), eps);
    forEachElement<T>(cols, DivideBy<T>{row, divisor});
  }
}

template <typename T>
void signInPlace(T* g, size_t n) {
  forEachElement<T>(n, SignOp<T>{g});
}

template <typename T>
void clampInPlace(T* x, size_t n, double lo, bool hasLo, double hi, bool hasHi) {
  forEachWithOptionalPair<ClampOp, T>(x, n, lo, hasLo, hi, hasHi);
}

template <typename T>
void frankWolfeStep(T* p, const T* g, size_t n, double alpha, double lmoScale) {
  forEachElement<T>(n, frankWolfeOpFor(p, g, FrankWolfeOptions{alpha, lmoScale}));
}

// Top-q's bracket scan: the wrapper's Vec<T>::listBracket where it has one
// (float on AVX2, AVX-512, NEON and wasm simd128), else the plain loop in
// selection.cc (baseline code, not this ISA's: nothing is shared).
template <typename T, typename V = Vec<T>, typename = void>
struct ListBracketOf {
  static constexpr ListBracket<T> fn = &listBracketPlain<T>;
};
template <typename T, typename V>
struct ListBracketOf<T, V, decltype(void(&V::listBracket))> {
  static constexpr ListBracket<T> fn = &V::listBracket;
};

}  // namespace

extern const KernelTable kKernelTable = {
    LP_ISA_NAME,
    {&rowNormsL2<float>, &normalizeRowsL2<float>, &renormRowsL2<float>, &scaleBias<float>,
     &sgdStep<float>, &adamStep<float>, &rmspropStep<float>, &adagradStep<float>,
     &fusedStepRows<float>, &renormRowsL2PerRow<float>, &memoryFloor<float>,
     &normalizeRowsL1<float>, &signInPlace<float>, &clampInPlace<float>, &frankWolfeStep<float>,
     ListBracketOf<float>::fn},
    {&rowNormsL2<double>, &normalizeRowsL2<double>, &renormRowsL2<double>, &scaleBias<double>,
     &sgdStep<double>, &adamStep<double>, &rmspropStep<double>, &adagradStep<double>,
     &fusedStepRows<double>, &renormRowsL2PerRow<double>, &memoryFloor<double>,
     &normalizeRowsL1<double>, &signInPlace<double>, &clampInPlace<double>,
     &frankWolfeStep<double>, ListBracketOf<double>::fn},
};

}  // namespace LP_ISA
}  // namespace lp

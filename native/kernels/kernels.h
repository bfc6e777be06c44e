// SPDX-License-Identifier: MIT
// lp-optim kernels: the public C++ interface shared by the N-API addon, the
// WebAssembly exports and the ctest unit tests. Nothing here knows about Node
// or emscripten.
//
// Every kernel works on a row-major N x D view ("rows" data of "cols" elements)
// of a contiguous float32 or float64 array. Results are bit-identical on every
// instruction set: reductions use a fixed order (see kReductionLanes), no
// multiply-add is ever contracted (-ffp-contract=off), and the one PyTorch
// fuses where it shows (the weight decay term, exact_fma.h) is fused exactly
// everywhere, so scalar, AVX2, AVX-512, NEON, wasm simd128 and the
// TypeScript oracle agree to the last bit.
#ifndef LP_OPTIM_KERNELS_H_
#define LP_OPTIM_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace lp {

// float32 sums of squares (and every L1 sum) are accumulated in the data's
// own type (float32 data in float, as PyTorch's vectorised norm does), in
// kReductionLanes interleaved lanes: element j of a row goes to lane
// j % kReductionLanes, each lane adds in index order, then the lanes are
// combined pairwise (lane i += lane i + h for h = 8, 4, 2, 1). float64 sums
// of squares take PyTorch's own float64 order instead, s = fma(x, x, s) one
// element after another (see rowSumSquares in kernels-inl.h). The square
// root is taken in double and rounded once. Every ISA and the TypeScript
// reference follow exactly these orders, which is what makes their norms
// bit-identical.
constexpr size_t kReductionLanes = 16;

// Options of torch.optim.SGD (PyTorch 1.13, single-tensor form).
struct SgdOptions {
  double lr;
  double momentum;
  double dampening;
  double weightDecay;
  bool nesterov;
  bool maximize;
};

// Options of torch.optim.Adam / AdamW (PyTorch 1.13, single-tensor form).
struct AdamOptions {
  double lr;
  double beta1;
  double beta2;
  double eps;
  double weightDecay;
  bool decoupledWeightDecay;  // AdamW: p *= 1 - lr * weightDecay instead of d += weightDecay * p
  bool amsgrad;
  bool maximize;
  double stepSize;             // lr / (1 - beta1^t), computed by the caller
  double biasCorrection2Sqrt;  // sqrt(1 - beta2^t), computed by the caller
};

// Options of torch.optim.RMSprop (PyTorch 1.13, single-tensor form).
struct RmspropOptions {
  double lr;
  double alpha;
  double eps;
  double weightDecay;
  double momentum;
  bool centered;
  bool maximize;
};

// Options of torch.optim.Adagrad (PyTorch 1.13, single-tensor form).
struct AdagradOptions {
  double clr;  // lr / (1 + (t - 1) * lrDecay), computed by the caller
  double weightDecay;
  double eps;
  bool maximize;
};

// Options of rai_toolbox's FrankWolfe step: p = p * (1 - alpha) - (alpha *
// lmoScale) * g, the two factors computed in double and rounded to T once.
struct FrankWolfeOptions {
  double alpha;  // lr / max(divByZeroEps, lr + t) or lr, computed by the caller
  double lmoScale;
};

// ---- the fused group step ----

// The inner optimizer of a fused group step (spec[2]).
enum class FusedInner : int { kSgd = 0, kAdam = 1, kRmsprop = 2, kAdagrad = 3, kFrankWolfe = 4 };

// The options of one param group's fused step, shared by all its tensors
// (parsed from the flat spec by parseGroupSpec in group_spec.h). Only the
// options struct of `inner` is used; its per-tensor fields (SGD's buffer
// state, Adam's stepSize and biasCorrection2Sqrt, Adagrad's clr, FrankWolfe's
// alpha) come from each FusedTensor's s0 and s1.
struct FusedGroup {
  bool normalizeGrad;  // spec[0] == 1: g_row /= max(||g_row||, divByZeroEps)
  bool signGrad;       // spec[0] == 2: g = sign(g) (signInPlace)
  bool project;        // spec[1] == 1: renorm p_row to maxNorm (per row)
  bool clamp;          // spec[1] == 2: clamp p_row to [-maxNorm, maxNorm] (per row)
  FusedInner inner;    // spec[2]
  double divByZeroEps;
  double gradScale;
  bool applyScale;
  double gradBias;
  bool applyBias;
  double maxNorm;  // the radius of every row of a tensor without maxNorms
  SgdOptions sgd;
  AdamOptions adam;
  RmspropOptions rmsprop;
  AdagradOptions adagrad;
  FrankWolfeOptions frankWolfe;
};

// One tensor of a fused group step, as a rows x cols view. The state buffers
// are the inner optimizer's, in the order of its unfused kernel (SGD:
// momentumBuffer; Adam: expAvg, expAvgSq, maxExpAvgSq; RMSprop: squareAvg,
// gradAvg, momentumBuffer; Adagrad: sum; FrankWolfe: none), null where the
// options need none.
template <typename T>
struct FusedTensor {
  T* p;
  T* g;
  T* buf0;
  T* buf1;
  T* buf2;
  const double* maxNorms;  // rows radii, or null for FusedGroup::maxNorm
  size_t rows;
  size_t cols;
  double s0;  // SGD: bufferInitialized (0/1); Adam: stepSize; Adagrad: clr; FrankWolfe: alpha
  double s1;  // Adam: biasCorrection2Sqrt
};

// The bits of |x| as an unsigned integer (the sign bit cleared): for
// non-negative IEEE values they order like the values, NaN above +Inf.
template <typename T>
struct MagnitudeBits;
template <>
struct MagnitudeBits<float> {
  using type = uint32_t;
};
template <>
struct MagnitudeBits<double> {
  using type = uint64_t;
};
template <typename T>
using MagnitudeBitsOf = typename MagnitudeBits<T>::type;

// listBracket(row, cols, lo, hi, listed, capacity, above), for top-q's
// bracketed selection (selection.cc), with lo <= hi below the bits of +Inf:
// returns n, the count of entries whose magnitude bits lie in [lo, hi], and
// sets *above to the count above hi (NaN included). When n <= capacity,
// listed[0..n) holds their indices in increasing order; otherwise its content
// is unspecified. It may write up to capacity + kListSlack entries.
template <typename T>
using ListBracket = size_t (*)(const T* row, size_t cols, MagnitudeBitsOf<T> lo,
                               MagnitudeBitsOf<T> hi, uint32_t* listed, size_t capacity,
                               size_t* above);
constexpr size_t kListSlack = 16;

template <typename T>
struct KernelsFor {
  // out[r] = sqrt(sum_j x[r][j]^2), summed in T as described above.
  void (*rowNormsL2)(const T* x, size_t rows, size_t cols, T* out);
  // g[r] /= max(T(norm_r), T(divByZeroEps)), element by element (a division,
  // not a multiplication by the reciprocal, as the reference does).
  void (*normalizeRowsL2)(T* g, size_t rows, size_t cols, double divByZeroEps);
  // PyTorch's renorm(p=2, dim=0, maxnorm): with n = T(norm_r) and m = T(maxNorm),
  // where n > m: factor = m / (n + T(1e-7)) and p[r] *= factor; other rows untouched.
  void (*renormRowsL2)(T* p, size_t rows, size_t cols, double maxNorm);
  // g = g * T(scale) (skipped when applyScale is false), then g = g + T(bias)
  // (skipped when applyBias is false); two separately rounded operations.
  void (*scaleBias)(T* g, size_t n, double scale, bool applyScale, double bias, bool applyBias);
  // One SGD step on n elements. momentumBuf may be null when momentum == 0.
  // bufferInitialized == false means the buffer is set to d (torch's clone on
  // the first step with momentum).
  void (*sgdStep)(T* p, const T* g, T* momentumBuf, size_t n, const SgdOptions& o,
                  bool bufferInitialized);
  // One Adam/AdamW step on n elements; maxExpAvgSq may be null unless amsgrad.
  void (*adamStep)(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq, size_t n,
                   const AdamOptions& o);
  // One RMSprop step; gradAvg may be null unless centered, momentumBuffer unless momentum > 0.
  void (*rmspropStep)(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer, size_t n,
                      const RmspropOptions& o);
  // One Adagrad step on n elements (sum is the running sum of squared gradients).
  void (*adagradStep)(T* p, const T* g, T* sum, size_t n, const AdagradOptions& o);
  // Rows [rowBegin, rowEnd) of one tensor of a fused group step, in one pass
  // over memory (each piece of about 512 elements is transformed, stepped and
  // summed while it is in L1; see kFusedChunk): bit for bit the unfused
  // sequence normalizeRowsL2 (if normalizeGrad); scaleBias; the inner step;
  // and renormRowsL2 with that row's radius (if project). Rows are
  // independent, so any split of a tensor into row ranges gives the same bits.
  void (*fusedStepRows)(const FusedGroup& group, const FusedTensor<T>& t, size_t rowBegin,
                        size_t rowEnd);
  // renormRowsL2 with a radius per row: row r is renormed to T(maxNorms[r]).
  void (*renormRowsL2PerRow)(T* p, size_t rows, size_t cols, const double* maxNorms);
  // The memory-bandwidth floor of a step (a benchmark helper, not an
  // optimizer): g[i] = g[i] * T(scale), then p[i] = p[i] - T(lr) * g[i].
  void (*memoryFloor)(T* p, T* g, size_t n, double scale, double lr);

  // ---- the rest of the optimizer family (the elementwise parts) ----

  // g[r] /= max(T(l1_r), T(divByZeroEps)) (a NaN norm stays NaN), where l1_r,
  // the row's sum of |g| in T, is summed in the same fixed lane order as the
  // sums of squares above (and has no square root).
  void (*normalizeRowsL1)(T* g, size_t rows, size_t cols, double divByZeroEps);
  // torch.sign in place: g = (g > 0) - (g < 0), i.e. 1, -1, or +0 (for 0,
  // -0 and NaN).
  void (*signInPlace)(T* g, size_t n);
  // torch.clamp in place, as comparisons: x < T(lo) ? T(lo) : x when hasLo,
  // then x > T(hi) ? T(hi) : x when hasHi. NaN stays NaN, -0 stays -0.
  void (*clampInPlace)(T* x, size_t n, double lo, bool hasLo, double hi, bool hasHi);
  // A Frank-Wolfe step: p = p * T(1 - alpha) + T(-(alpha * lmoScale)) * g
  // (both constants computed in double, then rounded; each operation on
  // elements rounded to T).
  void (*frankWolfeStep)(T* p, const T* g, size_t n, double alpha, double lmoScale);
  // Top-q's bracket scan (see ListBracket): vector compares and a left-pack
  // of the indices where the ISA has them, else listBracketPlain.
  ListBracket<T> listBracket;
};

struct KernelTable {
  const char* name;  // "scalar", "avx2", "avx512", "neon", "wasm-simd128", "wasm"
  KernelsFor<float> f32;
  KernelsFor<double> f64;
};

// ---- selection kernels (plain code in selection.cc, the same on every ISA) ----
//
// Both rank a row's entries by magnitude: a larger |g| first, every NaN above
// every number (all NaNs rank equal), and between equal magnitudes (0 and -0
// are equal) the lower index first. They need no scratch memory.
// Instantiated for float and double.

// Per row, keeps the `keep` highest-ranked entries and sets the others to +0
// (keep >= cols keeps the whole row; keep == 0 zeroes it). listBracket is a
// table's (the result does not depend on it); null means listBracketPlain.
template <typename T>
void topQRows(T* g, size_t rows, size_t cols, size_t keep, ListBracket<T> listBracket = nullptr);

// L1qNormedGradientOptim's transform, per row, while the row is in cache:
// topQRows, then sign (as signInPlace: 1, -1, or +0 for 0, -0 and NaN), then
// division by max(n, divByZeroEps) with n the count of nonzero signs. For
// rows under 2^24 entries (float; 2^53 double) n is exactly the L1 norm
// normalizeRowsL1 sums, so the three kernels in turn give the same bits.
template <typename T>
void topQSignL1Rows(T* g, size_t rows, size_t cols, size_t keep, double divByZeroEps,
                    ListBracket<T> listBracket = nullptr);

// ListBracket in plain code (one entry at a time, without branches).
template <typename T>
size_t listBracketPlain(const T* row, size_t cols, MagnitudeBitsOf<T> lo, MagnitudeBitsOf<T> hi,
                        uint32_t* listed, size_t capacity, size_t* above);
// The same scan from entry `begin` on, with n entries already listed: adds
// to *above and returns the new n (the vector scans finish their last
// entries with it).
template <typename T>
size_t listBracketFrom(const T* row, size_t begin, size_t cols, MagnitudeBitsOf<T> lo,
                       MagnitudeBitsOf<T> hi, uint32_t* listed, size_t capacity, size_t n,
                       size_t* above);

// L1FrankWolfe's linear minimisation oracle, per row (cols > 0): with best
// the highest-ranked index and s = sign(g[best]) (as signInPlace), every
// entry becomes g[j] * T(0) (so NaN stays NaN and a negative entry becomes
// -0), then g[best] = s.
template <typename T>
void l1LmoRows(T* g, size_t rows, size_t cols);

// The tables compiled into this build, in order of preference (see
// dispatch.cc), whether or not this CPU supports them.
const KernelTable* const* compiledKernelTables(size_t* count);
// Whether this CPU (and OS) can run a table.
bool cpuSupports(const KernelTable& table);
// The default: the first table in that order this CPU supports.
const KernelTable& bestKernelTable();
// The table of that name, or null when it is unknown or unsupported here
// (reason says which).
const KernelTable* findKernelTable(const char* name, const char** reason);

}  // namespace lp

#endif  // LP_OPTIM_KERNELS_H_

// SPDX-License-Identifier: MIT
// lp-optim kernels: the public C++ interface shared by the N-API addon, the
// WebAssembly exports and the ctest unit tests. Nothing here knows about Node
// or emscripten.
//
// Every kernel works on a row-major N x D view ("rows" data of "cols" elements)
// of a contiguous float32 or float64 array. Results are bit-identical on every
// instruction set: reductions use a fixed order (see kReductionLanes) and no
// fused multiply-add is ever contracted (-ffp-contract=off), so scalar, AVX2,
// AVX-512, NEON, wasm simd128 and the TypeScript oracle agree to the last bit.
#ifndef LP_OPTIM_KERNELS_H_
#define LP_OPTIM_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace lp {

// Sums of squares are accumulated in the data's own type (float32 data in
// float, as PyTorch's vectorised norm does), in kReductionLanes interleaved
// lanes: element j of a row goes to lane j % kReductionLanes, each lane adds
// in index order, then the lanes are combined pairwise (lane i += lane i + h
// for h = 8, 4, 2, 1); the square root is taken in double and rounded once.
// Every ISA and the TypeScript reference follow exactly this order, which is
// what makes their norms bit-identical.
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
};

struct KernelTable {
  const char* name;  // "scalar", "avx2", "avx512", "neon", "wasm-simd128", "wasm"
  KernelsFor<float> f32;
  KernelsFor<double> f64;
};

// The tables compiled into this build, best first, whether or not this CPU
// supports them.
const KernelTable* const* compiledKernelTables(size_t* count);
// Whether this CPU (and OS) can run a table.
bool cpuSupports(const KernelTable& table);
// The best table this CPU supports.
const KernelTable& bestKernelTable();
// The table of that name, or null when it is unknown or unsupported here
// (reason says which).
const KernelTable* findKernelTable(const char* name, const char** reason);

}  // namespace lp

#endif  // LP_OPTIM_KERNELS_H_

// SPDX-License-Identifier: MIT
// The WebAssembly exports: a thin C adapter over the kernel table that checks
// every pointer against the linear memory before a kernel runs.
//
// Each lp_* kernel returns 0 on success or one of these codes, and touches
// nothing when it fails. Checks run in this order: the element count, then
// each array in argument order (null, alignment, bounds), then overlaps.
//   1  LP_ERR_SIZE       rows * cols does not fit in 32 bits
//   2  LP_ERR_ALIGN      a pointer is not aligned to its element size (4 or 8)
//   3  LP_ERR_BOUNDS     [ptr, ptr + bytes) is not inside the current memory
//   4  LP_ERR_NULL_BUF   a state buffer the options need is null: sgd_step's buf
//                        while momentum != 0, adam_step's maxExpAvgSq with
//                        amsgrad, rmsprop_step's gradAvg when centered and
//                        momentumBuffer while momentum > 0
//   5  LP_ERR_NULL       a non-empty array (x, out, g, p, ...) is at address 0
//   6  LP_ERR_OVERLAP    arrays that must be distinct overlap (x/out; p/g and
//                        the state buffers of a step)
// Empty arrays (0 elements) may sit anywhere; a state buffer the options do
// not need is ignored (not checked). The overlap rule keeps results identical
// on every ISA (a vector and a scalar loop would disagree on overlapping data).
#include <cstddef>
#include <cstdint>

#include "../native/kernels/kernels.h"

namespace {

enum Status : int {
  LP_OK = 0,
  LP_ERR_SIZE = 1,
  LP_ERR_ALIGN = 2,
  LP_ERR_BOUNDS = 3,
  LP_ERR_NULL_BUF = 4,
  LP_ERR_NULL = 5,
  LP_ERR_OVERLAP = 6,
};

const lp::KernelTable& table() { return lp::bestKernelTable(); }

uint64_t memoryBytes() { return static_cast<uint64_t>(__builtin_wasm_memory_size(0)) * 65536u; }

// A typed array of count elements at ptr, as seen by the checks.
struct Span {
  uint64_t address;
  uint64_t bytes;
};

template <typename T>
Span span(const T* ptr, uint64_t count) {
  return Span{static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr)), count * sizeof(T)};
}

template <typename T>
int checkArray(const T* ptr, uint64_t count) {
  const Span s = span(ptr, count);
  if (s.bytes == 0) return LP_OK;
  if (s.address == 0) return LP_ERR_NULL;
  if (s.address % sizeof(T) != 0) return LP_ERR_ALIGN;
  const uint64_t memory = memoryBytes();
  if (s.address > memory || s.bytes > memory - s.address) return LP_ERR_BOUNDS;
  return LP_OK;
}

bool overlap(Span a, Span b) {
  return a.bytes != 0 && b.bytes != 0 && a.address < b.address + b.bytes &&
         b.address < a.address + a.bytes;
}

// Whether any two of these spans overlap.
bool anyOverlap(const Span* spans, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = i + 1; j < count; ++j) {
      if (overlap(spans[i], spans[j])) return true;
    }
  }
  return false;
}

// A state buffer of n elements that the options may make unnecessary: null
// is refused only when it is needed (and n != 0); unneeded, it is not checked.
template <typename T>
int checkStateBuffer(const T* ptr, uint32_t n, bool needed) {
  if (!needed) return LP_OK;
  if (ptr == nullptr && n != 0) return LP_ERR_NULL_BUF;
  return checkArray(ptr, n);
}

int checkedCount(uint32_t rows, uint32_t cols, size_t* count) {
  const uint64_t n = static_cast<uint64_t>(rows) * cols;
  if (n > UINT32_MAX) return LP_ERR_SIZE;
  *count = static_cast<size_t>(n);
  return LP_OK;
}

template <typename T>
const lp::KernelsFor<T>& kernels();
template <>
const lp::KernelsFor<float>& kernels<float>() { return table().f32; }
template <>
const lp::KernelsFor<double>& kernels<double>() { return table().f64; }

template <typename T>
int rowNormsL2(const T* x, uint32_t rows, uint32_t cols, T* out) {
  size_t n = 0;
  int status = checkedCount(rows, cols, &n);
  if (status == LP_OK) status = checkArray(x, n);
  if (status == LP_OK) status = checkArray(out, rows);
  if (status == LP_OK && overlap(span(x, n), span(out, rows))) status = LP_ERR_OVERLAP;
  if (status != LP_OK) return status;
  if (rows != 0) kernels<T>().rowNormsL2(x, rows, cols, out);
  return LP_OK;
}

template <typename T>
int normalizeRowsL2(T* g, uint32_t rows, uint32_t cols, double divByZeroEps) {
  size_t n = 0;
  int status = checkedCount(rows, cols, &n);
  if (status == LP_OK) status = checkArray(g, n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().normalizeRowsL2(g, rows, cols, divByZeroEps);
  return LP_OK;
}

template <typename T>
int renormRowsL2(T* p, uint32_t rows, uint32_t cols, double maxNorm) {
  size_t n = 0;
  int status = checkedCount(rows, cols, &n);
  if (status == LP_OK) status = checkArray(p, n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().renormRowsL2(p, rows, cols, maxNorm);
  return LP_OK;
}

template <typename T>
int scaleBias(T* g, uint32_t n, double scale, int applyScale, double bias, int applyBias) {
  const int status = checkArray(g, n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().scaleBias(g, n, scale, applyScale != 0, bias, applyBias != 0);
  return LP_OK;
}

template <typename T>
int sgdStep(T* p, const T* g, T* buf, uint32_t n, double lr, double momentum, double dampening,
            double weightDecay, int nesterov, int maximize, int bufferInitialized) {
  const bool usesBuf = momentum != 0.0;  // the same test as the kernel's
  int status = checkArray(p, n);
  if (status == LP_OK) status = checkArray(g, n);
  if (status == LP_OK && usesBuf && buf == nullptr && n != 0) status = LP_ERR_NULL_BUF;
  if (status == LP_OK && usesBuf) status = checkArray(buf, n);
  if (status == LP_OK) {
    const Span sp = span(p, n), sg = span(g, n), sb = span(buf, usesBuf ? n : 0);
    if (overlap(sp, sg) || overlap(sp, sb) || overlap(sg, sb)) status = LP_ERR_OVERLAP;
  }
  if (status != LP_OK) return status;
  if (n == 0) return LP_OK;
  const lp::SgdOptions options{lr, momentum, dampening, weightDecay, nesterov != 0, maximize != 0};
  kernels<T>().sgdStep(p, g, usesBuf ? buf : nullptr, n, options, bufferInitialized != 0);
  return LP_OK;
}

template <typename T>
int adamStep(T* p, const T* g, T* expAvg, T* expAvgSq, T* maxExpAvgSq, uint32_t n, double lr,
             double beta1, double beta2, double eps, double weightDecay, int decoupledWeightDecay,
             int amsgrad, int maximize, double stepSize, double biasCorrection2Sqrt) {
  const bool usesMax = amsgrad != 0;
  int status = checkArray(p, n);
  if (status == LP_OK) status = checkArray(g, n);
  if (status == LP_OK) status = checkArray(expAvg, n);
  if (status == LP_OK) status = checkArray(expAvgSq, n);
  if (status == LP_OK) status = checkStateBuffer(maxExpAvgSq, n, usesMax);
  if (status == LP_OK) {
    const Span spans[] = {span(p, n), span(g, n), span(expAvg, n), span(expAvgSq, n),
                          span(maxExpAvgSq, usesMax ? n : 0)};
    if (anyOverlap(spans, sizeof spans / sizeof spans[0])) status = LP_ERR_OVERLAP;
  }
  if (status != LP_OK) return status;
  if (n == 0) return LP_OK;
  const lp::AdamOptions options{lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay != 0,
                                usesMax, maximize != 0, stepSize, biasCorrection2Sqrt};
  kernels<T>().adamStep(p, g, expAvg, expAvgSq, usesMax ? maxExpAvgSq : nullptr, n, options);
  return LP_OK;
}

template <typename T>
int rmspropStep(T* p, const T* g, T* squareAvg, T* gradAvg, T* momentumBuffer, uint32_t n,
                double lr, double alpha, double eps, double weightDecay, double momentum,
                int centered, int maximize) {
  const bool usesGradAvg = centered != 0;
  const bool usesBuffer = momentum > 0.0;  // the same test as the kernel's
  int status = checkArray(p, n);
  if (status == LP_OK) status = checkArray(g, n);
  if (status == LP_OK) status = checkArray(squareAvg, n);
  if (status == LP_OK) status = checkStateBuffer(gradAvg, n, usesGradAvg);
  if (status == LP_OK) status = checkStateBuffer(momentumBuffer, n, usesBuffer);
  if (status == LP_OK) {
    const Span spans[] = {span(p, n), span(g, n), span(squareAvg, n),
                          span(gradAvg, usesGradAvg ? n : 0),
                          span(momentumBuffer, usesBuffer ? n : 0)};
    if (anyOverlap(spans, sizeof spans / sizeof spans[0])) status = LP_ERR_OVERLAP;
  }
  if (status != LP_OK) return status;
  if (n == 0) return LP_OK;
  const lp::RmspropOptions options{lr, alpha, eps, weightDecay, momentum, usesGradAvg,
                                   maximize != 0};
  kernels<T>().rmspropStep(p, g, squareAvg, usesGradAvg ? gradAvg : nullptr,
                           usesBuffer ? momentumBuffer : nullptr, n, options);
  return LP_OK;
}

template <typename T>
int adagradStep(T* p, const T* g, T* sum, uint32_t n, double clr, double weightDecay, double eps,
                int maximize) {
  int status = checkArray(p, n);
  if (status == LP_OK) status = checkArray(g, n);
  if (status == LP_OK) status = checkArray(sum, n);
  if (status == LP_OK) {
    const Span spans[] = {span(p, n), span(g, n), span(sum, n)};
    if (anyOverlap(spans, sizeof spans / sizeof spans[0])) status = LP_ERR_OVERLAP;
  }
  if (status != LP_OK) return status;
  if (n == 0) return LP_OK;
  const lp::AdagradOptions options{clr, weightDecay, eps, maximize != 0};
  kernels<T>().adagradStep(p, g, sum, n, options);
  return LP_OK;
}

}  // namespace

extern "C" {

// The name of the kernel table in this module: "wasm" or "wasm-simd128".
const char* lp_isa(void) { return table().name; }

int lp_row_norms_l2_f32(const float* x, uint32_t rows, uint32_t cols, float* out) {
  return rowNormsL2(x, rows, cols, out);
}
int lp_row_norms_l2_f64(const double* x, uint32_t rows, uint32_t cols, double* out) {
  return rowNormsL2(x, rows, cols, out);
}

int lp_normalize_rows_l2_f32(float* g, uint32_t rows, uint32_t cols, double eps) {
  return normalizeRowsL2(g, rows, cols, eps);
}
int lp_normalize_rows_l2_f64(double* g, uint32_t rows, uint32_t cols, double eps) {
  return normalizeRowsL2(g, rows, cols, eps);
}

int lp_renorm_rows_l2_f32(float* p, uint32_t rows, uint32_t cols, double maxNorm) {
  return renormRowsL2(p, rows, cols, maxNorm);
}
int lp_renorm_rows_l2_f64(double* p, uint32_t rows, uint32_t cols, double maxNorm) {
  return renormRowsL2(p, rows, cols, maxNorm);
}

int lp_scale_bias_f32(float* g, uint32_t n, double scale, int applyScale, double bias,
                      int applyBias) {
  return scaleBias(g, n, scale, applyScale, bias, applyBias);
}
int lp_scale_bias_f64(double* g, uint32_t n, double scale, int applyScale, double bias,
                      int applyBias) {
  return scaleBias(g, n, scale, applyScale, bias, applyBias);
}

int lp_sgd_step_f32(float* p, const float* g, float* buf, uint32_t n, double lr, double momentum,
                    double dampening, double weightDecay, int nesterov, int maximize,
                    int bufferInitialized) {
  return sgdStep(p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov, maximize,
                 bufferInitialized);
}
int lp_sgd_step_f64(double* p, const double* g, double* buf, uint32_t n, double lr,
                    double momentum, double dampening, double weightDecay, int nesterov,
                    int maximize, int bufferInitialized) {
  return sgdStep(p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov, maximize,
                 bufferInitialized);
}

int lp_adam_step_f32(float* p, const float* g, float* expAvg, float* expAvgSq, float* maxExpAvgSq,
                     uint32_t n, double lr, double beta1, double beta2, double eps,
                     double weightDecay, int decoupledWeightDecay, int amsgrad, int maximize,
                     double stepSize, double biasCorrection2Sqrt) {
  return adamStep(p, g, expAvg, expAvgSq, maxExpAvgSq, n, lr, beta1, beta2, eps, weightDecay,
                  decoupledWeightDecay, amsgrad, maximize, stepSize, biasCorrection2Sqrt);
}
int lp_adam_step_f64(double* p, const double* g, double* expAvg, double* expAvgSq,
                     double* maxExpAvgSq, uint32_t n, double lr, double beta1, double beta2,
                     double eps, double weightDecay, int decoupledWeightDecay, int amsgrad,
                     int maximize, double stepSize, double biasCorrection2Sqrt) {
  return adamStep(p, g, expAvg, expAvgSq, maxExpAvgSq, n, lr, beta1, beta2, eps, weightDecay,
                  decoupledWeightDecay, amsgrad, maximize, stepSize, biasCorrection2Sqrt);
}

int lp_rmsprop_step_f32(float* p, const float* g, float* squareAvg, float* gradAvg,
                        float* momentumBuffer, uint32_t n, double lr, double alpha, double eps,
                        double weightDecay, double momentum, int centered, int maximize) {
  return rmspropStep(p, g, squareAvg, gradAvg, momentumBuffer, n, lr, alpha, eps, weightDecay,
                     momentum, centered, maximize);
}
int lp_rmsprop_step_f64(double* p, const double* g, double* squareAvg, double* gradAvg,
                        double* momentumBuffer, uint32_t n, double lr, double alpha, double eps,
                        double weightDecay, double momentum, int centered, int maximize) {
  return rmspropStep(p, g, squareAvg, gradAvg, momentumBuffer, n, lr, alpha, eps, weightDecay,
                     momentum, centered, maximize);
}

int lp_adagrad_step_f32(float* p, const float* g, float* sum, uint32_t n, double clr,
                        double weightDecay, double eps, int maximize) {
  return adagradStep(p, g, sum, n, clr, weightDecay, eps, maximize);
}
int lp_adagrad_step_f64(double* p, const double* g, double* sum, uint32_t n, double clr,
                        double weightDecay, double eps, int maximize) {
  return adagradStep(p, g, sum, n, clr, weightDecay, eps, maximize);
}

}  // extern "C"

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
//                        the state buffers of a step; in a group step any two
//                        written arrays of the group, or a maxNorms array and
//                        a written one; p and maxNorms of renorm_rows_l2_per_row;
//                        p and g of frank_wolfe_step)
//   7  LP_ERR_SPEC       a group step's spec entry is not one of its values
//                        (transform, project, applyScale, applyBias and the
//                        inner's 0/1 flags must be 0 or 1; inner 0 to 4)
//   8  LP_ERR_TENSOR_SPEC a group step's tensorSpec record is invalid: rows or
//                        cols not an integer from 0 to 2^53, or (SGD) s0 not 0 or 1
//   9  LP_ERR_MAX_NORMS  a per-row radius (maxNorms[r]) is NaN or < 0
//  10  LP_ERR_NO_MEMORY  no memory for the overlap check of a large group
// Empty arrays (0 elements) may sit anywhere; a state buffer the options do
// not need is ignored (not checked). The overlap rule keeps results identical
// on every ISA (a vector and a scalar loop would disagree on overlapping data).
//
// lp_group_step_f32/_f64(spec, tensorSpec, tensors, arrays) is one fused step
// of a param group (the layout of spec and tensorSpec: native/kernels/group_spec.h;
// arrays: 6 addresses per tensor, p, g, buf0, buf1, buf2, maxNorms, 0 for
// none; maxNorms are doubles in both variants). Its checks, in this order:
// spec (null, alignment, bounds of its 9 header entries; inner; then of its
// full length), its entries in index order (7); tensorSpec and arrays (null,
// alignment, bounds of 4 doubles and 6 addresses per tensor); then tensor by
// tensor: its record (8; 1 when rows * cols does not fit in 32 bits), p, g,
// the needed buffers (4 when null), maxNorms when given and project is 1 or 2
// (array checks, then 9); then the overlaps of the whole group (6). Nothing
// is written unless every check passes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>

#include "../native/kernels/group_spec.h"
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
  LP_ERR_SPEC = 7,
  LP_ERR_TENSOR_SPEC = 8,
  LP_ERR_MAX_NORMS = 9,
  LP_ERR_NO_MEMORY = 10,
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
bool anyOverlap(std::initializer_list<Span> spans) {
  for (const Span* a = spans.begin(); a != spans.end(); ++a) {
    for (const Span* b = a + 1; b != spans.end(); ++b) {
      if (overlap(*a, *b)) return true;
    }
  }
  return false;
}

// Arrays of count elements each, checked in the order given; the first
// failure is the result. (Called as checkArrays<T>({p, g, ...}, n) so that
// T* and const T* arrays can be listed together.)
template <typename T>
int checkArrays(std::initializer_list<const T*> arrays, uint64_t count) {
  for (const T* ptr : arrays) {
    const int status = checkArray(ptr, count);
    if (status != LP_OK) return status;
  }
  return LP_OK;
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

// A rows x cols array: first its element count (which must fit in 32 bits,
// and is stored in *count), then the array itself.
template <typename T>
int checkMatrix(const T* ptr, uint32_t rows, uint32_t cols, size_t* count) {
  const int status = checkedCount(rows, cols, count);
  if (status != LP_OK) return status;
  return checkArray(ptr, *count);
}

template <typename T>
const lp::KernelsFor<T>& kernels();
template <>
const lp::KernelsFor<float>& kernels<float>() { return table().f32; }
template <>
const lp::KernelsFor<double>& kernels<double>() { return table().f64; }

// ---- the kernels, each checked and run for T = float or double ----

template <typename T>
int rowNormsL2(const T* x, uint32_t rows, uint32_t cols, T* out) {
  size_t n = 0;
  int status = checkMatrix(x, rows, cols, &n);
  if (status == LP_OK) status = checkArray(out, rows);
  if (status == LP_OK && overlap(span(x, n), span(out, rows))) status = LP_ERR_OVERLAP;
  if (status != LP_OK) return status;
  if (rows != 0) kernels<T>().rowNormsL2(x, rows, cols, out);
  return LP_OK;
}

template <typename T>
int normalizeRowsL2(T* g, uint32_t rows, uint32_t cols, double divByZeroEps) {
  size_t n = 0;
  const int status = checkMatrix(g, rows, cols, &n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().normalizeRowsL2(g, rows, cols, divByZeroEps);
  return LP_OK;
}

template <typename T>
int renormRowsL2(T* p, uint32_t rows, uint32_t cols, double maxNorm) {
  size_t n = 0;
  const int status = checkMatrix(p, rows, cols, &n);
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
  int status = checkArrays<T>({p, g}, n);
  if (status == LP_OK) status = checkStateBuffer(buf, n, usesBuf);
  if (status == LP_OK && anyOverlap({span(p, n), span(g, n), span(buf, usesBuf ? n : 0)})) {
    status = LP_ERR_OVERLAP;
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
  int status = checkArrays<T>({p, g, expAvg, expAvgSq}, n);
  if (status == LP_OK) status = checkStateBuffer(maxExpAvgSq, n, usesMax);
  if (status == LP_OK && anyOverlap({span(p, n), span(g, n), span(expAvg, n), span(expAvgSq, n),
                                     span(maxExpAvgSq, usesMax ? n : 0)})) {
    status = LP_ERR_OVERLAP;
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
  int status = checkArrays<T>({p, g, squareAvg}, n);
  if (status == LP_OK) status = checkStateBuffer(gradAvg, n, usesGradAvg);
  if (status == LP_OK) status = checkStateBuffer(momentumBuffer, n, usesBuffer);
  if (status == LP_OK && anyOverlap({span(p, n), span(g, n), span(squareAvg, n),
                                     span(gradAvg, usesGradAvg ? n : 0),
                                     span(momentumBuffer, usesBuffer ? n : 0)})) {
    status = LP_ERR_OVERLAP;
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
  int status = checkArrays<T>({p, g, sum}, n);
  if (status == LP_OK && anyOverlap({span(p, n), span(g, n), span(sum, n)})) {
    status = LP_ERR_OVERLAP;
  }
  if (status != LP_OK) return status;
  if (n == 0) return LP_OK;
  const lp::AdagradOptions options{clr, weightDecay, eps, maximize != 0};
  kernels<T>().adagradStep(p, g, sum, n, options);
  return LP_OK;
}

template <typename T>
int renormRowsL2PerRow(T* p, uint32_t rows, uint32_t cols, const double* maxNorms) {
  size_t n = 0;
  int status = checkMatrix(p, rows, cols, &n);
  if (status == LP_OK) status = checkArray(maxNorms, rows);
  for (uint32_t r = 0; status == LP_OK && r < rows; ++r) {
    if (!lp::validMaxNorm(maxNorms[r])) status = LP_ERR_MAX_NORMS;
  }
  if (status == LP_OK && overlap(span(p, n), span(maxNorms, rows))) status = LP_ERR_OVERLAP;
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().renormRowsL2PerRow(p, rows, cols, maxNorms);
  return LP_OK;
}

template <typename T>
int normalizeRowsL1(T* g, uint32_t rows, uint32_t cols, double divByZeroEps) {
  size_t n = 0;
  const int status = checkMatrix(g, rows, cols, &n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().normalizeRowsL1(g, rows, cols, divByZeroEps);
  return LP_OK;
}

template <typename T>
int signInPlace(T* g, uint32_t n) {
  const int status = checkArray(g, n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().signInPlace(g, n);
  return LP_OK;
}

template <typename T>
int clampInPlace(T* x, uint32_t n, double lo, int hasLo, double hi, int hasHi) {
  const int status = checkArray(x, n);
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().clampInPlace(x, n, lo, hasLo != 0, hi, hasHi != 0);
  return LP_OK;
}

// The selection kernels are not per ISA (lp::topQRows, lp::topQSignL1Rows,
// lp::l1LmoRows).
template <typename T>
int topQRows(T* g, uint32_t rows, uint32_t cols, uint32_t keep) {
  size_t n = 0;
  const int status = checkMatrix(g, rows, cols, &n);
  if (status != LP_OK) return status;
  if (n != 0) lp::topQRows(g, rows, cols, keep, kernels<T>().listBracket);
  return LP_OK;
}

template <typename T>
int topQSignL1Rows(T* g, uint32_t rows, uint32_t cols, uint32_t keep, double divByZeroEps) {
  size_t n = 0;
  const int status = checkMatrix(g, rows, cols, &n);
  if (status != LP_OK) return status;
  if (n != 0) lp::topQSignL1Rows(g, rows, cols, keep, divByZeroEps, kernels<T>().listBracket);
  return LP_OK;
}

template <typename T>
int l1LmoRows(T* g, uint32_t rows, uint32_t cols) {
  size_t n = 0;
  const int status = checkMatrix(g, rows, cols, &n);
  if (status != LP_OK) return status;
  if (n != 0) lp::l1LmoRows(g, rows, cols);
  return LP_OK;
}

template <typename T>
int frankWolfeStep(T* p, const T* g, uint32_t n, double alpha, double lmoScale) {
  int status = checkArrays<T>({p, g}, n);
  if (status == LP_OK && overlap(span(p, n), span(g, n))) status = LP_ERR_OVERLAP;
  if (status != LP_OK) return status;
  if (n != 0) kernels<T>().frankWolfeStep(p, g, n, alpha, lmoScale);
  return LP_OK;
}

lp::MemorySpan memorySpan(Span s, uint32_t tensor, int slot) {
  return lp::MemorySpan{s.address, s.address + s.bytes, tensor, static_cast<uint32_t>(slot)};
}

template <typename T>
T* arrayAt(const uint32_t* arrays, uint32_t tensor, int slot) {
  return reinterpret_cast<T*>(
      static_cast<uintptr_t>(arrays[static_cast<size_t>(tensor) * lp::kArraysPerTensor + slot]));
}

// Checks one tensor of a group step and fills *t; appends its written arrays
// to written and its maxNorms to read.
template <typename T>
int checkGroupTensor(const lp::FusedGroup& group, const lp::BufferNeeds& needs,
                     const double* record, const uint32_t* arrays, uint32_t index,
                     lp::FusedTensor<T>* t, lp::MemorySpan* written, size_t* writtenCount,
                     lp::MemorySpan* read, size_t* readCount) {
  lp::TensorShape shape{};
  lp::SpecProblem problem{};
  if (!lp::parseTensorRecord(group, record, UINT32_MAX, &shape, &problem)) {
    return problem.kind == lp::SpecProblem::kTooLarge ? LP_ERR_SIZE : LP_ERR_TENSOR_SPEC;
  }
  T* p = arrayAt<T>(arrays, index, lp::kSlotP);
  T* g = arrayAt<T>(arrays, index, lp::kSlotG);
  T* bufs[3] = {arrayAt<T>(arrays, index, lp::kSlotBuf0), arrayAt<T>(arrays, index, lp::kSlotBuf1),
                arrayAt<T>(arrays, index, lp::kSlotBuf2)};
  const double* maxNorms = arrayAt<const double>(arrays, index, lp::kSlotMaxNorms);
  const size_t n = shape.count;
  int status = checkArrays<T>({p, g}, n);
  for (int b = 0; b < 3 && status == LP_OK; ++b) {
    status = checkStateBuffer(bufs[b], static_cast<uint32_t>(n), needs.needed[b]);
    if (!needs.needed[b]) bufs[b] = nullptr;
  }
  // maxNorms is only read when the group projects or clamps; otherwise it is ignored.
  if (!group.project && !group.clamp) maxNorms = nullptr;
  if (status == LP_OK && maxNorms != nullptr) {
    status = checkArray(maxNorms, shape.rows);
    for (size_t r = 0; status == LP_OK && r < shape.rows; ++r) {
      if (!lp::validMaxNorm(maxNorms[r])) status = LP_ERR_MAX_NORMS;
    }
  }
  if (status != LP_OK) return status;
  written[(*writtenCount)++] = memorySpan(span(p, n), index, lp::kSlotP);
  written[(*writtenCount)++] = memorySpan(span(g, n), index, lp::kSlotG);
  for (int b = 0; b < 3; ++b) {
    if (bufs[b] != nullptr) {
      written[(*writtenCount)++] = memorySpan(span(bufs[b], n), index, lp::kSlotBuf0 + b);
    }
  }
  if (maxNorms != nullptr) {
    read[(*readCount)++] = memorySpan(span(maxNorms, shape.rows), index, lp::kSlotMaxNorms);
  }
  *t = lp::FusedTensor<T>{p, g, bufs[0], bufs[1], bufs[2], maxNorms, shape.rows, shape.cols,
                          record[2], record[3]};
  return LP_OK;
}

// The group step (single-threaded): checks everything, then runs every
// tensor's rows through fusedStepRows.
template <typename T>
int groupStep(const double* spec, const double* tensorSpec, uint32_t tensors,
              const uint32_t* arrays) {
  int status = checkArray(spec, lp::kSpecHeaderLength);
  if (status != LP_OK) return status;
  const size_t specLength = lp::groupSpecLength(spec[2]);
  if (specLength == 0) return LP_ERR_SPEC;
  status = checkArray(spec, specLength);
  if (status != LP_OK) return status;
  lp::FusedGroup group{};
  lp::SpecProblem problem{};
  if (!lp::parseGroupSpec(spec, specLength, &group, &problem)) return LP_ERR_SPEC;
  status = checkArray(tensorSpec, static_cast<uint64_t>(tensors) * lp::kTensorSpecStride);
  if (status == LP_OK) status = checkArray(arrays, static_cast<uint64_t>(tensors) * lp::kArraysPerTensor);
  if (status != LP_OK || tensors == 0) return status;

  // Spans for the overlap check: up to 5 written arrays and 1 maxNorms per
  // tensor (the spans and the typed tensors in one allocation).
  const lp::BufferNeeds needs = lp::groupBufferNeeds(group);
  const size_t spanCount = static_cast<size_t>(tensors) * lp::kArraysPerTensor;
  const size_t bytes = spanCount * sizeof(lp::MemorySpan) + tensors * sizeof(lp::FusedTensor<T>);
  void* scratch = std::malloc(bytes);
  if (scratch == nullptr) return LP_ERR_NO_MEMORY;
  lp::MemorySpan* written = static_cast<lp::MemorySpan*>(scratch);
  lp::MemorySpan* read = written + static_cast<size_t>(tensors) * 5;
  lp::FusedTensor<T>* typed = reinterpret_cast<lp::FusedTensor<T>*>(written + spanCount);
  size_t writtenCount = 0, readCount = 0;
  for (uint32_t i = 0; i < tensors && status == LP_OK; ++i) {
    status = checkGroupTensor(group, needs, tensorSpec + static_cast<size_t>(i) * lp::kTensorSpecStride,
                              arrays, i, &typed[i], written, &writtenCount, read, &readCount);
  }
  lp::MemorySpan first{}, second{};
  if (status == LP_OK &&
      lp::findOverlap(written, writtenCount, read, readCount, &first, &second)) {
    status = LP_ERR_OVERLAP;
  }
  if (status == LP_OK) {
    for (uint32_t i = 0; i < tensors; ++i) {
      kernels<T>().fusedStepRows(group, typed[i], 0, typed[i].rows);
    }
  }
  std::free(scratch);
  return status;
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

int lp_renorm_rows_l2_per_row_f32(float* p, uint32_t rows, uint32_t cols, const double* maxNorms) {
  return renormRowsL2PerRow(p, rows, cols, maxNorms);
}
int lp_renorm_rows_l2_per_row_f64(double* p, uint32_t rows, uint32_t cols,
                                  const double* maxNorms) {
  return renormRowsL2PerRow(p, rows, cols, maxNorms);
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

int lp_normalize_rows_l1_f32(float* g, uint32_t rows, uint32_t cols, double eps) {
  return normalizeRowsL1(g, rows, cols, eps);
}
int lp_normalize_rows_l1_f64(double* g, uint32_t rows, uint32_t cols, double eps) {
  return normalizeRowsL1(g, rows, cols, eps);
}

int lp_sign_f32(float* g, uint32_t n) { return signInPlace(g, n); }
int lp_sign_f64(double* g, uint32_t n) { return signInPlace(g, n); }

int lp_clamp_f32(float* x, uint32_t n, double lo, int hasLo, double hi, int hasHi) {
  return clampInPlace(x, n, lo, hasLo, hi, hasHi);
}
int lp_clamp_f64(double* x, uint32_t n, double lo, int hasLo, double hi, int hasHi) {
  return clampInPlace(x, n, lo, hasLo, hi, hasHi);
}

int lp_top_q_rows_f32(float* g, uint32_t rows, uint32_t cols, uint32_t keep) {
  return topQRows(g, rows, cols, keep);
}
int lp_top_q_rows_f64(double* g, uint32_t rows, uint32_t cols, uint32_t keep) {
  return topQRows(g, rows, cols, keep);
}

int lp_top_q_sign_l1_rows_f32(float* g, uint32_t rows, uint32_t cols, uint32_t keep,
                              double divByZeroEps) {
  return topQSignL1Rows(g, rows, cols, keep, divByZeroEps);
}
int lp_top_q_sign_l1_rows_f64(double* g, uint32_t rows, uint32_t cols, uint32_t keep,
                              double divByZeroEps) {
  return topQSignL1Rows(g, rows, cols, keep, divByZeroEps);
}

int lp_l1_lmo_rows_f32(float* g, uint32_t rows, uint32_t cols) {
  return l1LmoRows(g, rows, cols);
}
int lp_l1_lmo_rows_f64(double* g, uint32_t rows, uint32_t cols) {
  return l1LmoRows(g, rows, cols);
}

int lp_frank_wolfe_step_f32(float* p, const float* g, uint32_t n, double alpha,
                            double lmoScale) {
  return frankWolfeStep(p, g, n, alpha, lmoScale);
}
int lp_frank_wolfe_step_f64(double* p, const double* g, uint32_t n, double alpha,
                            double lmoScale) {
  return frankWolfeStep(p, g, n, alpha, lmoScale);
}

int lp_group_step_f32(const double* spec, const double* tensorSpec, uint32_t tensors,
                      const uint32_t* arrays) {
  return groupStep<float>(spec, tensorSpec, tensors, arrays);
}
int lp_group_step_f64(const double* spec, const double* tensorSpec, uint32_t tensors,
                      const uint32_t* arrays) {
  return groupStep<double>(spec, tensorSpec, tensors, arrays);
}

}  // extern "C"

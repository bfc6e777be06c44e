// SPDX-License-Identifier: MIT
// Runs a fused group step over all the tensors of a param group, on the
// worker pool when the group is large enough (native addon and unit tests).
#ifndef LP_OPTIM_GROUP_STEP_H_
#define LP_OPTIM_GROUP_STEP_H_

#include <cstddef>

#include "kernels/kernels.h"
#include "thread_pool.h"

namespace lp {

// One tensor of a group step with its dtype erased (the addon allows float32
// and float64 tensors in one group). Pointers are null where absent.
struct GroupTensor {
  bool f64;
  void* p;
  void* g;
  void* buf[3];
  const double* maxNorms;
  size_t rows;
  size_t cols;
  double s0;
  double s1;
};

// A group of fewer elements than this runs on the calling thread alone.
constexpr size_t kParallelMinElements = 256 * 1024;
// The smallest share of a parallel step (in elements, whole rows).
constexpr size_t kMinTaskElements = 64 * 1024;
// About this many shares per thread, so that a slow thread is evened out.
constexpr size_t kTasksPerThread = 4;

// Runs table's fusedStepRows over every row of every tensor. With a pool,
// threads > 1 and at least kParallelMinElements elements in all, the rows are
// cut into shares (whole rows only, so every row's norm sums in the same
// order; a tensor whose elements step independently, with no norm, may also
// be cut inside a row) that the calling thread and up to threads - 1 workers
// share out; the result is the same bits whatever the number of threads. The arrays must
// have been checked (lengths, needed buffers, no overlap).
void runGroupStep(const KernelTable& table, const FusedGroup& group, const GroupTensor* tensors,
                  size_t count, ThreadPool* pool, size_t threads);

// A row kernel's work on rows [rowBegin, rowEnd) of its array(s).
using RowsTask = void (*)(void* context, size_t rowBegin, size_t rowEnd);

// Runs task over rows [0, rows) of `cols` elements each, for the row kernels
// that run outside a group step (top-q, the L1 LMO, row norms, normalisation,
// renorm): on the calling thread alone with one thread or under
// kParallelMinElements elements, else in shares of whole rows, cut as
// runGroupStep cuts them, on the pool. Each row is computed on its own, so the
// bits are the same whatever the cut.
void runRowShares(size_t rows, size_t cols, ThreadPool* pool, size_t threads, RowsTask task,
                  void* context);

}  // namespace lp

#endif  // LP_OPTIM_GROUP_STEP_H_

// SPDX-License-Identifier: MIT
// The fused group step's driver: cuts a group into row ranges and runs them
// (see group_step.h).
#include "group_step.h"

#include <vector>

namespace lp {
namespace {

// Rows [rowBegin, rowEnd) of one tensor.
struct RowRange {
  size_t tensor;
  size_t rowBegin;
  size_t rowEnd;
};

void runRows(const KernelTable& table, const FusedGroup& group, const GroupTensor& t,
             size_t rowBegin, size_t rowEnd) {
  if (t.f64) {
    const FusedTensor<double> typed{static_cast<double*>(t.p),      static_cast<double*>(t.g),
                                    static_cast<double*>(t.buf[0]), static_cast<double*>(t.buf[1]),
                                    static_cast<double*>(t.buf[2]), t.maxNorms,
                                    t.rows,                         t.cols,
                                    t.s0,                           t.s1};
    table.f64.fusedStepRows(group, typed, rowBegin, rowEnd);
  } else {
    const FusedTensor<float> typed{static_cast<float*>(t.p),      static_cast<float*>(t.g),
                                   static_cast<float*>(t.buf[0]), static_cast<float*>(t.buf[1]),
                                   static_cast<float*>(t.buf[2]), t.maxNorms,
                                   t.rows,                        t.cols,
                                   t.s0,                          t.s1};
    table.f32.fusedStepRows(group, typed, rowBegin, rowEnd);
  }
}

// A parallel step: task i runs ranges [taskEnds[i - 1], taskEnds[i]).
struct ParallelStep {
  const KernelTable* table;
  const FusedGroup* group;
  const GroupTensor* tensors;
  std::vector<RowRange> ranges;
  std::vector<size_t> taskEnds;

  static void runTask(void* context, size_t task) {
    const ParallelStep& step = *static_cast<const ParallelStep*>(context);
    const size_t begin = task == 0 ? 0 : step.taskEnds[task - 1];
    for (size_t i = begin; i < step.taskEnds[task]; ++i) {
      const RowRange& r = step.ranges[i];
      runRows(*step.table, *step.group, step.tensors[r.tensor], r.rowBegin, r.rowEnd);
    }
  }
};

// Whether every element of a tensor steps on its own: no gradient norm and no
// L2 renorm, and (for the L-inf clamp) one radius for all rows. Then row
// boundaries do not matter, and a tensor of one long row (paramNdim null, a
// plain optimizer's tensors) can be cut anywhere.
bool elementwise(const FusedGroup& group, const GroupTensor& t) {
  return !group.normalizeGrad && !group.project && (!group.clamp || t.maxNorms == nullptr);
}

// The elements of one share of a parallel run over `total` elements: about
// kTasksPerThread shares per thread, none under kMinTaskElements.
size_t shareElements(size_t total, size_t threads) {
  const size_t wanted = threads * kTasksPerThread;
  const size_t share = (total + wanted - 1) / wanted;
  return share < kMinTaskElements ? kMinTaskElements : share;
}

// Elements [begin, begin + n) of an elementwise tensor as a tensor of one row.
GroupTensor elementRange(const GroupTensor& t, size_t begin, size_t n) {
  const size_t bytes = begin * (t.f64 ? sizeof(double) : sizeof(float));
  const auto at = [bytes](void* base) -> void* {
    return base == nullptr ? nullptr : static_cast<char*>(base) + bytes;
  };
  return GroupTensor{t.f64, at(t.p), at(t.g), {at(t.buf[0]), at(t.buf[1]), at(t.buf[2])},
                     nullptr, 1, n, t.s0, t.s1};
}

}  // namespace

void runGroupStep(const KernelTable& table, const FusedGroup& group, const GroupTensor* tensors,
                  size_t count, ThreadPool* pool, size_t threads) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += tensors[i].rows * tensors[i].cols;
  if (pool == nullptr || threads <= 1 || total < kParallelMinElements) {
    for (size_t i = 0; i < count; ++i) runRows(table, group, tensors[i], 0, tensors[i].rows);
    return;
  }

  // A share is whole rows of one tensor, or several small tensors.
  const size_t wanted = threads * kTasksPerThread;
  const size_t target = shareElements(total, threads);

  // An elementwise tensor with rows longer than a share is cut into ranges of
  // elements (the same bits: each element's step depends on no other).
  std::vector<GroupTensor> pieces;
  for (size_t i = 0; i < count; ++i) {
    const GroupTensor& t = tensors[i];
    const size_t n = t.rows * t.cols;
    if (t.cols <= target || !elementwise(group, t)) {
      pieces.push_back(t);
      continue;
    }
    for (size_t begin = 0; begin < n; begin += target) {
      pieces.push_back(elementRange(t, begin, n - begin < target ? n - begin : target));
    }
  }
  tensors = pieces.data();
  count = pieces.size();
  ParallelStep step{&table, &group, tensors, {}, {}};
  step.ranges.reserve(count + wanted);
  step.taskEnds.reserve(count + wanted);
  size_t pending = 0;  // elements of the task being filled
  for (size_t i = 0; i < count; ++i) {
    const GroupTensor& t = tensors[i];
    if (t.rows == 0 || t.cols == 0) continue;
    const size_t rowsPerRange = (target + t.cols - 1) / t.cols;
    for (size_t rowBegin = 0; rowBegin < t.rows; rowBegin += rowsPerRange) {
      const size_t rowEnd = t.rows - rowBegin > rowsPerRange ? rowBegin + rowsPerRange : t.rows;
      step.ranges.push_back(RowRange{i, rowBegin, rowEnd});
      pending += (rowEnd - rowBegin) * t.cols;
      if (pending >= target) {
        step.taskEnds.push_back(step.ranges.size());
        pending = 0;
      }
    }
  }
  if (pending != 0) step.taskEnds.push_back(step.ranges.size());
  pool->run(step.taskEnds.size(), threads, &ParallelStep::runTask, &step);
}

namespace {

// runRowShares's shares: share i is rows [i * rowsPerShare, ...) up to rows.
struct RowShares {
  RowsTask task;
  void* context;
  size_t rows;
  size_t rowsPerShare;

  static void runShare(void* shares, size_t i) {
    const RowShares& s = *static_cast<const RowShares*>(shares);
    const size_t begin = i * s.rowsPerShare;
    s.task(s.context, begin, s.rows - begin < s.rowsPerShare ? s.rows : begin + s.rowsPerShare);
  }
};

}  // namespace

void runRowShares(size_t rows, size_t cols, ThreadPool* pool, size_t threads, RowsTask task,
                  void* context) {
  const size_t total = rows * cols;
  if (pool == nullptr || threads <= 1 || total < kParallelMinElements) {
    task(context, 0, rows);
    return;
  }
  const size_t rowsPerShare = (shareElements(total, threads) + cols - 1) / cols;
  const size_t shares = (rows + rowsPerShare - 1) / rowsPerShare;
  if (shares < 2) {
    task(context, 0, rows);
    return;
  }
  RowShares s{task, context, rows, rowsPerShare};
  pool->run(shares, threads, &RowShares::runShare, &s);
}

}  // namespace lp

// SPDX-License-Identifier: MIT
// Reading and checking a fused group step's spec (see group_spec.h).
#include "group_spec.h"

#include <algorithm>

namespace lp {
namespace {

constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53

const char* const kFlagRule = "must be 0 or 1";
const char* const kNumberRule = nullptr;  // any number

struct Entry {
  const char* name;
  const char* rule;  // null: any number; otherwise an integer from 0 to maxValue
  int maxValue;
};

const Entry kHeader[kSpecHeaderLength] = {
    {"transform", "must be 0 (none), 1 (L2-normalize the gradient rows) or 2 (the gradient's sign)", 2},
    {"project", "must be 0 (none), 1 (L2 renorm of the parameter rows) or 2 (L-inf clamp of the parameter rows)", 2},
    {"inner", "must be 0 (SGD), 1 (Adam/AdamW), 2 (RMSprop), 3 (Adagrad) or 4 (FrankWolfe)", 4},
    {"divByZeroEps", kNumberRule, 0},
    {"gradScale", kNumberRule, 0},
    {"applyScale", kFlagRule, 1},
    {"gradBias", kNumberRule, 0},
    {"applyBias", kFlagRule, 1},
    {"maxNorm", kNumberRule, 0},
};

const Entry kSgdOptions[] = {
    {"lr", kNumberRule, 0},          {"momentum", kNumberRule, 0}, {"dampening", kNumberRule, 0},
    {"weightDecay", kNumberRule, 0}, {"nesterov", kFlagRule, 1},   {"maximize", kFlagRule, 1},
};
const Entry kAdamOptions[] = {
    {"lr", kNumberRule, 0},          {"beta1", kNumberRule, 0},
    {"beta2", kNumberRule, 0},       {"eps", kNumberRule, 0},
    {"weightDecay", kNumberRule, 0}, {"decoupledWeightDecay", kFlagRule, 1},
    {"amsgrad", kFlagRule, 1},       {"maximize", kFlagRule, 1},
};
const Entry kRmspropOptions[] = {
    {"lr", kNumberRule, 0},          {"alpha", kNumberRule, 0},    {"eps", kNumberRule, 0},
    {"weightDecay", kNumberRule, 0}, {"momentum", kNumberRule, 0}, {"centered", kFlagRule, 1},
    {"maximize", kFlagRule, 1},
};
const Entry kAdagradOptions[] = {
    {"weightDecay", kNumberRule, 0},
    {"eps", kNumberRule, 0},
    {"maximize", kFlagRule, 1},
};
const Entry kFrankWolfeOptions[] = {
    {"lmoScalingFactor", kNumberRule, 0},
};

template <size_t N>
constexpr size_t countOf(const Entry (&)[N]) {
  return N;
}

bool isFlag(double value) { return value == 0.0 || value == 1.0; }

// Whether value is acceptable for this entry.
bool satisfies(const Entry& entry, double value) {
  if (entry.rule == kNumberRule) return true;
  return value >= 0 && value <= entry.maxValue &&
         value == static_cast<double>(static_cast<int>(value));
}

bool fail(SpecProblem* problem, SpecProblem::Kind kind, size_t index, const char* name,
          const char* rule, size_t expectedLength) {
  problem->kind = kind;
  problem->index = index;
  problem->name = name;
  problem->rule = rule;
  problem->expectedLength = expectedLength;
  return false;
}

bool isCount(double value) {
  return value >= 0 && value <= kMaxSafeInteger && value == static_cast<double>(static_cast<uint64_t>(value));
}

}  // namespace

size_t groupSpecLength(double inner) {
  if (inner == 0.0) return kSpecHeaderLength + countOf(kSgdOptions);
  if (inner == 1.0) return kSpecHeaderLength + countOf(kAdamOptions);
  if (inner == 2.0) return kSpecHeaderLength + countOf(kRmspropOptions);
  if (inner == 3.0) return kSpecHeaderLength + countOf(kAdagradOptions);
  if (inner == 4.0) return kSpecHeaderLength + countOf(kFrankWolfeOptions);
  return 0;
}

const char* innerName(FusedInner inner) {
  switch (inner) {
    case FusedInner::kSgd: return "SGD";
    case FusedInner::kAdam: return "Adam/AdamW";
    case FusedInner::kRmsprop: return "RMSprop";
    case FusedInner::kAdagrad: return "Adagrad";
    case FusedInner::kFrankWolfe: return "FrankWolfe";
  }
  return "?";
}

bool parseGroupSpec(const double* spec, size_t length, FusedGroup* group, SpecProblem* problem) {
  problem->kind = SpecProblem::kNone;
  if (length < kSpecHeaderLength) {
    return fail(problem, SpecProblem::kLength, 0, nullptr, nullptr, kSpecHeaderLength);
  }
  for (size_t i = 0; i < kSpecHeaderLength; ++i) {
    if (!satisfies(kHeader[i], spec[i])) {
      return fail(problem, SpecProblem::kValue, i, kHeader[i].name, kHeader[i].rule, 0);
    }
  }
  // No optimizer normalises by the L2 norm and then clamps: the fused kernels do not take the pair.
  if (spec[0] == 1.0 && spec[1] == 2.0) {
    return fail(problem, SpecProblem::kValue, 1, kHeader[1].name,
                "must not be 2 (L-inf clamp) when transform is 1 (L2-normalize)", 0);
  }
  // inner was checked as one of 0..4, so it has a length.
  const size_t expected = groupSpecLength(spec[2]);
  if (length != expected) return fail(problem, SpecProblem::kLength, 0, nullptr, nullptr, expected);

  const FusedInner inner = static_cast<FusedInner>(static_cast<int>(spec[2]));
  const Entry* options = kSgdOptions;
  switch (inner) {
    case FusedInner::kSgd: options = kSgdOptions; break;
    case FusedInner::kAdam: options = kAdamOptions; break;
    case FusedInner::kRmsprop: options = kRmspropOptions; break;
    case FusedInner::kAdagrad: options = kAdagradOptions; break;
    case FusedInner::kFrankWolfe: options = kFrankWolfeOptions; break;
  }
  for (size_t i = kSpecHeaderLength; i < length; ++i) {
    const Entry& entry = options[i - kSpecHeaderLength];
    if (!satisfies(entry, spec[i])) {
      return fail(problem, SpecProblem::kValue, i, entry.name, entry.rule, 0);
    }
  }

  FusedGroup g{};
  g.normalizeGrad = spec[0] == 1.0;
  g.signGrad = spec[0] == 2.0;
  g.project = spec[1] == 1.0;
  g.clamp = spec[1] == 2.0;
  g.inner = inner;
  g.divByZeroEps = spec[3];
  g.gradScale = spec[4];
  g.applyScale = spec[5] == 1.0;
  g.gradBias = spec[6];
  g.applyBias = spec[7] == 1.0;
  g.maxNorm = spec[8];
  const double* o = spec + kSpecHeaderLength;
  switch (inner) {
    case FusedInner::kSgd:
      g.sgd = SgdOptions{o[0], o[1], o[2], o[3], o[4] == 1.0, o[5] == 1.0};
      break;
    case FusedInner::kAdam:
      g.adam = AdamOptions{o[0], o[1], o[2], o[3], o[4], o[5] == 1.0, o[6] == 1.0, o[7] == 1.0,
                           0.0, 0.0};
      break;
    case FusedInner::kRmsprop:
      g.rmsprop = RmspropOptions{o[0], o[1], o[2], o[3], o[4], o[5] == 1.0, o[6] == 1.0};
      break;
    case FusedInner::kAdagrad:
      g.adagrad = AdagradOptions{0.0, o[0], o[1], o[2] == 1.0};
      break;
    case FusedInner::kFrankWolfe:
      g.frankWolfe = FrankWolfeOptions{0.0, o[0]};
      break;
  }
  *group = g;
  return true;
}

bool parseTensorRecord(const FusedGroup& group, const double* record, size_t maxCount,
                       TensorShape* shape, SpecProblem* problem) {
  problem->kind = SpecProblem::kNone;
  static const char* const kCountRule = "must be an integer from 0 to 2^53";
  if (!isCount(record[0])) return fail(problem, SpecProblem::kValue, 0, "rows", kCountRule, 0);
  if (!isCount(record[1])) return fail(problem, SpecProblem::kValue, 1, "cols", kCountRule, 0);
  if (group.inner == FusedInner::kSgd && !isFlag(record[2])) {
    return fail(problem, SpecProblem::kValue, 2, "s0 (bufferInitialized)", kFlagRule, 0);
  }
  const uint64_t rows = static_cast<uint64_t>(record[0]);
  const uint64_t cols = static_cast<uint64_t>(record[1]);
  if (rows > maxCount || cols > maxCount || (cols != 0 && rows > maxCount / cols)) {
    return fail(problem, SpecProblem::kTooLarge, 0, "rows * cols", nullptr, 0);
  }
  shape->rows = static_cast<size_t>(rows);
  shape->cols = static_cast<size_t>(cols);
  shape->count = static_cast<size_t>(rows * cols);
  return true;
}

BufferNeeds groupBufferNeeds(const FusedGroup& group) {
  BufferNeeds b{};
  switch (group.inner) {
    case FusedInner::kSgd:
      // The same tests as the kernels' (on the doubles).
      b.needed[0] = group.sgd.momentum != 0.0;
      b.name[0] = "momentumBuffer";
      b.when[0] = "momentum != 0";
      break;
    case FusedInner::kAdam:
      b.needed[0] = b.needed[1] = true;
      b.needed[2] = group.adam.amsgrad;
      b.name[0] = "expAvg";
      b.name[1] = "expAvgSq";
      b.name[2] = "maxExpAvgSq";
      b.when[2] = "amsgrad is 1";
      break;
    case FusedInner::kRmsprop:
      b.needed[0] = true;
      b.needed[1] = group.rmsprop.centered;
      b.needed[2] = group.rmsprop.momentum > 0.0;
      b.name[0] = "squareAvg";
      b.name[1] = "gradAvg";
      b.name[2] = "momentumBuffer";
      b.when[1] = "centered is 1";
      b.when[2] = "momentum > 0";
      break;
    case FusedInner::kAdagrad:
      b.needed[0] = true;
      b.name[0] = "sum";
      break;
    case FusedInner::kFrankWolfe:  // no state buffers
      break;
  }
  return b;
}

bool findOverlap(MemorySpan* written, size_t writtenCount, const MemorySpan* read,
                 size_t readCount, MemorySpan* first, MemorySpan* second) {
  const auto byBegin = [](const MemorySpan& a, const MemorySpan& b) { return a.begin < b.begin; };
  // Empty spans to the back, out of the way.
  MemorySpan* const end = std::partition(written, written + writtenCount,
                                         [](const MemorySpan& s) { return s.begin < s.end; });
  std::sort(written, end, byBegin);
  // Sorted by begin, disjoint spans also have increasing ends: a span that
  // starts before the one before it ends overlaps it.
  for (MemorySpan* s = written; s + 1 < end; ++s) {
    if (s[1].begin < s[0].end) {
      *first = s[0];
      *second = s[1];
      return true;
    }
  }
  for (size_t i = 0; i < readCount; ++i) {
    const MemorySpan& r = read[i];
    if (r.begin >= r.end) continue;
    // The first written span that ends after r begins: the only candidate,
    // since the written spans are disjoint and sorted.
    MemorySpan* s = std::partition_point(written, end, [&](const MemorySpan& w) { return w.end <= r.begin; });
    if (s != end && s->begin < r.end) {
      *first = *s;
      *second = r;
      return true;
    }
  }
  return false;
}

}  // namespace lp

// SPDX-License-Identifier: MIT
// The flat description of a fused group step, shared by the N-API addon and
// the WebAssembly exports: its layout, how it is read and checked, and the
// overlap check of a group's arrays. Plain C++ with no ISA flags.
//
// spec[] (doubles), one per param group:
//   [0] transform: 0 none, 1 L2-normalize the gradient rows (normalizeRowsL2),
//                  2 the gradient's sign (signInPlace)
//   [1] project:   0 none, 1 L2 renorm of the parameter rows (renormRowsL2),
//                  2 clamp of the parameter rows to [-maxNorm, maxNorm]
//                  (clampInPlace; not with transform 1)
//   [2] inner:     0 SGD, 1 Adam/AdamW, 2 RMSprop, 3 Adagrad, 4 FrankWolfe
//   [3] divByZeroEps  [4] gradScale  [5] applyScale (0/1)  [6] gradBias
//   [7] applyBias (0/1)  [8] maxNorm (the radius of every row of a tensor
//       without a per-row maxNorms array)
//   [9..] the inner options, in this order:
//     SGD:     lr, momentum, dampening, weightDecay, nesterov, maximize
//     Adam:    lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, amsgrad,
//              maximize
//     RMSprop: lr, alpha, eps, weightDecay, momentum, centered, maximize
//     Adagrad: weightDecay, eps, maximize
//     FrankWolfe: lmoScalingFactor
//   so its length is 15 (SGD), 17 (Adam), 16 (RMSprop), 12 (Adagrad) or 10
//   (FrankWolfe).
//   Flags and enums must be exactly one of their values; the other entries
//   may be any number (as in the unfused kernels).
// tensorSpec[], 4 doubles per tensor: rows, cols, s0, s1 where
//   SGD: s0 = bufferInitialized (0/1); Adam: s0 = stepSize, s1 =
//   biasCorrection2Sqrt; Adagrad: s0 = clr; FrankWolfe: s0 = alpha; otherwise
//   unused.
// Per tensor 6 arrays: p, g, buf0, buf1, buf2, maxNorms (see FusedTensor).
#ifndef LP_OPTIM_GROUP_SPEC_H_
#define LP_OPTIM_GROUP_SPEC_H_

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace lp {

constexpr size_t kSpecHeaderLength = 9;  // the entries before the inner options
constexpr size_t kTensorSpecStride = 4;  // rows, cols, s0, s1
constexpr size_t kArraysPerTensor = 6;   // p, g, buf0, buf1, buf2, maxNorms

// The slots of a tensor's six arrays.
enum TensorSlot : int { kSlotP, kSlotG, kSlotBuf0, kSlotBuf1, kSlotBuf2, kSlotMaxNorms };

// The spec length for this inner value (spec[2]), or 0 when it is not one.
size_t groupSpecLength(double inner);

// A short name of an inner optimizer ("SGD", "Adam/AdamW", ...).
const char* innerName(FusedInner inner);

// What is wrong with a spec or a tensor record, for messages and codes.
struct SpecProblem {
  enum Kind {
    kNone,
    kLength,    // a spec of the wrong length; expectedLength is the right one
    kValue,     // entry `index` (named `name`) breaks `rule`
    kTooLarge,  // rows * cols exceeds the caller's limit
  };
  Kind kind;
  size_t index;
  const char* name;
  const char* rule;
  size_t expectedLength;
};

// Reads and checks a spec of `length` entries: the header in index order,
// then the length (which spec[2] decides; a spec shorter than the header is a
// kLength problem with expectedLength = kSpecHeaderLength), then the inner
// options. On success fills *group (per-tensor option fields left zero).
bool parseGroupSpec(const double* spec, size_t length, FusedGroup* group, SpecProblem* problem);

// The shape of one tensor, from its tensorSpec record.
struct TensorShape {
  size_t rows;
  size_t cols;
  size_t count;  // rows * cols
};

// Reads and checks one tensorSpec record (kTensorSpecStride doubles): rows and
// cols are integers from 0 to 2^53 with rows * cols <= maxCount; SGD's s0 is
// 0 or 1. problem->index is the entry within the record.
bool parseTensorRecord(const FusedGroup& group, const double* record, size_t maxCount,
                       TensorShape* shape, SpecProblem* problem);

// Which state buffers the group's options use, and their names.
struct BufferNeeds {
  bool needed[3];
  const char* name[3];  // the buffer's name, or null when the inner has no such buffer
  const char* when[3];  // when it is needed ("momentum != 0", ...), or null: always or never
};
BufferNeeds groupBufferNeeds(const FusedGroup& group);

// Whether a per-row radius is acceptable: >= 0, Infinity included (no
// projection, as torch.renorm with maxnorm=inf); not NaN.
inline bool validMaxNorm(double value) { return value >= 0; }

// One array of a group for the overlap check: [begin, end) in bytes.
struct MemorySpan {
  uint64_t begin;
  uint64_t end;
  uint32_t tensor;
  uint32_t slot;  // a TensorSlot
};

// Looks for two arrays that share memory: two of the `written` spans, or a
// `read` span (maxNorms, which several tensors may share) and a written one.
// Empty spans overlap nothing. Sorts `written` in place. On finding one,
// returns true with the pair in *first and *second.
bool findOverlap(MemorySpan* written, size_t writtenCount, const MemorySpan* read,
                 size_t readCount, MemorySpan* first, MemorySpan* second);

}  // namespace lp

#endif  // LP_OPTIM_GROUP_SPEC_H_

// SPDX-License-Identifier: MIT
// The N-API addon lp_optim: checks every argument, then runs a kernel of the
// active table in place on the caller's typed arrays (zero copy).
//
// Errors: a wrong type throws TypeError, a wrong length, size or count throws
// RangeError; each message names the function, the argument and the value.
// Nothing is read or written before all the checks pass.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#ifndef NAPI_DISABLE_CPP_EXCEPTIONS
#define NAPI_DISABLE_CPP_EXCEPTIONS
#endif
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "group_step.h"
#include "kernels/group_spec.h"
#include "kernels/kernels.h"
#include "thread_pool.h"

#ifndef LP_OPTIM_VERSION
#define LP_OPTIM_VERSION "0.0.0-unknown"
#endif

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

// ---- messages ----

// The shortest decimal that reads back as the same double, JS style.
std::string formatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return std::signbit(value) ? "-0" : "0";
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

const char* typedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

// What a value is, for "got ..." in messages. Never calls into JS (no
// toString), so a hostile object cannot run code or throw from here.
std::string describe(Napi::Value value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return value.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return formatNumber(value.As<Napi::Number>().DoubleValue());
    case napi_string: {
      std::string text = value.As<Napi::String>().Utf8Value();
      if (text.size() > 40) text = text.substr(0, 40) + "...";
      return "string '" + text + "'";
    }
    case napi_symbol: return "a symbol";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    default: break;
  }
  if (value.IsTypedArray()) {
    const Napi::TypedArray array = value.As<Napi::TypedArray>();
    return std::string(typedArrayName(array.TypedArrayType())) + " of length " +
           std::to_string(array.ElementLength());
  }
  if (value.IsArray()) return "an Array";
  if (value.IsArrayBuffer()) return "an ArrayBuffer";
  if (value.IsDataView()) return "a DataView";
  return "an object";
}

void throwTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void throwRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

// ---- argument readers: each returns false after throwing ----

// The arguments of one call, with the function name for messages: a call's
// own, or (runBatchAsync) one recorded call's, read out of the batch first.
struct Args {
  Args(const Napi::CallbackInfo& info, const char* function)
      : function(function), env_(info.Env()), info_(&info) {}
  Args(Napi::Env env, const char* function, const std::vector<Napi::Value>* values)
      : function(function), env_(env), values_(values) {}

  Napi::Env env() const { return env_; }
  // Argument `index` (undefined past the last, as in a call).
  Napi::Value operator[](size_t index) const {
    if (info_ != nullptr) return (*info_)[index];
    return index < values_->size() ? (*values_)[index] : env_.Undefined();
  }
  size_t length() const { return info_ != nullptr ? info_->Length() : values_->size(); }
  std::string where(const std::string& name) const { return std::string(function) + ": " + name; }

  const char* function;

 private:
  Napi::Env env_;
  const Napi::CallbackInfo* info_ = nullptr;
  const std::vector<Napi::Value>* values_ = nullptr;
};

// A float typed array, viewed in place.
struct FloatArray {
  napi_typedarray_type type = napi_float32_array;
  size_t length = 0;
  void* data = nullptr;

  size_t elementSize() const { return type == napi_float64_array ? 8 : 4; }
  const char* typeName() const { return typedArrayName(type); }
  uintptr_t begin() const { return reinterpret_cast<uintptr_t>(data); }
  uintptr_t end() const { return begin() + length * elementSize(); }
};

// The float typed array in `value` (an argument, or an element of an array
// argument): false, without throwing, when it is not one.
bool floatArrayOf(Napi::Env env, Napi::Value value, FloatArray* out) {
  if (!value.IsTypedArray()) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t byteOffset = 0;
  // data already points at element 0 (the array's byteOffset is applied).
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, &byteOffset) != napi_ok ||
      (type != napi_float32_array && type != napi_float64_array)) {
    return false;
  }
  out->type = type;
  out->length = length;
  out->data = data;
  return true;
}

// A float typed array argument.
bool readFloatArray(const Args& a, size_t index, const char* name, FloatArray* out) {
  const Napi::Value value = a[index];
  if (floatArrayOf(a.env(), value, out)) return true;
  throwTypeError(a.env(), a.where(name) + " must be a Float32Array or Float64Array, got " +
                              describe(value));
  return false;
}

// Another array that must have the dtype of `like`.
bool readFloatArrayLike(const Args& a, size_t index, const char* name, const FloatArray& like,
                        const char* likeName, FloatArray* out) {
  const Napi::Value value = a[index];
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == like.type) {
    return readFloatArray(a, index, name, out);
  }
  throwTypeError(a.env(), a.where(name) + " must be a " + like.typeName() + " like " + likeName +
                              ", got " + describe(value));
  return false;
}

// array.length must equal `expected`, which the message names ("p.length",
// "rows * cols", "rows"); the message is only built when the check fails.
bool requireLength(const Args& a, const char* name, const FloatArray& array, size_t expected,
                   const char* expectedName) {
  if (array.length == expected) return true;
  throwRangeError(a.env(), a.where(name) + ".length must be " + expectedName + " = " +
                               std::to_string(expected) + ", got " +
                               std::to_string(array.length));
  return false;
}

// An array and its name, for the checks that go over several arrays.
struct NamedArray {
  const FloatArray& array;
  const char* name;
};

// Each of these arrays must have p's length (checked in the order given).
bool requireLengthsOfP(const Args& a, const FloatArray& p,
                       std::initializer_list<NamedArray> arrays) {
  for (const NamedArray& x : arrays) {
    if (!requireLength(a, x.name, x.array, p.length, "p.length")) return false;
  }
  return true;
}

bool readNumber(const Args& a, size_t index, const char* name, double* out) {
  const Napi::Value value = a[index];
  if (!value.IsNumber()) {
    throwTypeError(a.env(), a.where(name) + " must be a number, got " + describe(value));
    return false;
  }
  *out = value.As<Napi::Number>().DoubleValue();
  return true;
}

bool readCount(const Args& a, size_t index, const char* name, size_t* out) {
  double value = 0;
  if (!readNumber(a, index, name, &value)) return false;
  if (!(value >= 0 && value <= kMaxSafeInteger && std::trunc(value) == value) ||
      value > static_cast<double>(SIZE_MAX)) {
    throwRangeError(a.env(), a.where(name) + " must be a non-negative safe integer, got " +
                                 formatNumber(value));
    return false;
  }
  *out = static_cast<size_t>(value);
  return true;
}

bool readBool(const Args& a, size_t index, const char* name, bool* out) {
  const Napi::Value value = a[index];
  if (!value.IsBoolean()) {
    throwTypeError(a.env(), a.where(name) + " must be a boolean, got " + describe(value));
    return false;
  }
  *out = value.As<Napi::Boolean>().Value();
  return true;
}

// rows and cols of an N x D view, and their product.
bool readShape(const Args& a, size_t rowsIndex, size_t* rows, size_t* cols, size_t* count) {
  if (!readCount(a, rowsIndex, "rows", rows) || !readCount(a, rowsIndex + 1, "cols", cols)) {
    return false;
  }
  if (*cols != 0 && *rows > SIZE_MAX / *cols) {
    throwRangeError(a.env(), a.where("rows * cols") + " overflows: rows " + std::to_string(*rows) +
                                 ", cols " + std::to_string(*cols));
    return false;
  }
  *count = *rows * *cols;
  return true;
}

bool overlaps(const FloatArray& x, const FloatArray& y) {
  return x.length != 0 && y.length != 0 && x.begin() < y.end() && y.begin() < x.end();
}

// Kernels read and write elementwise in vector blocks; arrays that overlap
// would give results that depend on the ISA, so they are refused.
bool requireDisjoint(const Args& a, const FloatArray& x, const char* xName, const FloatArray& y,
                     const char* yName) {
  if (!overlaps(x, y)) return true;
  throwRangeError(a.env(), a.where(xName) + " and " + yName + " must not share memory");
  return false;
}

// Every pair of these arrays must be disjoint (an absent optional array is
// empty and overlaps nothing).
bool requireAllDisjoint(const Args& a, std::initializer_list<NamedArray> arrays) {
  for (auto x = arrays.begin(); x != arrays.end(); ++x) {
    for (auto y = x + 1; y != arrays.end(); ++y) {
      if (!requireDisjoint(a, x->array, x->name, y->array, y->name)) return false;
    }
  }
  return true;
}

// A state array that the options may make unnecessary: null or undefined
// counts as not given, which is refused when it is needed (`neededWhen` says
// when, for the message).
bool readPresence(const Args& a, size_t index, const char* name, const FloatArray& p, bool needed,
                  const char* neededWhen, bool* given) {
  const Napi::Value value = a[index];
  *given = !value.IsNull() && !value.IsUndefined();
  if (needed && !*given) {
    throwTypeError(a.env(), a.where(name) + " must be a " + p.typeName() + " like p when " +
                                neededWhen + ", got " + describe(value));
    return false;
  }
  return true;
}

// A state array like p of p's length, read only when given (needed or not).
bool readOptionalLikeP(const Args& a, size_t index, const char* name, const FloatArray& p,
                       bool given, FloatArray* out) {
  if (!given) return true;
  return readFloatArrayLike(a, index, name, p, "p", out) &&
         requireLength(a, name, *out, p.length, "p.length");
}

template <typename T>
T* elements(const FloatArray& array) {
  return static_cast<T*>(array.data);
}

// ---- the float32/float64 dispatch ----

// view(array): the array's data as T* (T = float or double).
template <typename T>
struct ElementsAs {
  T* operator()(const FloatArray& array) const { return elements<T>(array); }
};

// The one place that picks the element type: runs body(kernels, view) with the
// table's float kernels and ElementsAs<float> for a Float32Array, the double
// ones and ElementsAs<double> for a Float64Array. Every array passed through
// view must have the dtype of `array` (the argument checks ensure it).
template <typename Body>
void withKernels(const lp::KernelTable& table, const FloatArray& array, Body&& body) {
  if (array.type == napi_float32_array) {
    body(table.f32, ElementsAs<float>{});
  } else {
    body(table.f64, ElementsAs<double>{});
  }
}

// Runs body(rowBegin, rowEnd) over rows [0, rows): in shares on the worker
// pool for large arrays (lp::runRowShares), for the row kernels whose rows
// are computed each on its own.
template <typename Body>
void forRowShares(size_t rows, size_t cols, const Body& body) {
  lp::ThreadPool& pool = lp::ThreadPool::shared();
  lp::runRowShares(
      rows, cols, &pool, pool.threads(),
      [](void* context, size_t rowBegin, size_t rowEnd) {
        (*static_cast<const Body*>(context))(rowBegin, rowEnd);
      },
      const_cast<Body*>(&body));
}

// body(begin, end) over elements [0, n) of an elementwise kernel, in shares
// as forRowShares (each element a row of its own: the same bits).
template <typename Body>
void forElementShares(size_t n, const Body& body) {
  forRowShares(n, 1, body);
}

// A Float64Array argument (a spec, or per-row radii).
bool readFloat64Array(const Args& a, size_t index, const char* name, FloatArray* out) {
  const Napi::Value value = a[index];
  if (floatArrayOf(a.env(), value, out) && out->type == napi_float64_array) return true;
  throwTypeError(a.env(), a.where(name) + " must be a Float64Array, got " + describe(value));
  return false;
}

// Per-row radii: each >= 0 (Infinity allowed), not NaN.
bool requireValidMaxNorms(const Args& a, const std::string& name, const FloatArray& maxNorms) {
  const double* values = elements<double>(maxNorms);
  for (size_t r = 0; r < maxNorms.length; ++r) {
    const double value = values[r];  // read once: the memory may be shared
    if (!lp::validMaxNorm(value)) {
      throwRangeError(a.env(), a.where(name) + "[" + std::to_string(r) +
                                   "] must be >= 0 (Infinity allowed), got " + formatNumber(value));
      return false;
    }
  }
  return true;
}

// An integer from 1 to ThreadPool::kMaxThreads.
bool readThreadCount(const Args& a, size_t index, const char* name, size_t* out) {
  double value = 0;
  if (!readNumber(a, index, name, &value)) return false;
  if (!(value >= 1 && value <= static_cast<double>(lp::ThreadPool::kMaxThreads) &&
        std::trunc(value) == value)) {
    throwRangeError(a.env(), a.where(name) + " must be an integer from 1 to " +
                                 std::to_string(lp::ThreadPool::kMaxThreads) + ", got " +
                                 formatNumber(value));
    return false;
  }
  *out = static_cast<size_t>(value);
  return true;
}

// ---- groupStep's arguments ----

const char* const kSlotNames[lp::kArraysPerTensor] = {"p", "g", "buf0", "buf1", "buf2",
                                                      "maxNorms"};

// A group step, read and checked: the options and the tensors.
struct GroupStepArgs {
  lp::FusedGroup group{};
  std::vector<lp::GroupTensor> tensors;
};

std::string slotName(const lp::BufferNeeds& needs, int slot) {
  if (slot >= lp::kSlotBuf0 && slot <= lp::kSlotBuf2 && needs.name[slot - lp::kSlotBuf0] != nullptr) {
    return std::string(kSlotNames[slot]) + " (" + needs.name[slot - lp::kSlotBuf0] + ")";
  }
  return kSlotNames[slot];
}

// "arrays[7] (tensor 1 g)"
std::string arrayLabel(size_t tensor, int slot, const lp::BufferNeeds& needs) {
  return "arrays[" + std::to_string(tensor * lp::kArraysPerTensor + static_cast<size_t>(slot)) +
         "] (tensor " + std::to_string(tensor) + " " + slotName(needs, slot) + ")";
}

// spec and tensorSpec at arguments 0 and 1, then the arrays: an Array at
// argument 2 or, where `spread` allows it (groupStep), the same entries as
// arguments 2, 3, ... (an argument costs nothing to read; an Array element is
// a property lookup, about 60 ns, which was most of a small tensor's cost).
bool readGroupStep(const Args& a, GroupStepArgs* out, bool spread) {
  Napi::Env env = a.env();
  FloatArray spec, tensorSpec;
  if (!readFloat64Array(a, 0, "spec", &spec) || !readFloat64Array(a, 1, "tensorSpec", &tensorSpec)) {
    return false;
  }
  const Napi::Value arraysValue = a[2];
  const bool isArray = arraysValue.IsArray();
  const bool asArguments = spread && !isArray;
  if (!asArguments && !isArray) {
    throwTypeError(env, a.where("arrays") +
                            " must be an Array of 6 entries per tensor (p, g, buf0, buf1, buf2, "
                            "maxNorms), got " + describe(arraysValue));
    return false;
  }

  // The spec, copied first (a shared buffer could change under the checks).
  double specCopy[32];
  const size_t specLength = spec.length;
  const size_t copied = specLength < 32 ? specLength : 32;
  for (size_t i = 0; i < copied; ++i) specCopy[i] = elements<double>(spec)[i];
  lp::SpecProblem problem{};
  if (!lp::parseGroupSpec(specCopy, specLength, &out->group, &problem)) {
    if (problem.kind == lp::SpecProblem::kLength) {
      if (problem.expectedLength == lp::kSpecHeaderLength) {
        throwRangeError(env, a.where("spec.length") + " must be at least " +
                                 std::to_string(lp::kSpecHeaderLength) + ", got " +
                                 std::to_string(specLength));
      } else {
        throwRangeError(env, a.where("spec.length") + " must be " +
                                 std::to_string(problem.expectedLength) + " for inner " +
                                 formatNumber(specCopy[2]) + " (" +
                                 lp::innerName(static_cast<lp::FusedInner>(static_cast<int>(specCopy[2]))) +
                                 "), got " + std::to_string(specLength));
      }
    } else {
      throwRangeError(env, a.where("spec[" + std::to_string(problem.index) + "]") + " (" +
                               problem.name + ") " + problem.rule + ", got " +
                               formatNumber(specCopy[problem.index]));
    }
    return false;
  }
  const lp::FusedGroup& group = out->group;
  const lp::BufferNeeds needs = lp::groupBufferNeeds(group);

  if (tensorSpec.length % lp::kTensorSpecStride != 0) {
    throwRangeError(env, a.where("tensorSpec.length") +
                             " must be a multiple of 4 (rows, cols, s0, s1 per tensor), got " +
                             std::to_string(tensorSpec.length));
    return false;
  }
  const size_t count = tensorSpec.length / lp::kTensorSpecStride;
  const size_t listed = asArguments ? a.length() - 2
                                    : static_cast<size_t>(arraysValue.As<Napi::Array>().Length());
  if (listed != count * lp::kArraysPerTensor) {
    throwRangeError(env, a.where(asArguments ? "the arrays after tensorSpec" : "arrays.length") +
                             " must be 6 * tensors = " +
                             std::to_string(count * lp::kArraysPerTensor) + " (tensorSpec has " +
                             std::to_string(count) + " tensors), got " + std::to_string(listed));
    return false;
  }

  // Every entry first: a getter on the Array may run JS (and, say, detach a
  // buffer), so no typed array is looked into before the last one is read.
  std::vector<Napi::Value> values(count * lp::kArraysPerTensor);
  if (asArguments) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = a[2 + i];
  } else {
    const Napi::Array arrays = arraysValue.As<Napi::Array>();
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] = arrays.Get(static_cast<uint32_t>(i));
      if (env.IsExceptionPending()) return false;  // a getter threw
    }
  }

  out->tensors.resize(count);
  std::vector<lp::MemorySpan> written, read;
  written.reserve(count * 5);
  for (size_t t = 0; t < count; ++t) {
    double record[lp::kTensorSpecStride];
    for (size_t k = 0; k < lp::kTensorSpecStride; ++k) {
      record[k] = elements<double>(tensorSpec)[t * lp::kTensorSpecStride + k];
    }
    lp::TensorShape shape{};
    if (!lp::parseTensorRecord(group, record, SIZE_MAX, &shape, &problem)) {
      if (problem.kind == lp::SpecProblem::kTooLarge) {
        throwRangeError(env, a.where("tensor " + std::to_string(t)) +
                                 ": rows * cols overflows: rows " + formatNumber(record[0]) +
                                 ", cols " + formatNumber(record[1]));
      } else {
        const size_t entry = t * lp::kTensorSpecStride + problem.index;
        throwRangeError(env, a.where("tensorSpec[" + std::to_string(entry) + "]") + " (tensor " +
                                 std::to_string(t) + " " + problem.name + ") " +
                                 problem.rule + ", got " + formatNumber(record[problem.index]));
      }
      return false;
    }

    lp::GroupTensor& tensor = out->tensors[t];
    tensor = lp::GroupTensor{false, nullptr, nullptr, {nullptr, nullptr, nullptr}, nullptr,
                             shape.rows, shape.cols, record[2], record[3]};
    FloatArray p;
    for (int slot = 0; slot < static_cast<int>(lp::kArraysPerTensor); ++slot) {
      const Napi::Value value = values[t * lp::kArraysPerTensor + static_cast<size_t>(slot)];
      const napi_valuetype type = value.Type();  // one call, not IsNull and IsUndefined
      const bool given = type != napi_null && type != napi_undefined;
      const bool isBuffer = slot >= lp::kSlotBuf0 && slot <= lp::kSlotBuf2;
      const bool needed = slot == lp::kSlotP || slot == lp::kSlotG ||
                          (isBuffer && needs.needed[slot - lp::kSlotBuf0]);
      if (!given && !needed) continue;
      FloatArray array;
      const bool isFloat = floatArrayOf(env, value, &array);
      if (slot == lp::kSlotMaxNorms) {
        if (!isFloat || array.type != napi_float64_array) {
          throwTypeError(env, a.where(arrayLabel(t, slot, needs)) +
                                  " must be a Float64Array or null, got " + describe(value));
          return false;
        }
        if (array.length != shape.rows) {
          throwRangeError(env, a.where(arrayLabel(t, slot, needs)) +
                                   ".length must be rows = " + std::to_string(shape.rows) +
                                   ", got " + std::to_string(array.length));
          return false;
        }
        if (!requireValidMaxNorms(a, arrayLabel(t, slot, needs), array)) return false;
        tensor.maxNorms = elements<double>(array);
        read.push_back(lp::MemorySpan{array.begin(), array.end(), static_cast<uint32_t>(t),
                                      static_cast<uint32_t>(slot)});
        continue;
      }
      if (slot == lp::kSlotP) {
        if (!isFloat) {
          throwTypeError(env, a.where(arrayLabel(t, slot, needs)) +
                                  " must be a Float32Array or Float64Array, got " + describe(value));
          return false;
        }
        p = array;
        tensor.f64 = array.type == napi_float64_array;
      } else if (!isFloat || array.type != p.type) {
        // Why a buffer is needed ("when momentum != 0"); a given buffer that
        // is not needed must still be an array like p.
        std::string when;
        if (isBuffer && needed && needs.when[slot - lp::kSlotBuf0] != nullptr) {
          when = std::string(" when ") + needs.when[slot - lp::kSlotBuf0];
        }
        throwTypeError(env, a.where(arrayLabel(t, slot, needs)) +
                                " must be a " + p.typeName() + " like p" + when + ", got " +
                                describe(value));
        return false;
      }
      if (array.length != shape.count) {
        throwRangeError(env, a.where(arrayLabel(t, slot, needs)) +
                                 ".length must be rows * cols = " + std::to_string(shape.count) +
                                 ", got " + std::to_string(array.length));
        return false;
      }
      written.push_back(lp::MemorySpan{array.begin(), array.end(), static_cast<uint32_t>(t),
                                       static_cast<uint32_t>(slot)});
      if (slot == lp::kSlotP) tensor.p = array.data;
      if (slot == lp::kSlotG) tensor.g = array.data;
      // A buffer the options do not use is checked but not passed on.
      if (isBuffer && needed) tensor.buf[slot - lp::kSlotBuf0] = array.data;
    }
  }

  lp::MemorySpan first{}, second{};
  if (lp::findOverlap(written.data(), written.size(), read.data(), read.size(), &first, &second)) {
    throwRangeError(env, a.where(arrayLabel(first.tensor, static_cast<int>(first.slot), needs)) +
                             " and " +
                             arrayLabel(second.tensor, static_cast<int>(second.slot), needs) +
                             " must not share memory");
    return false;
  }
  return true;
}

// runBatchAsync's work: recorded kernel calls, checked on the JS thread, run
// in order on a libuv thread, holding a reference to every object argument
// (the typed arrays) until the callback has run.
class BatchWorker : public Napi::AsyncWorker {
 public:
  explicit BatchWorker(const Napi::Function& callback)
      : Napi::AsyncWorker(callback, "lp-optim:runBatchAsync") {}

  void add(std::function<void()> call) { calls_.push_back(std::move(call)); }
  void keep(const Napi::Object& object) { references_.push_back(Napi::Persistent(object)); }

  // On a libuv thread: no napi value may be touched here.
  void Execute() override {
    for (const std::function<void()>& call : calls_) call();
  }

  void OnOK() override { Callback().Call({Env().Null()}); }

 private:
  std::vector<std::function<void()>> calls_;
  std::vector<Napi::ObjectReference> references_;
};

// benchFloor's share of the arrays: chunk i of `chunks` equal contiguous parts.
struct FloorJob {
  const lp::KernelTable* table;
  float* p;
  float* g;
  size_t n;
  size_t chunks;
  double scale;
  double lr;

  static void runChunk(void* context, size_t i) {
    const FloorJob& job = *static_cast<const FloorJob*>(context);
    const size_t begin = job.n / job.chunks * i + (i < job.n % job.chunks ? i : job.n % job.chunks);
    const size_t size = job.n / job.chunks + (i < job.n % job.chunks ? 1 : 0);
    if (size != 0) job.table->f32.memoryFloor(job.p + begin, job.g + begin, size, job.scale, job.lr);
  }
};

// ---- the addon ----

// The kernels with a Read<Method> in LpOptimAddon, as X(Method, "name"): this
// one list makes each one's method, registers it under its name, and lets
// runBatchAsync find it by name (groupStep, read its own way, is added by hand).
#define LP_KERNELS(X)                          \
  X(RowNormsL2, "rowNormsL2")                  \
  X(NormalizeRowsL2, "normalizeRowsL2")        \
  X(RenormRowsL2, "renormRowsL2")              \
  X(ScaleBias, "scaleBias")                    \
  X(SgdStep, "sgdStep")                        \
  X(AdamStep, "adamStep")                      \
  X(RmspropStep, "rmspropStep")                \
  X(AdagradStep, "adagradStep")                \
  X(RenormRowsL2PerRow, "renormRowsL2PerRow")  \
  X(NormalizeRowsL1, "normalizeRowsL1")        \
  X(SignInPlace, "signInPlace")                \
  X(ClampInPlace, "clampInPlace")              \
  X(TopQRows, "topQRows")                      \
  X(TopQSignL1Rows, "topQSignL1Rows")          \
  X(L1LmoRows, "l1LmoRows")                    \
  X(FrankWolfeStep, "frankWolfeStep")

class LpOptimAddon : public Napi::Addon<LpOptimAddon> {
 public:
  LpOptimAddon(Napi::Env /*env*/, Napi::Object exports) : table_(&lp::bestKernelTable()) {
    DefineAddon(exports, {
                             InstanceMethod("version", &LpOptimAddon::Version),
                             InstanceMethod("isa", &LpOptimAddon::Isa),
                             InstanceMethod("compiledIsas", &LpOptimAddon::CompiledIsas),
                             InstanceMethod("supportedIsas", &LpOptimAddon::SupportedIsas),
                             InstanceMethod("setIsa", &LpOptimAddon::SetIsa),
#define LP_REGISTER(Method, name) InstanceMethod(name, &LpOptimAddon::Method),
                             LP_KERNELS(LP_REGISTER)
#undef LP_REGISTER
                             InstanceMethod("groupStep", &LpOptimAddon::GroupStep),
                             InstanceMethod("runBatchAsync", &LpOptimAddon::RunBatchAsync),
                             InstanceMethod("benchFloor", &LpOptimAddon::BenchFloor),
                             InstanceMethod("setNumThreads", &LpOptimAddon::SetNumThreads),
                             InstanceMethod("getNumThreads", &LpOptimAddon::GetNumThreads),
                             InstanceMethod("alignedByteOffset", &LpOptimAddon::AlignedByteOffset),
                         });
  }

 private:
  // The table in use by this instance (one per Node environment, so worker
  // threads choose independently).
  const lp::KernelTable* table_;

  Napi::Value Version(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), LP_OPTIM_VERSION);
  }

  Napi::Value Isa(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), table_->name);
  }

  // In order of preference (compiledKernelTables).
  Napi::Value IsaNames(Napi::Env env, bool supportedOnly) {
    size_t count = 0;
    const lp::KernelTable* const* tables = lp::compiledKernelTables(&count);
    Napi::Array names = Napi::Array::New(env);
    uint32_t next = 0;
    for (size_t i = 0; i < count; ++i) {
      if (supportedOnly && !lp::cpuSupports(*tables[i])) continue;
      names.Set(next++, Napi::String::New(env, tables[i]->name));
    }
    return names;
  }

  Napi::Value CompiledIsas(const Napi::CallbackInfo& info) { return IsaNames(info.Env(), false); }
  Napi::Value SupportedIsas(const Napi::CallbackInfo& info) { return IsaNames(info.Env(), true); }

  // setIsa(name: string): void
  Napi::Value SetIsa(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Napi::Value value = info[0];
    if (!value.IsString()) {
      throwTypeError(env, "setIsa: name must be a string, got " + describe(value));
      return env.Undefined();
    }
    std::string name = value.As<Napi::String>().Utf8Value();
    // A NUL would cut the C string short ("avx2\0x" must not select avx2).
    for (char& c : name) {
      if (c == '\0') c = '?';
    }
    const char* reason = nullptr;
    const lp::KernelTable* table = lp::findKernelTable(name.c_str(), &reason);
    if (table == nullptr) {
      Napi::Error::New(env, reason != nullptr ? reason : "unknown ISA").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    table_ = table;
    return env.Undefined();
  }

  // Each kernel below is a Read* function and a method. Read* checks the
  // arguments (throwing, and returning false, at the first wrong one) and
  // then hands the kernel call, with everything it needs captured by value,
  // to `emit`: the method runs it at once (RunNow), runBatchAsync keeps it
  // for its worker thread. So a call and a recorded call take the same checks.
  struct RunNow {
    template <typename Call>
    void operator()(Call&& call) const {
      call();
    }
  };

  // The kernels that take (array, rows, cols, number) and change the array's
  // rows in place: their arguments read and checked, then run(kernels,
  // elements, rows, cols, number) with the element type's kernels.
  template <typename Run, typename Emit>
  bool ReadRowsWithNumber(const Args& a, const char* arrayName, const char* numberName, Run run,
                          Emit&& emit) const {
    FloatArray x;
    size_t rows = 0, cols = 0, count = 0;
    double number = 0;
    if (!readFloatArray(a, 0, arrayName, &x) || !readShape(a, 1, &rows, &cols, &count) ||
        !readNumber(a, 3, numberName, &number) ||
        !requireLength(a, arrayName, x, count, "rows * cols")) {
      return false;
    }
    if (count != 0) {
      emit([table = table_, x, rows, cols, number, run] {
        withKernels(*table, x, [&](const auto& kernels, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            run(kernels, view(x) + begin * cols, end - begin, cols, number);
          });
        });
      });
    }
    return true;
  }

  // rowNormsL2(x, rows, cols, out): out[r] = ||x[r]||_2
  template <typename Emit>
  bool ReadRowNormsL2(const Args& a, Emit&& emit) const {
    FloatArray x, out;
    size_t rows = 0, cols = 0, count = 0;
    if (!readFloatArray(a, 0, "x", &x) || !readShape(a, 1, &rows, &cols, &count) ||
        !readFloatArrayLike(a, 3, "out", x, "x", &out) ||
        !requireLength(a, "x", x, count, "rows * cols") ||
        !requireLength(a, "out", out, rows, "rows") || !requireDisjoint(a, x, "x", out, "out")) {
      return false;
    }
    if (rows != 0) {
      emit([table = table_, x, out, rows, cols] {
        withKernels(*table, x, [&](const auto& kernels, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            kernels.rowNormsL2(view(x) + begin * cols, end - begin, cols, view(out) + begin);
          });
        });
      });
    }
    return true;
  }

  // normalizeRowsL2(g, rows, cols, divByZeroEps): g[r] /= max(||g[r]||, eps)
  template <typename Emit>
  bool ReadNormalizeRowsL2(const Args& a, Emit&& emit) const {
    return ReadRowsWithNumber(
        a, "g", "divByZeroEps",
        [](const auto& kernels, auto* x, size_t rows, size_t cols, double number) {
          kernels.normalizeRowsL2(x, rows, cols, number);
        },
        emit);
  }

  // renormRowsL2(p, rows, cols, maxNorm): torch.renorm(p, 2, 0, maxNorm) in place
  template <typename Emit>
  bool ReadRenormRowsL2(const Args& a, Emit&& emit) const {
    return ReadRowsWithNumber(
        a, "p", "maxNorm",
        [](const auto& kernels, auto* x, size_t rows, size_t cols, double number) {
          kernels.renormRowsL2(x, rows, cols, number);
        },
        emit);
  }

  // scaleBias(g, scale, applyScale, bias, applyBias)
  template <typename Emit>
  bool ReadScaleBias(const Args& a, Emit&& emit) const {
    FloatArray g;
    double scale = 0, bias = 0;
    bool applyScale = false, applyBias = false;
    if (!readFloatArray(a, 0, "g", &g) || !readNumber(a, 1, "scale", &scale) ||
        !readBool(a, 2, "applyScale", &applyScale) || !readNumber(a, 3, "bias", &bias) ||
        !readBool(a, 4, "applyBias", &applyBias)) {
      return false;
    }
    if (g.length != 0) {
      emit([table = table_, g, scale, applyScale, bias, applyBias] {
        withKernels(*table, g, [&](const auto& kernels, auto view) {
          forElementShares(g.length, [&](size_t begin, size_t end) {
            kernels.scaleBias(view(g) + begin, end - begin, scale, applyScale, bias, applyBias);
          });
        });
      });
    }
    return true;
  }

  // sgdStep(p, g, buf, lr, momentum, dampening, weightDecay, nesterov,
  //         maximize, bufferInitialized); buf may be null unless momentum != 0
  template <typename Emit>
  bool ReadSgdStep(const Args& a, Emit&& emit) const {
    FloatArray p, g, buf;
    lp::SgdOptions o{};
    bool bufferInitialized = false;
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g)) return false;
    // buf (argument 2) is read after momentum, which decides whether it may be absent.
    if (!readNumber(a, 3, "lr", &o.lr) || !readNumber(a, 4, "momentum", &o.momentum) ||
        !readNumber(a, 5, "dampening", &o.dampening) ||
        !readNumber(a, 6, "weightDecay", &o.weightDecay) ||
        !readBool(a, 7, "nesterov", &o.nesterov) || !readBool(a, 8, "maximize", &o.maximize) ||
        !readBool(a, 9, "bufferInitialized", &bufferInitialized)) {
      return false;
    }
    const bool usesBuf = o.momentum != 0.0;  // the kernel's own test
    bool bufGiven = false;
    if (!readPresence(a, 2, "buf", p, usesBuf, "momentum != 0", &bufGiven) ||
        !requireLengthsOfP(a, p, {{g, "g"}}) ||
        !readOptionalLikeP(a, 2, "buf", p, bufGiven, &buf) ||
        !requireAllDisjoint(a, {{p, "p"}, {g, "g"}, {buf, "buf"}})) {
      return false;
    }
    if (p.length != 0) {
      emit([table = table_, p, g, buf, o, usesBuf, bufferInitialized] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          kernels.sgdStep(view(p), view(g), usesBuf ? view(buf) : nullptr, p.length, o,
                          bufferInitialized);
        });
      });
    }
    return true;
  }

  // adamStep(p, g, expAvg, expAvgSq, maxExpAvgSq, lr, beta1, beta2, eps,
  //          weightDecay, decoupledWeightDecay, amsgrad, maximize, stepSize,
  //          biasCorrection2Sqrt); maxExpAvgSq may be null unless amsgrad
  template <typename Emit>
  bool ReadAdamStep(const Args& a, Emit&& emit) const {
    FloatArray p, g, expAvg, expAvgSq, maxExpAvgSq;
    lp::AdamOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "expAvg", p, "p", &expAvg) ||
        !readFloatArrayLike(a, 3, "expAvgSq", p, "p", &expAvgSq)) {
      return false;
    }
    // maxExpAvgSq (argument 4) is read after amsgrad, which decides whether it may be absent.
    if (!readNumber(a, 5, "lr", &o.lr) || !readNumber(a, 6, "beta1", &o.beta1) ||
        !readNumber(a, 7, "beta2", &o.beta2) || !readNumber(a, 8, "eps", &o.eps) ||
        !readNumber(a, 9, "weightDecay", &o.weightDecay) ||
        !readBool(a, 10, "decoupledWeightDecay", &o.decoupledWeightDecay) ||
        !readBool(a, 11, "amsgrad", &o.amsgrad) || !readBool(a, 12, "maximize", &o.maximize) ||
        !readNumber(a, 13, "stepSize", &o.stepSize) ||
        !readNumber(a, 14, "biasCorrection2Sqrt", &o.biasCorrection2Sqrt)) {
      return false;
    }
    bool maxGiven = false;
    if (!readPresence(a, 4, "maxExpAvgSq", p, o.amsgrad, "amsgrad is true", &maxGiven) ||
        !requireLengthsOfP(a, p, {{g, "g"}, {expAvg, "expAvg"}, {expAvgSq, "expAvgSq"}}) ||
        !readOptionalLikeP(a, 4, "maxExpAvgSq", p, maxGiven, &maxExpAvgSq) ||
        !requireAllDisjoint(a, {{p, "p"},
                                {g, "g"},
                                {expAvg, "expAvg"},
                                {expAvgSq, "expAvgSq"},
                                {maxExpAvgSq, "maxExpAvgSq"}})) {
      return false;
    }
    if (p.length != 0) {
      emit([table = table_, p, g, expAvg, expAvgSq, maxExpAvgSq, o] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          kernels.adamStep(view(p), view(g), view(expAvg), view(expAvgSq),
                           o.amsgrad ? view(maxExpAvgSq) : nullptr, p.length, o);
        });
      });
    }
    return true;
  }

  // rmspropStep(p, g, squareAvg, gradAvg, momentumBuffer, lr, alpha, eps,
  //             weightDecay, momentum, centered, maximize); gradAvg may be
  //             null unless centered, momentumBuffer unless momentum > 0
  template <typename Emit>
  bool ReadRmspropStep(const Args& a, Emit&& emit) const {
    FloatArray p, g, squareAvg, gradAvg, momentumBuffer;
    lp::RmspropOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "squareAvg", p, "p", &squareAvg)) {
      return false;
    }
    // gradAvg and momentumBuffer (arguments 3, 4) are read after the options
    // that decide whether they may be absent.
    if (!readNumber(a, 5, "lr", &o.lr) || !readNumber(a, 6, "alpha", &o.alpha) ||
        !readNumber(a, 7, "eps", &o.eps) || !readNumber(a, 8, "weightDecay", &o.weightDecay) ||
        !readNumber(a, 9, "momentum", &o.momentum) || !readBool(a, 10, "centered", &o.centered) ||
        !readBool(a, 11, "maximize", &o.maximize)) {
      return false;
    }
    const bool usesBuffer = o.momentum > 0.0;  // the kernel's own test
    bool gradAvgGiven = false, bufferGiven = false;
    if (!readPresence(a, 3, "gradAvg", p, o.centered, "centered is true", &gradAvgGiven) ||
        !readPresence(a, 4, "momentumBuffer", p, usesBuffer, "momentum > 0", &bufferGiven) ||
        !requireLengthsOfP(a, p, {{g, "g"}, {squareAvg, "squareAvg"}}) ||
        !readOptionalLikeP(a, 3, "gradAvg", p, gradAvgGiven, &gradAvg) ||
        !readOptionalLikeP(a, 4, "momentumBuffer", p, bufferGiven, &momentumBuffer) ||
        !requireAllDisjoint(a, {{p, "p"},
                                {g, "g"},
                                {squareAvg, "squareAvg"},
                                {gradAvg, "gradAvg"},
                                {momentumBuffer, "momentumBuffer"}})) {
      return false;
    }
    if (p.length != 0) {
      emit([table = table_, p, g, squareAvg, gradAvg, momentumBuffer, o, usesBuffer] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          kernels.rmspropStep(view(p), view(g), view(squareAvg),
                              o.centered ? view(gradAvg) : nullptr,
                              usesBuffer ? view(momentumBuffer) : nullptr, p.length, o);
        });
      });
    }
    return true;
  }

  // adagradStep(p, g, sum, clr, weightDecay, eps, maximize)
  template <typename Emit>
  bool ReadAdagradStep(const Args& a, Emit&& emit) const {
    FloatArray p, g, sum;
    lp::AdagradOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "sum", p, "p", &sum) || !readNumber(a, 3, "clr", &o.clr) ||
        !readNumber(a, 4, "weightDecay", &o.weightDecay) || !readNumber(a, 5, "eps", &o.eps) ||
        !readBool(a, 6, "maximize", &o.maximize) ||
        !requireLengthsOfP(a, p, {{g, "g"}, {sum, "sum"}}) ||
        !requireAllDisjoint(a, {{p, "p"}, {g, "g"}, {sum, "sum"}})) {
      return false;
    }
    if (p.length != 0) {
      emit([table = table_, p, g, sum, o] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          kernels.adagradStep(view(p), view(g), view(sum), p.length, o);
        });
      });
    }
    return true;
  }

  // renormRowsL2PerRow(p, rows, cols, maxNorms): renormRowsL2 with row r's
  // radius maxNorms[r] (a Float64Array of length rows, each >= 0 or Infinity)
  template <typename Emit>
  bool ReadRenormRowsL2PerRow(const Args& a, Emit&& emit) const {
    FloatArray p, maxNorms;
    size_t rows = 0, cols = 0, count = 0;
    if (!readFloatArray(a, 0, "p", &p) || !readShape(a, 1, &rows, &cols, &count) ||
        !readFloat64Array(a, 3, "maxNorms", &maxNorms) ||
        !requireLength(a, "p", p, count, "rows * cols") ||
        !requireLength(a, "maxNorms", maxNorms, rows, "rows") ||
        !requireValidMaxNorms(a, "maxNorms", maxNorms) ||
        !requireDisjoint(a, p, "p", maxNorms, "maxNorms")) {
      return false;
    }
    if (count != 0) {
      // maxNorms is a Float64Array for either dtype of p.
      emit([table = table_, p, maxNorms, rows, cols] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            kernels.renormRowsL2PerRow(view(p) + begin * cols, end - begin, cols,
                                       elements<double>(maxNorms) + begin);
          });
        });
      });
    }
    return true;
  }

  // normalizeRowsL1(g, rows, cols, divByZeroEps): g[r] /= max(||g[r]||_1, eps)
  template <typename Emit>
  bool ReadNormalizeRowsL1(const Args& a, Emit&& emit) const {
    return ReadRowsWithNumber(
        a, "g", "divByZeroEps",
        [](const auto& kernels, auto* x, size_t rows, size_t cols, double number) {
          kernels.normalizeRowsL1(x, rows, cols, number);
        },
        emit);
  }

  // signInPlace(g): torch.sign in place (1, -1, or +0 for 0, -0 and NaN)
  template <typename Emit>
  bool ReadSignInPlace(const Args& a, Emit&& emit) const {
    FloatArray g;
    if (!readFloatArray(a, 0, "g", &g)) return false;
    if (g.length != 0) {
      emit([table = table_, g] {
        withKernels(*table, g, [&](const auto& kernels, auto view) {
          forElementShares(g.length, [&](size_t begin, size_t end) {
            kernels.signInPlace(view(g) + begin, end - begin);
          });
        });
      });
    }
    return true;
  }

  // clampInPlace(x, lo, hasLo, hi, hasHi): torch.clamp in place, either bound optional
  template <typename Emit>
  bool ReadClampInPlace(const Args& a, Emit&& emit) const {
    FloatArray x;
    double lo = 0, hi = 0;
    bool hasLo = false, hasHi = false;
    if (!readFloatArray(a, 0, "x", &x) || !readNumber(a, 1, "lo", &lo) ||
        !readBool(a, 2, "hasLo", &hasLo) || !readNumber(a, 3, "hi", &hi) ||
        !readBool(a, 4, "hasHi", &hasHi)) {
      return false;
    }
    if (x.length != 0) {
      emit([table = table_, x, lo, hasLo, hi, hasHi] {
        withKernels(*table, x, [&](const auto& kernels, auto view) {
          forElementShares(x.length, [&](size_t begin, size_t end) {
            kernels.clampInPlace(view(x) + begin, end - begin, lo, hasLo, hi, hasHi);
          });
        });
      });
    }
    return true;
  }

  // The selection kernels below (lp::topQRows, lp::topQSignL1Rows,
  // lp::l1LmoRows) are the same on every ISA: they take the element type
  // from withKernels, and top-q its table's bracket scan (same results).

  // topQRows(g, rows, cols, keep): per row, the keep entries of largest |g|
  // stay and the rest become +0 (keep may exceed cols: all stay)
  template <typename Emit>
  bool ReadTopQRows(const Args& a, Emit&& emit) const {
    FloatArray g;
    size_t rows = 0, cols = 0, count = 0, keep = 0;
    if (!readFloatArray(a, 0, "g", &g) || !readShape(a, 1, &rows, &cols, &count) ||
        !readCount(a, 3, "keep", &keep) || !requireLength(a, "g", g, count, "rows * cols")) {
      return false;
    }
    if (count != 0) {
      emit([table = table_, g, rows, cols, keep] {
        withKernels(*table, g, [&](const auto& kernels, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            lp::topQRows(view(g) + begin * cols, end - begin, cols, keep, kernels.listBracket);
          });
        });
      });
    }
    return true;
  }

  // topQSignL1Rows(g, rows, cols, keep, divByZeroEps): per row, topQRows,
  // then sign, then division by max(count of nonzero signs, divByZeroEps)
  template <typename Emit>
  bool ReadTopQSignL1Rows(const Args& a, Emit&& emit) const {
    FloatArray g;
    size_t rows = 0, cols = 0, count = 0, keep = 0;
    double divByZeroEps = 0;
    if (!readFloatArray(a, 0, "g", &g) || !readShape(a, 1, &rows, &cols, &count) ||
        !readCount(a, 3, "keep", &keep) || !readNumber(a, 4, "divByZeroEps", &divByZeroEps) ||
        !requireLength(a, "g", g, count, "rows * cols")) {
      return false;
    }
    if (count != 0) {
      emit([table = table_, g, rows, cols, keep, divByZeroEps] {
        withKernels(*table, g, [&](const auto& kernels, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            lp::topQSignL1Rows(view(g) + begin * cols, end - begin, cols, keep, divByZeroEps,
                               kernels.listBracket);
          });
        });
      });
    }
    return true;
  }

  // l1LmoRows(g, rows, cols): per row, sign(g) at the first entry of largest
  // |g| and g * 0 elsewhere (L1FrankWolfe's LMO)
  template <typename Emit>
  bool ReadL1LmoRows(const Args& a, Emit&& emit) const {
    FloatArray g;
    size_t rows = 0, cols = 0, count = 0;
    if (!readFloatArray(a, 0, "g", &g) || !readShape(a, 1, &rows, &cols, &count) ||
        !requireLength(a, "g", g, count, "rows * cols")) {
      return false;
    }
    if (count != 0) {
      emit([table = table_, g, rows, cols] {
        withKernels(*table, g, [&](const auto& /*kernels*/, auto view) {
          forRowShares(rows, cols, [&](size_t begin, size_t end) {
            lp::l1LmoRows(view(g) + begin * cols, end - begin, cols);
          });
        });
      });
    }
    return true;
  }

  // frankWolfeStep(p, g, alpha, lmoScale): p = (1 - alpha) p - (alpha lmoScale) g
  template <typename Emit>
  bool ReadFrankWolfeStep(const Args& a, Emit&& emit) const {
    FloatArray p, g;
    double alpha = 0, lmoScale = 0;
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readNumber(a, 2, "alpha", &alpha) || !readNumber(a, 3, "lmoScale", &lmoScale) ||
        !requireLengthsOfP(a, p, {{g, "g"}}) || !requireDisjoint(a, p, "p", g, "g")) {
      return false;
    }
    if (p.length != 0) {
      emit([table = table_, p, g, alpha, lmoScale] {
        withKernels(*table, p, [&](const auto& kernels, auto view) {
          kernels.frankWolfeStep(view(p), view(g), p.length, alpha, lmoScale);
        });
      });
    }
    return true;
  }

  // groupStep(spec, tensorSpec, arrays) or groupStep(spec, tensorSpec,
  // ...arrays): one fused step of a param group (see kernels/group_spec.h for
  // the layout), on the worker pool
  template <typename Emit>
  bool ReadGroupStep(const Args& a, Emit&& emit) const {
    auto args = std::make_shared<GroupStepArgs>();
    if (!readGroupStep(a, args.get(), true)) return false;
    emit([table = table_, args] {
      lp::ThreadPool& pool = lp::ThreadPool::shared();
      lp::runGroupStep(*table, args->group, args->tensors.data(), args->tensors.size(), &pool,
                       pool.threads());
    });
    return true;
  }

  // The methods: the Read* above with RunNow.
#define LP_KERNEL_METHOD(Method, name)                  \
  Napi::Value Method(const Napi::CallbackInfo& info) {  \
    Read##Method(Args(info, name), RunNow{});           \
    return info.Env().Undefined();                      \
  }
  LP_KERNELS(LP_KERNEL_METHOD)
#undef LP_KERNEL_METHOD

  // (Not through ReadGroupStep: the seed's step is one of these, and a
  // shared copy of the arguments would cost it an allocation.)
  Napi::Value GroupStep(const Napi::CallbackInfo& info) {
    const Args a{info, "groupStep"};
    GroupStepArgs args;
    if (!readGroupStep(a, &args, true)) return info.Env().Undefined();
    lp::ThreadPool& pool = lp::ThreadPool::shared();
    lp::runGroupStep(*table_, args.group, args.tensors.data(), args.tensors.size(), &pool,
                     pool.threads());
    return info.Env().Undefined();
  }

  // A recorded call of the kernel `name` (see RunBatchAsync), checked as the
  // kernel's method checks it: false after throwing, also when `name` is no
  // kernel's (`where` names the call).
  template <typename Emit>
  bool ReadRecorded(const std::string& name, const Args& a, const std::string& where,
                    Emit&& emit) const {
#define LP_RECORDED(Method, text) \
  if (name == text) return Read##Method(a, emit);
    LP_KERNELS(LP_RECORDED)
    LP_RECORDED(GroupStep, "groupStep")
#undef LP_RECORDED
    throwTypeError(a.env(), where + "[0] must be a kernel's name, got " +
                                describe(Napi::String::New(a.env(), name)));
    return false;
  }

  // runBatchAsync(calls, callback): calls is an Array of recorded kernel
  // calls, each an Array [name, ...arguments] as the kernel method takes them
  // (groupStep with its arrays spread). Every call is read and checked first,
  // throwing at the first wrong one with nothing run; then the calls run in
  // order off the JS thread, and callback(null) follows. (stepAsync's whole
  // step: the recorded kernel calls of every group it takes off the thread.)
  Napi::Value RunBatchAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "runBatchAsync"};
    const Napi::Value callsValue = info[0];
    const Napi::Value callback = info[1];
    if (!callsValue.IsArray()) {
      throwTypeError(env, a.where("calls") + " must be an Array, got " + describe(callsValue));
      return env.Undefined();
    }
    if (!callback.IsFunction()) {
      throwTypeError(env, a.where("callback") + " must be a function, got " + describe(callback));
      return env.Undefined();
    }
    // Every entry of every call first: a getter may run JS (and, say, detach
    // a buffer), so no typed array is looked into before the last is read.
    const Napi::Array callsArray = callsValue.As<Napi::Array>();
    const uint32_t count = callsArray.Length();
    std::vector<std::string> names(count);
    std::vector<std::vector<Napi::Value>> arguments(count);
    for (uint32_t i = 0; i < count; ++i) {
      const std::string where = "calls[" + std::to_string(i) + "]";
      const Napi::Value call = callsArray.Get(i);
      if (env.IsExceptionPending()) return env.Undefined();
      if (!call.IsArray()) {
        throwTypeError(env, a.where(where) + " must be an Array [name, ...arguments], got " +
                                describe(call));
        return env.Undefined();
      }
      const Napi::Array entries = call.As<Napi::Array>();
      const uint32_t length = entries.Length();
      if (length == 0 || length > (1u << 22)) {
        throwRangeError(env, a.where(where + ".length") + " must be from 1 to 4194304, got " +
                                 std::to_string(length));
        return env.Undefined();
      }
      const Napi::Value name = entries.Get(0u);
      if (env.IsExceptionPending()) return env.Undefined();
      if (!name.IsString()) {
        throwTypeError(env, a.where(where + "[0]") + " must be a kernel's name, got " + describe(name));
        return env.Undefined();
      }
      names[i] = name.As<Napi::String>().Utf8Value();
      arguments[i].resize(length - 1);
      for (uint32_t k = 1; k < length; ++k) {
        arguments[i][k - 1] = entries.Get(k);
        if (env.IsExceptionPending()) return env.Undefined();
      }
    }
    auto worker = std::make_unique<BatchWorker>(callback.As<Napi::Function>());
    for (uint32_t i = 0; i < count; ++i) {
      const std::string where = "runBatchAsync: calls[" + std::to_string(i) + "]";
      const std::string label = where + " (" + names[i] + ")";
      const Args call(env, label.c_str(), &arguments[i]);
      // A groupStep given its arrays as one Array would read that Array's
      // entries during the checks, after earlier calls were checked.
      if (names[i] == "groupStep" && call[2].IsArray()) {
        throwTypeError(env, call.where("arrays") + " must be spread as arguments in a batch, got an Array");
        return env.Undefined();
      }
      if (!ReadRecorded(names[i], call, where, [&](auto&& run) { worker->add(std::move(run)); })) {
        return env.Undefined();
      }
      for (const Napi::Value& value : arguments[i]) {
        if (value.IsObject()) worker->keep(value.As<Napi::Object>());
      }
    }
    worker.release()->Queue();
    return env.Undefined();
  }

  // benchFloor(p, g, scale, lr, threads): g *= scale; p -= lr * g over two
  // Float32Arrays, in `threads` equal contiguous parts on the pool (threads
  // from 1 to getNumThreads()): the memory floor of a step, for benchmarks
  Napi::Value BenchFloor(const Napi::CallbackInfo& info) {
    const Args a{info, "benchFloor"};
    Napi::Env env = info.Env();
    FloatArray p, g;
    double scale = 0, lr = 0;
    size_t threads = 0;
    for (size_t i = 0; i < 2; ++i) {
      const Napi::Value value = info[i];
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        throwTypeError(env, a.where(i == 0 ? "p" : "g") + " must be a Float32Array, got " +
                                describe(value));
        return env.Undefined();
      }
    }
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArray(a, 1, "g", &g) ||
        !readNumber(a, 2, "scale", &scale) || !readNumber(a, 3, "lr", &lr) ||
        !readThreadCount(a, 4, "threads", &threads) ||
        !requireLengthsOfP(a, p, {{g, "g"}}) || !requireDisjoint(a, p, "p", g, "g")) {
      return env.Undefined();
    }
    lp::ThreadPool& pool = lp::ThreadPool::shared();
    if (threads > pool.threads()) {
      throwRangeError(env, a.where("threads") + " must be at most getNumThreads() = " +
                               std::to_string(pool.threads()) + ", got " + std::to_string(threads));
      return env.Undefined();
    }
    FloorJob job{table_, elements<float>(p), elements<float>(g), p.length, threads, scale, lr};
    pool.run(threads, threads, &FloorJob::runChunk, &job);
    return env.Undefined();
  }

  // setNumThreads(n): the pool's size (threads in all, the caller included),
  // an integer from 1 to 1024; process-wide, from the next step on
  Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
    const Args a{info, "setNumThreads"};
    size_t threads = 0;
    if (readThreadCount(a, 0, "n", &threads)) lp::ThreadPool::shared().setThreads(threads);
    return info.Env().Undefined();
  }

  Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(lp::ThreadPool::shared().threads()));
  }

  // alignedByteOffset(buffer, alignment): the bytes from an ArrayBuffer's
  // first byte to its first address that is a multiple of alignment (a power
  // of two up to 4096), so allocArray can place an array there. V8 never
  // moves an ArrayBuffer's memory, so the offset stays true.
  Napi::Value AlignedByteOffset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 2 || !info[0].IsArrayBuffer() || !info[1].IsNumber()) {
      throwTypeError(env, "alignedByteOffset: buffer must be an ArrayBuffer and alignment a number");
      return env.Undefined();
    }
    const double alignment = info[1].As<Napi::Number>().DoubleValue();
    if (!(alignment >= 1 && alignment <= 4096) || alignment != static_cast<double>(static_cast<size_t>(alignment)) ||
        (static_cast<size_t>(alignment) & (static_cast<size_t>(alignment) - 1)) != 0) {
      throwRangeError(env, "alignedByteOffset: alignment must be a power of two from 1 to 4096");
      return env.Undefined();
    }
    Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
    const size_t a = static_cast<size_t>(alignment);
    const auto address = reinterpret_cast<std::uintptr_t>(buffer.Data());
    const size_t offset = buffer.ByteLength() == 0 ? 0 : (a - address % a) % a;
    return Napi::Number::New(env, static_cast<double>(offset));
  }
};

#undef LP_KERNELS

}  // namespace

NODE_API_ADDON(LpOptimAddon)

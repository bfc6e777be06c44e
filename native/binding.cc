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
#include <initializer_list>
#include <string>

#include "kernels/kernels.h"

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

// The arguments of one call, with the function name for messages.
struct Args {
  const Napi::CallbackInfo& info;
  const char* function;

  Napi::Env env() const { return info.Env(); }
  std::string where(const char* name) const { return std::string(function) + ": " + name; }
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

bool readFloatArray(const Args& a, size_t index, const char* name, FloatArray* out) {
  const Napi::Value value = a.info[index];
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    size_t byteOffset = 0;
    // data already points at element 0 (the array's byteOffset is applied).
    const napi_status status =
        napi_get_typedarray_info(a.env(), value, &type, &length, &data, &buffer, &byteOffset);
    if (status == napi_ok && (type == napi_float32_array || type == napi_float64_array)) {
      out->type = type;
      out->length = length;
      out->data = data;
      return true;
    }
  }
  throwTypeError(a.env(), a.where(name) + " must be a Float32Array or Float64Array, got " +
                              describe(value));
  return false;
}

// Another array that must have the dtype of `like`.
bool readFloatArrayLike(const Args& a, size_t index, const char* name, const FloatArray& like,
                        const char* likeName, FloatArray* out) {
  const Napi::Value value = a.info[index];
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == like.type) {
    return readFloatArray(a, index, name, out);
  }
  throwTypeError(a.env(), a.where(name) + " must be a " + like.typeName() + " like " + likeName +
                              ", got " + describe(value));
  return false;
}

bool requireLength(const Args& a, const char* name, const FloatArray& array, size_t expected,
                   const std::string& expectedText) {
  if (array.length == expected) return true;
  throwRangeError(a.env(), a.where(name) + ".length must be " + expectedText + ", got " +
                               std::to_string(array.length));
  return false;
}

bool readNumber(const Args& a, size_t index, const char* name, double* out) {
  const Napi::Value value = a.info[index];
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
  const Napi::Value value = a.info[index];
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
  throwRangeError(a.env(), std::string(a.function) + ": " + xName + " and " + yName +
                               " must not share memory");
  return false;
}

// Every pair of these arrays must be disjoint (an absent optional array is
// empty and overlaps nothing).
struct NamedArray {
  const FloatArray& array;
  const char* name;
};

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
  const Napi::Value value = a.info[index];
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
         requireLength(a, name, *out, p.length, "p.length = " + std::to_string(p.length));
}

template <typename T>
T* elements(const FloatArray& array) {
  return static_cast<T*>(array.data);
}

// ---- the addon ----

class LpOptimAddon : public Napi::Addon<LpOptimAddon> {
 public:
  LpOptimAddon(Napi::Env /*env*/, Napi::Object exports) : table_(&lp::bestKernelTable()) {
    DefineAddon(exports, {
                             InstanceMethod("version", &LpOptimAddon::Version),
                             InstanceMethod("isa", &LpOptimAddon::Isa),
                             InstanceMethod("compiledIsas", &LpOptimAddon::CompiledIsas),
                             InstanceMethod("supportedIsas", &LpOptimAddon::SupportedIsas),
                             InstanceMethod("setIsa", &LpOptimAddon::SetIsa),
                             InstanceMethod("rowNormsL2", &LpOptimAddon::RowNormsL2),
                             InstanceMethod("normalizeRowsL2", &LpOptimAddon::NormalizeRowsL2),
                             InstanceMethod("renormRowsL2", &LpOptimAddon::RenormRowsL2),
                             InstanceMethod("scaleBias", &LpOptimAddon::ScaleBias),
                             InstanceMethod("sgdStep", &LpOptimAddon::SgdStep),
                             InstanceMethod("adamStep", &LpOptimAddon::AdamStep),
                             InstanceMethod("rmspropStep", &LpOptimAddon::RmspropStep),
                             InstanceMethod("adagradStep", &LpOptimAddon::AdagradStep),
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

  // Best first.
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

  // rowNormsL2(x, rows, cols, out): out[r] = ||x[r]||_2
  Napi::Value RowNormsL2(const Napi::CallbackInfo& info) {
    const Args a{info, "rowNormsL2"};
    FloatArray x, out;
    size_t rows = 0, cols = 0, count = 0;
    if (!readFloatArray(a, 0, "x", &x) || !readShape(a, 1, &rows, &cols, &count) ||
        !readFloatArrayLike(a, 3, "out", x, "x", &out) ||
        !requireLength(a, "x", x, count, "rows * cols = " + std::to_string(count)) ||
        !requireLength(a, "out", out, rows, "rows = " + std::to_string(rows)) ||
        !requireDisjoint(a, x, "x", out, "out")) {
      return info.Env().Undefined();
    }
    if (rows != 0) {
      if (x.type == napi_float32_array) {
        table_->f32.rowNormsL2(elements<float>(x), rows, cols, elements<float>(out));
      } else {
        table_->f64.rowNormsL2(elements<double>(x), rows, cols, elements<double>(out));
      }
    }
    return info.Env().Undefined();
  }

  // normalizeRowsL2(g, rows, cols, divByZeroEps): g[r] /= max(||g[r]||, eps)
  Napi::Value NormalizeRowsL2(const Napi::CallbackInfo& info) {
    const Args a{info, "normalizeRowsL2"};
    FloatArray g;
    size_t rows = 0, cols = 0, count = 0;
    double eps = 0;
    if (!readFloatArray(a, 0, "g", &g) || !readShape(a, 1, &rows, &cols, &count) ||
        !readNumber(a, 3, "divByZeroEps", &eps) ||
        !requireLength(a, "g", g, count, "rows * cols = " + std::to_string(count))) {
      return info.Env().Undefined();
    }
    if (count != 0) {
      if (g.type == napi_float32_array) {
        table_->f32.normalizeRowsL2(elements<float>(g), rows, cols, eps);
      } else {
        table_->f64.normalizeRowsL2(elements<double>(g), rows, cols, eps);
      }
    }
    return info.Env().Undefined();
  }

  // renormRowsL2(p, rows, cols, maxNorm): torch.renorm(p, 2, 0, maxNorm) in place
  Napi::Value RenormRowsL2(const Napi::CallbackInfo& info) {
    const Args a{info, "renormRowsL2"};
    FloatArray p;
    size_t rows = 0, cols = 0, count = 0;
    double maxNorm = 0;
    if (!readFloatArray(a, 0, "p", &p) || !readShape(a, 1, &rows, &cols, &count) ||
        !readNumber(a, 3, "maxNorm", &maxNorm) ||
        !requireLength(a, "p", p, count, "rows * cols = " + std::to_string(count))) {
      return info.Env().Undefined();
    }
    if (count != 0) {
      if (p.type == napi_float32_array) {
        table_->f32.renormRowsL2(elements<float>(p), rows, cols, maxNorm);
      } else {
        table_->f64.renormRowsL2(elements<double>(p), rows, cols, maxNorm);
      }
    }
    return info.Env().Undefined();
  }

  // scaleBias(g, scale, applyScale, bias, applyBias)
  Napi::Value ScaleBias(const Napi::CallbackInfo& info) {
    const Args a{info, "scaleBias"};
    FloatArray g;
    double scale = 0, bias = 0;
    bool applyScale = false, applyBias = false;
    if (!readFloatArray(a, 0, "g", &g) || !readNumber(a, 1, "scale", &scale) ||
        !readBool(a, 2, "applyScale", &applyScale) || !readNumber(a, 3, "bias", &bias) ||
        !readBool(a, 4, "applyBias", &applyBias)) {
      return info.Env().Undefined();
    }
    if (g.length != 0) {
      if (g.type == napi_float32_array) {
        table_->f32.scaleBias(elements<float>(g), g.length, scale, applyScale, bias, applyBias);
      } else {
        table_->f64.scaleBias(elements<double>(g), g.length, scale, applyScale, bias, applyBias);
      }
    }
    return info.Env().Undefined();
  }

  // sgdStep(p, g, buf, lr, momentum, dampening, weightDecay, nesterov,
  //         maximize, bufferInitialized)
  Napi::Value SgdStep(const Napi::CallbackInfo& info) {
    const Args a{info, "sgdStep"};
    Napi::Env env = info.Env();
    FloatArray p, g, buf;
    lp::SgdOptions o{};
    bool bufferInitialized = false;
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g)) {
      return env.Undefined();
    }
    // buf (argument 2) is read after momentum, which decides whether it may be absent.
    if (!readNumber(a, 3, "lr", &o.lr) || !readNumber(a, 4, "momentum", &o.momentum) ||
        !readNumber(a, 5, "dampening", &o.dampening) ||
        !readNumber(a, 6, "weightDecay", &o.weightDecay) ||
        !readBool(a, 7, "nesterov", &o.nesterov) || !readBool(a, 8, "maximize", &o.maximize) ||
        !readBool(a, 9, "bufferInitialized", &bufferInitialized)) {
      return env.Undefined();
    }
    const bool usesBuf = o.momentum != 0.0;  // the kernel's own test
    const Napi::Value bufValue = info[2];
    const bool bufGiven = !bufValue.IsNull() && !bufValue.IsUndefined();
    if (usesBuf && !bufGiven) {
      throwTypeError(env, "sgdStep: buf must be a " + std::string(p.typeName()) +
                              " like p when momentum != 0, got " + describe(bufValue));
      return env.Undefined();
    }
    const std::string lengthText = "p.length = " + std::to_string(p.length);
    if (!requireLength(a, "g", g, p.length, lengthText)) return env.Undefined();
    if (bufGiven && (!readFloatArrayLike(a, 2, "buf", p, "p", &buf) ||
                     !requireLength(a, "buf", buf, p.length, lengthText))) {
      return env.Undefined();
    }
    if (!requireDisjoint(a, p, "p", g, "g") ||
        (bufGiven && (!requireDisjoint(a, p, "p", buf, "buf") ||
                      !requireDisjoint(a, g, "g", buf, "buf")))) {
      return env.Undefined();
    }
    if (p.length != 0) {
      if (p.type == napi_float32_array) {
        table_->f32.sgdStep(elements<float>(p), elements<float>(g),
                            usesBuf ? elements<float>(buf) : nullptr, p.length, o,
                            bufferInitialized);
      } else {
        table_->f64.sgdStep(elements<double>(p), elements<double>(g),
                            usesBuf ? elements<double>(buf) : nullptr, p.length, o,
                            bufferInitialized);
      }
    }
    return env.Undefined();
  }

  // adamStep(p, g, expAvg, expAvgSq, maxExpAvgSq, lr, beta1, beta2, eps,
  //          weightDecay, decoupledWeightDecay, amsgrad, maximize, stepSize,
  //          biasCorrection2Sqrt); maxExpAvgSq may be null unless amsgrad
  Napi::Value AdamStep(const Napi::CallbackInfo& info) {
    const Args a{info, "adamStep"};
    Napi::Env env = info.Env();
    FloatArray p, g, expAvg, expAvgSq, maxExpAvgSq;
    lp::AdamOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "expAvg", p, "p", &expAvg) ||
        !readFloatArrayLike(a, 3, "expAvgSq", p, "p", &expAvgSq)) {
      return env.Undefined();
    }
    // maxExpAvgSq (argument 4) is read after amsgrad, which decides whether it may be absent.
    if (!readNumber(a, 5, "lr", &o.lr) || !readNumber(a, 6, "beta1", &o.beta1) ||
        !readNumber(a, 7, "beta2", &o.beta2) || !readNumber(a, 8, "eps", &o.eps) ||
        !readNumber(a, 9, "weightDecay", &o.weightDecay) ||
        !readBool(a, 10, "decoupledWeightDecay", &o.decoupledWeightDecay) ||
        !readBool(a, 11, "amsgrad", &o.amsgrad) || !readBool(a, 12, "maximize", &o.maximize) ||
        !readNumber(a, 13, "stepSize", &o.stepSize) ||
        !readNumber(a, 14, "biasCorrection2Sqrt", &o.biasCorrection2Sqrt)) {
      return env.Undefined();
    }
    bool maxGiven = false;
    if (!readPresence(a, 4, "maxExpAvgSq", p, o.amsgrad, "amsgrad is true", &maxGiven)) {
      return env.Undefined();
    }
    const std::string lengthText = "p.length = " + std::to_string(p.length);
    if (!requireLength(a, "g", g, p.length, lengthText) ||
        !requireLength(a, "expAvg", expAvg, p.length, lengthText) ||
        !requireLength(a, "expAvgSq", expAvgSq, p.length, lengthText) ||
        !readOptionalLikeP(a, 4, "maxExpAvgSq", p, maxGiven, &maxExpAvgSq) ||
        !requireAllDisjoint(a, {{p, "p"},
                                {g, "g"},
                                {expAvg, "expAvg"},
                                {expAvgSq, "expAvgSq"},
                                {maxExpAvgSq, "maxExpAvgSq"}})) {
      return env.Undefined();
    }
    if (p.length != 0) {
      if (p.type == napi_float32_array) {
        table_->f32.adamStep(elements<float>(p), elements<float>(g), elements<float>(expAvg),
                             elements<float>(expAvgSq),
                             o.amsgrad ? elements<float>(maxExpAvgSq) : nullptr, p.length, o);
      } else {
        table_->f64.adamStep(elements<double>(p), elements<double>(g), elements<double>(expAvg),
                             elements<double>(expAvgSq),
                             o.amsgrad ? elements<double>(maxExpAvgSq) : nullptr, p.length, o);
      }
    }
    return env.Undefined();
  }

  // rmspropStep(p, g, squareAvg, gradAvg, momentumBuffer, lr, alpha, eps,
  //             weightDecay, momentum, centered, maximize); gradAvg may be
  //             null unless centered, momentumBuffer unless momentum > 0
  Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
    const Args a{info, "rmspropStep"};
    Napi::Env env = info.Env();
    FloatArray p, g, squareAvg, gradAvg, momentumBuffer;
    lp::RmspropOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "squareAvg", p, "p", &squareAvg)) {
      return env.Undefined();
    }
    // gradAvg and momentumBuffer (arguments 3, 4) are read after the options
    // that decide whether they may be absent.
    if (!readNumber(a, 5, "lr", &o.lr) || !readNumber(a, 6, "alpha", &o.alpha) ||
        !readNumber(a, 7, "eps", &o.eps) || !readNumber(a, 8, "weightDecay", &o.weightDecay) ||
        !readNumber(a, 9, "momentum", &o.momentum) || !readBool(a, 10, "centered", &o.centered) ||
        !readBool(a, 11, "maximize", &o.maximize)) {
      return env.Undefined();
    }
    const bool usesBuffer = o.momentum > 0.0;  // the kernel's own test
    bool gradAvgGiven = false, bufferGiven = false;
    if (!readPresence(a, 3, "gradAvg", p, o.centered, "centered is true", &gradAvgGiven) ||
        !readPresence(a, 4, "momentumBuffer", p, usesBuffer, "momentum > 0", &bufferGiven)) {
      return env.Undefined();
    }
    const std::string lengthText = "p.length = " + std::to_string(p.length);
    if (!requireLength(a, "g", g, p.length, lengthText) ||
        !requireLength(a, "squareAvg", squareAvg, p.length, lengthText) ||
        !readOptionalLikeP(a, 3, "gradAvg", p, gradAvgGiven, &gradAvg) ||
        !readOptionalLikeP(a, 4, "momentumBuffer", p, bufferGiven, &momentumBuffer) ||
        !requireAllDisjoint(a, {{p, "p"},
                                {g, "g"},
                                {squareAvg, "squareAvg"},
                                {gradAvg, "gradAvg"},
                                {momentumBuffer, "momentumBuffer"}})) {
      return env.Undefined();
    }
    if (p.length != 0) {
      if (p.type == napi_float32_array) {
        table_->f32.rmspropStep(elements<float>(p), elements<float>(g), elements<float>(squareAvg),
                                o.centered ? elements<float>(gradAvg) : nullptr,
                                usesBuffer ? elements<float>(momentumBuffer) : nullptr, p.length,
                                o);
      } else {
        table_->f64.rmspropStep(elements<double>(p), elements<double>(g),
                                elements<double>(squareAvg),
                                o.centered ? elements<double>(gradAvg) : nullptr,
                                usesBuffer ? elements<double>(momentumBuffer) : nullptr, p.length,
                                o);
      }
    }
    return env.Undefined();
  }

  // adagradStep(p, g, sum, clr, weightDecay, eps, maximize)
  Napi::Value AdagradStep(const Napi::CallbackInfo& info) {
    const Args a{info, "adagradStep"};
    Napi::Env env = info.Env();
    FloatArray p, g, sum;
    lp::AdagradOptions o{};
    if (!readFloatArray(a, 0, "p", &p) || !readFloatArrayLike(a, 1, "g", p, "p", &g) ||
        !readFloatArrayLike(a, 2, "sum", p, "p", &sum) || !readNumber(a, 3, "clr", &o.clr) ||
        !readNumber(a, 4, "weightDecay", &o.weightDecay) || !readNumber(a, 5, "eps", &o.eps) ||
        !readBool(a, 6, "maximize", &o.maximize)) {
      return env.Undefined();
    }
    const std::string lengthText = "p.length = " + std::to_string(p.length);
    if (!requireLength(a, "g", g, p.length, lengthText) ||
        !requireLength(a, "sum", sum, p.length, lengthText) ||
        !requireAllDisjoint(a, {{p, "p"}, {g, "g"}, {sum, "sum"}})) {
      return env.Undefined();
    }
    if (p.length != 0) {
      if (p.type == napi_float32_array) {
        table_->f32.adagradStep(elements<float>(p), elements<float>(g), elements<float>(sum),
                                p.length, o);
      } else {
        table_->f64.adagradStep(elements<double>(p), elements<double>(g), elements<double>(sum),
                                p.length, o);
      }
    }
    return env.Undefined();
  }
};

}  // namespace

NODE_API_ADDON(LpOptimAddon)

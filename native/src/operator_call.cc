// One generic operator call: any ATen operator by schema name, through the c10 dispatcher's boxed API.
// Arguments are converted from JS by the operator's schema, with the schema's defaults filled in (a boxed call
// does not fill them), and every failure comes back as a JS Error naming the operator and the argument shapes.
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <ATen/core/jit_type.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace effnet {

namespace {


// The JS-facing kind of a schema argument, decided once per operator.
enum class ArgKind {
  Tensor, Int, Float, Bool, Scalar, String, Device, Generator,
  IntList, FloatList, BoolList, TensorList, OptionalTensorList, Unsupported
};

struct ArgSpec {
  std::string name;
  std::string typeName;
  ArgKind kind = ArgKind::Unsupported;
  bool optional = false;
  c10::optional<c10::IValue> defaultValue;
  int64_t fixedLength = -1;  // N of int[N], so that a single int can stand for the whole list
};

struct OperatorInfo {
  c10::OperatorHandle handle;
  std::string name;
  std::vector<ArgSpec> args;
  size_t numReturns;

  explicit OperatorInfo(c10::OperatorHandle h) : handle(std::move(h)), numReturns(0) {}
};

ArgKind kindOf(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return ArgKind::Tensor;
    case c10::TypeKind::IntType: return ArgKind::Int;
    case c10::TypeKind::SymIntType: return ArgKind::Int;
    case c10::TypeKind::FloatType: return ArgKind::Float;
    case c10::TypeKind::BoolType: return ArgKind::Bool;
    case c10::TypeKind::NumberType: return ArgKind::Scalar;
    case c10::TypeKind::StringType: return ArgKind::String;
    case c10::TypeKind::DeviceObjType: return ArgKind::Device;
    case c10::TypeKind::GeneratorType: return ArgKind::Generator;
    case c10::TypeKind::ListType: {
      const c10::TypePtr& element = type->castRaw<c10::ListType>()->getElementType();
      switch (element->kind()) {
        case c10::TypeKind::IntType: case c10::TypeKind::SymIntType: return ArgKind::IntList;
        case c10::TypeKind::FloatType: return ArgKind::FloatList;
        case c10::TypeKind::BoolType: return ArgKind::BoolList;
        case c10::TypeKind::TensorType: return ArgKind::TensorList;
        case c10::TypeKind::OptionalType:
          if (element->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::TensorType) {
            return ArgKind::OptionalTensorList;
          }
          return ArgKind::Unsupported;
        default: return ArgKind::Unsupported;
      }
    }
    default: return ArgKind::Unsupported;
  }
}

// Operators resolved so far, by name and by index; JS holds the index. The array never moves, so reading it
// needs no lock while another thread appends.
constexpr size_t kMaxOperators = 16384;
std::mutex registryMutex;
std::unordered_map<std::string, int32_t> registryByName;
OperatorInfo* registry[kMaxOperators] = {};
std::atomic<int32_t> registrySize{0};

// Operators sharing the base name of `qualified`, for an error that lists what does exist.
std::string overloadsOf(const std::string& baseName) {
  std::vector<std::string> names;
  for (const c10::OperatorName& op : c10::Dispatcher::singleton().getAllOpNames()) {
    if (op.name == baseName) names.push_back(op.overload_name.empty() ? op.name : op.name + "." + op.overload_name);
    if (names.size() >= 12) break;
  }
  return c10::Join(", ", names);
}

int32_t resolveOperator(Napi::Env env, const std::string& qualified) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto found = registryByName.find(qualified);
  if (found != registryByName.end()) return found->second;

  std::string name = qualified;
  std::string overload;
  size_t namespaceEnd = qualified.find("::");
  size_t dot = qualified.rfind('.');
  if (namespaceEnd == std::string::npos) {
    throwError(env, "unknown operator '" + qualified + "': operator names are qualified, e.g. 'aten::add.Tensor'");
  }
  if (dot != std::string::npos && dot > namespaceEnd) {
    name = qualified.substr(0, dot);
    overload = qualified.substr(dot + 1);
  }
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    std::string alternatives = overloadsOf(name);
    throwError(env, "unknown operator '" + qualified + "'" +
                        (alternatives.empty() ? std::string(": libtorch has no operator of that name")
                                              : std::string("; overloads that exist: ") + alternatives));
  }
  auto info = std::make_unique<OperatorInfo>(*handle);
  info->name = qualified;
  const c10::FunctionSchema& schema = handle->schema();
  for (const c10::Argument& argument : schema.arguments()) {
    ArgSpec spec;
    spec.name = argument.name();
    spec.typeName = argument.type()->str();
    c10::TypePtr type = argument.type();
    if (type->kind() == c10::TypeKind::OptionalType) {
      spec.optional = true;
      type = type->castRaw<c10::OptionalType>()->getElementType();
    }
    spec.kind = kindOf(type);
    spec.defaultValue = argument.default_value();
    if (argument.N()) spec.fixedLength = *argument.N();
    info->args.push_back(std::move(spec));
  }
  info->numReturns = schema.returns().size();
  int32_t index = registrySize.load();
  if (static_cast<size_t>(index) >= kMaxOperators) throwError(env, "too many distinct operators resolved");
  registry[index] = info.release();
  registryByName.emplace(qualified, index);
  registrySize.store(index + 1);
  return index;
}

OperatorInfo* unwrapOperator(Napi::Env env, napi_value value) {
  int32_t index = -1;
  if (napi_get_value_int32(env, value, &index) != napi_ok || index < 0 || index >= registrySize.load()) {
    throwError(env, "call(op, ...args): op must be a handle from findOperator()");
  }
  return registry[index];
}

// "aten::conv2d(input=float32[1, 3, 8, 8], weight=float32[4, 3, 3, 3], bias=None, ...)" for error messages.
std::string describeCall(Napi::Env env, const OperatorInfo& op, const Napi::CallbackInfo& info, size_t first) {
  std::ostringstream out;
  out << op.name << "(";
  size_t shown = std::max(op.args.size(), info.Length() - first);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out << ", ";
    out << (i < op.args.size() ? op.args[i].name : "extra") << "=";
    Napi::Value value = i + first < info.Length() ? info[i + first] : env.Undefined();
    bool tensorArg = i < op.args.size() && op.args[i].kind == ArgKind::Tensor;
    if (tensorArg && value.IsNumber()) {
      at::Tensor* tensor = findTensor(env, value);
      out << (tensor ? describeTensor(*tensor) : std::string("disposed tensor"));
    } else if (value.IsUndefined()) {
      out << (i < op.args.size() && op.args[i].defaultValue ? "default" : "undefined");
    } else if (value.IsArray()) {
      auto array = value.As<Napi::Array>();
      out << "[";
      for (uint32_t j = 0; j < array.Length(); ++j) {
        if (j > 0) out << ", ";
        Napi::Value element = array.Get(j);
        bool tensorList = i < op.args.size() && (op.args[i].kind == ArgKind::TensorList ||
                                                  op.args[i].kind == ArgKind::OptionalTensorList);
        if (tensorList && element.IsNumber()) {
          at::Tensor* tensor = findTensor(env, element);
          out << (tensor ? describeTensor(*tensor) : std::string("disposed tensor"));
        } else {
          out << describeValue(element);
        }
        if (j >= 8) { out << ", ..."; break; }
      }
      out << "]";
    } else if (value.IsNull()) {
      out << "None";
    } else {
      out << describeValue(value);
    }
  }
  out << ")";
  return out.str();
}

struct ConversionError {
  std::string message;
};


// 2^63: the first double outside int64 (casting it or anything larger is undefined behaviour).
constexpr double kInt64Limit = 9223372036854775808.0;

int64_t toInt(const Napi::Value& value, const ArgSpec& spec) {
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::floor(d) && d >= -kInt64Limit && d < kInt64Limit) return static_cast<int64_t>(d);
  } else if (value.IsBigInt()) {
    bool lossless = true;
    int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return v;
  } else if (value.IsBoolean()) {
    return value.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  throw ConversionError{"argument '" + spec.name + "' (" + spec.typeName + ") must be an integer in the int64 range, got " +
                        describeValue(value)};
}

c10::IValue toIValue(Napi::Env env, const Napi::Value& value, const ArgSpec& spec) {
  if (value.IsUndefined()) {
    if (spec.defaultValue) return *spec.defaultValue;
    if (spec.optional) return c10::IValue();
    throw ConversionError{"missing argument '" + spec.name + "' (" + spec.typeName + ")"};
  }
  if (value.IsNull()) {
    if (spec.optional) return c10::IValue();
    throw ConversionError{"argument '" + spec.name + "' (" + spec.typeName + ") cannot be null"};
  }
  switch (spec.kind) {
    case ArgKind::Tensor: {
      at::Tensor* tensor = findTensor(env, value);
      if (tensor != nullptr) return *tensor;
      if (value.IsNumber()) {
        throw ConversionError{"argument '" + spec.name + "' is a disposed tensor; keep() it or clone it before its scope ends"};
      }
      throw ConversionError{"argument '" + spec.name + "' must be a tensor, got " + describeValue(value)};
    }
    case ArgKind::Int:
      return toInt(value, spec);
    case ArgKind::Float:
      if (!value.IsNumber()) throw ConversionError{"argument '" + spec.name + "' (float) must be a number, got " + describeValue(value)};
      return value.As<Napi::Number>().DoubleValue();
    case ArgKind::Bool:
      if (!value.IsBoolean()) throw ConversionError{"argument '" + spec.name + "' (bool) must be a boolean, got " + describeValue(value)};
      return value.As<Napi::Boolean>().Value();
    case ArgKind::Scalar:
      if (value.IsBoolean()) return c10::Scalar(value.As<Napi::Boolean>().Value());
      if (value.IsNumber()) {
        double d = value.As<Napi::Number>().DoubleValue();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
          return c10::Scalar(static_cast<int64_t>(d));
        }
        return c10::Scalar(d);
      }
      if (value.IsBigInt()) {
        bool lossless = true;
        int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
        if (lossless) return c10::Scalar(v);
      }
      throw ConversionError{"argument '" + spec.name + "' (Scalar) must be a number, a BigInt in the int64 range or a boolean, got " + describeValue(value)};
    case ArgKind::String:
      if (!value.IsString()) throw ConversionError{"argument '" + spec.name + "' (str) must be a string"};
      return value.As<Napi::String>().Utf8Value();
    case ArgKind::Device:
      if (!value.IsString()) throw ConversionError{"argument '" + spec.name + "' (Device) must be a string such as 'cpu'"};
      return c10::Device(value.As<Napi::String>().Utf8Value());
    case ArgKind::Generator:
      throw ConversionError{"argument '" + spec.name + "' (Generator) is not supported; pass null and seed with manualSeed()"};
    case ArgKind::IntList: {
      c10::List<int64_t> list;
      if (value.IsNumber() && spec.fixedLength > 0) {
        int64_t v = toInt(value, spec);
        for (int64_t i = 0; i < spec.fixedLength; ++i) list.push_back(v);
        return list;
      }
      if (!value.IsArray()) throw ConversionError{"argument '" + spec.name + "' (" + spec.typeName + ") must be an array of integers"};
      auto array = value.As<Napi::Array>();
      uint32_t n = array.Length();
      if (spec.fixedLength > 1 && n == 1) {
        int64_t v = toInt(array.Get(0u), spec);
        for (int64_t i = 0; i < spec.fixedLength; ++i) list.push_back(v);
        return list;
      }
      list.reserve(n);
      for (uint32_t i = 0; i < n; ++i) list.push_back(toInt(array.Get(i), spec));
      return list;
    }
    case ArgKind::FloatList: {
      if (!value.IsArray()) throw ConversionError{"argument '" + spec.name + "' (float[]) must be an array of numbers"};
      auto array = value.As<Napi::Array>();
      c10::List<double> list;
      for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value element = array.Get(i);
        if (!element.IsNumber()) throw ConversionError{"argument '" + spec.name + "' (float[]) must be an array of numbers"};
        list.push_back(element.As<Napi::Number>().DoubleValue());
      }
      return list;
    }
    case ArgKind::BoolList: {
      if (!value.IsArray()) throw ConversionError{"argument '" + spec.name + "' (bool[]) must be an array of booleans"};
      auto array = value.As<Napi::Array>();
      c10::List<bool> list;
      for (uint32_t i = 0; i < array.Length(); ++i) list.push_back(array.Get(i).ToBoolean().Value());
      return list;
    }
    case ArgKind::TensorList:
    case ArgKind::OptionalTensorList: {
      if (!value.IsArray()) throw ConversionError{"argument '" + spec.name + "' (" + spec.typeName + ") must be an array of tensors"};
      auto array = value.As<Napi::Array>();
      ArgSpec element{spec.name + "[i]", "Tensor", ArgKind::Tensor, spec.kind == ArgKind::OptionalTensorList, c10::nullopt, -1};
      if (spec.kind == ArgKind::TensorList) {
        c10::List<at::Tensor> list;
        list.reserve(array.Length());
        for (uint32_t i = 0; i < array.Length(); ++i) {
          element.name = spec.name + "[" + std::to_string(i) + "]";
          list.push_back(toIValue(env, array.Get(i), element).toTensor());
        }
        return list;
      }
      c10::List<c10::optional<at::Tensor>> list;
      for (uint32_t i = 0; i < array.Length(); ++i) {
        element.name = spec.name + "[" + std::to_string(i) + "]";
        c10::IValue item = toIValue(env, array.Get(i), element);
        list.push_back(item.isNone() ? c10::optional<at::Tensor>() : c10::optional<at::Tensor>(item.toTensor()));
      }
      return list;
    }
    case ArgKind::Unsupported:
    default:
      throw ConversionError{"argument '" + spec.name + "' has type " + spec.typeName + ", which the binding cannot pass"};
  }
}

// The common plain-number, boolean and omitted arguments with one napi_typeof and no Napi wrappers; false sends
// the value down the general (validating) conversion.
bool pushFastScalar(napi_env env, napi_value raw, const ArgSpec& spec, torch::jit::Stack& stack) {
  napi_valuetype type;
  if (napi_typeof(env, raw, &type) != napi_ok) return false;
  if (type == napi_undefined) {
    if (!spec.defaultValue) return false;
    stack.push_back(*spec.defaultValue);
    return true;
  }
  if (type == napi_boolean) {
    if (spec.kind != ArgKind::Bool && spec.kind != ArgKind::Scalar) return false;
    bool flag = false;
    napi_get_value_bool(env, raw, &flag);
    if (spec.kind == ArgKind::Bool) stack.emplace_back(flag);
    else stack.emplace_back(c10::Scalar(flag));
    return true;
  }
  if (type != napi_number) return false;
  double d = 0;
  napi_get_value_double(env, raw, &d);
  bool integral = std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0;
  switch (spec.kind) {
    case ArgKind::Float:
      stack.emplace_back(d);
      return true;
    case ArgKind::Scalar:
      if (integral) stack.emplace_back(c10::Scalar(static_cast<int64_t>(d)));
      else stack.emplace_back(c10::Scalar(d));
      return true;
    case ArgKind::Int:
      if (!integral) return false;
      stack.emplace_back(static_cast<int64_t>(d));
      return true;
    default:
      return false;
  }
}

// Runs the operator; `keepOutputs` false drops the results (in-place updates whose output is the input).
Napi::Value invoke(const Napi::CallbackInfo& info, bool keepOutputs) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throwError(env, "call(op, ...args): missing operator handle");
  OperatorInfo* op = unwrapOperator(env, info[0]);
  size_t given = info.Length() - 1;
  if (given > op->args.size()) {
    throwError(env, describeCall(env, *op, info, 1) + ": too many arguments, " + std::to_string(given) +
                        " given for a schema of " + std::to_string(op->args.size()) + ": " +
                        c10::toString(op->handle.schema()));
  }
  // One stack per thread, reused: the hot path allocates nothing but the result's slot.
  thread_local torch::jit::Stack stack;
  stack.clear();
  try {
    for (size_t i = 0; i < op->args.size(); ++i) {
      const ArgSpec& spec = op->args[i];
      if (i < given) {
        napi_value raw = info[i + 1];
        if (spec.kind == ArgKind::Tensor) {
          if (at::Tensor* tensor = findTensor(env, raw)) {
            stack.emplace_back(*tensor);
            continue;
          }
        } else if (pushFastScalar(env, raw, spec, stack)) {
          continue;
        }
      } else if (spec.defaultValue) {
        stack.push_back(*spec.defaultValue);
        continue;
      }
      stack.push_back(toIValue(env, i < given ? info[i + 1] : env.Undefined(), spec));
    }
  } catch (const ConversionError& e) {
    throwError(env, describeCall(env, *op, info, 1) + ": " + e.message + "; schema: " + c10::toString(op->handle.schema()));
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throwError(env, describeCall(env, *op, info, 1) + ": " + errorMessage(e));
  }
  try {
    op->handle.callBoxed(&stack);
  } catch (const std::exception& e) {
    std::string message = errorMessage(e);
    stack.clear();
    throwError(env, describeCall(env, *op, info, 1) + ": " + message);
  }
  Napi::Value result = env.Undefined();
  if (keepOutputs) {
    if (stack.size() == 1) {
      c10::IValue& value = stack[0];
      result = value.isTensor() ? wrapTensor(env, std::move(value).toTensor()) : ivalueToJs(env, value);
    } else if (!stack.empty()) {
      auto array = Napi::Array::New(env, stack.size());
      for (size_t i = 0; i < stack.size(); ++i) array.Set(static_cast<uint32_t>(i), ivalueToJs(env, stack[i]));
      result = array;
    }
  }
  stack.clear();
  return result;
}

Napi::Value Call(const Napi::CallbackInfo& info) { return invoke(info, true); }
Napi::Value CallVoid(const Napi::CallbackInfo& info) { return invoke(info, false); }

// findOperator("aten::add.Tensor"): a handle with the schema conversions cached, for call().
Napi::Value FindOperator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwError(env, "findOperator(name) expects a name such as 'aten::add.Tensor'");
  return Napi::Number::New(env, resolveOperator(env, info[0].As<Napi::String>().Utf8Value()));
}

// operatorReturns(op): the schema's return types ("Tensor", "Tensor[]", "int", ...), so that JS knows which
// results are tensor handles.
Napi::Value OperatorReturns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OperatorInfo* op = unwrapOperator(env, info[0]);
  const auto& returns = op->handle.schema().returns();
  auto array = Napi::Array::New(env, returns.size());
  for (size_t i = 0; i < returns.size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::String::New(env, returns[i].type()->str()));
  return array;
}

// operatorArguments(op): the schema's argument types ("Tensor", "Tensor?", "int[2]", "Scalar", ...), in order, so
// that the generic JS call can tell tensor positions (which take handles) from number positions.
Napi::Value OperatorArguments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OperatorInfo* op = unwrapOperator(env, info[0]);
  auto array = Napi::Array::New(env, op->args.size());
  for (size_t i = 0; i < op->args.size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::String::New(env, op->args[i].typeName));
  return array;
}

// operatorSchema(op): the schema string, e.g. for documentation and error messages.
Napi::Value OperatorSchema(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OperatorInfo* op = unwrapOperator(env, info[0]);
  return Napi::String::New(env, c10::toString(op->handle.schema()));
}

}  // namespace

Napi::Value ivalueToJs(Napi::Env env, const c10::IValue& value) {
  if (value.isTensor()) return wrapTensor(env, value.toTensor());
  if (value.isNone()) return env.Null();
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isInt()) return Napi::Number::New(env, static_cast<double>(value.toInt()));
  if (value.isBool()) return Napi::Boolean::New(env, value.toBool());
  if (value.isString()) return Napi::String::New(env, value.toStringRef());
  if (value.isDevice()) return Napi::String::New(env, value.toDevice().str());
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    auto array = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) array.Set(static_cast<uint32_t>(i), ivalueToJs(env, elements[i]));
    return array;
  }
  if (value.isList()) {
    auto list = value.toListRef();
    auto array = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) array.Set(static_cast<uint32_t>(i), ivalueToJs(env, list[i]));
    return array;
  }
  throwError(env, "operator returned a value of type " + value.tagKind() + ", which the binding cannot pass to JS");
}

void registerOperatorFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("findOperator", Napi::Function::New(env, FindOperator, "findOperator"));
  exports.Set("operatorReturns", Napi::Function::New(env, OperatorReturns, "operatorReturns"));
  exports.Set("operatorArguments", Napi::Function::New(env, OperatorArguments, "operatorArguments"));
  exports.Set("operatorSchema", Napi::Function::New(env, OperatorSchema, "operatorSchema"));
  exports.Set("call", Napi::Function::New(env, Call, "call"));
  exports.Set("callVoid", Napi::Function::New(env, CallVoid, "callVoid"));
}

}  // namespace effnet

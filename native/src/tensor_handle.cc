// Tensor handles: creation from and copies back to typed arrays, metadata, disposal.
#include "common.h"

#include <ATen/Functions.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/function.h>

#include <cstring>

namespace effnet {

namespace {

// The typed-array element type that holds each dtype we exchange with JS.
napi_typedarray_type typedArrayTypeFor(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return napi_float32_array;
    case at::kDouble: return napi_float64_array;
    case at::kLong: return napi_bigint64_array;
    case at::kInt: return napi_int32_array;
    case at::kByte: return napi_uint8_array;
    case at::kBool: return napi_uint8_array;
    case at::kChar: return napi_int8_array;
    case at::kShort: return napi_int16_array;
    default: return napi_float32_array;
  }
}

std::vector<int64_t> readShape(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throwError(env, "tensor shape must be an array of non-negative integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value dim = array.Get(i);
    double d = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d))) {
      throwError(env, "tensor shape must be an array of non-negative integers; dimension " + std::to_string(i) +
                          " is " + describeValue(dim));
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

// fromTypedArray(data, shape, dtype?): a new CPU tensor holding a copy of data.
Napi::Value FromTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray()) {
    throwError(env, "fromTypedArray(data, shape, dtype?) expects a typed array and a shape");
  }
  auto data = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = readShape(env, info[1]);
  at::ScalarType type;
  switch (data.TypedArrayType()) {
    case napi_float32_array: type = at::kFloat; break;
    case napi_float64_array: type = at::kDouble; break;
    case napi_bigint64_array: type = at::kLong; break;
    case napi_int32_array: type = at::kInt; break;
    case napi_uint8_array: type = at::kByte; break;
    case napi_int8_array: type = at::kChar; break;
    case napi_int16_array: type = at::kShort; break;
    default:
      throwError(env, "fromTypedArray: unsupported typed array; use Float32Array, Float64Array, BigInt64Array, "
                      "Int32Array, Int16Array, Int8Array or Uint8Array");
  }
  if (info.Length() > 2 && info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "bool") {
    if (type != at::kByte) throwError(env, "fromTypedArray: a bool tensor is made from a Uint8Array of 0s and 1s");
    type = at::kBool;
  }
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (static_cast<size_t>(numel) != data.ElementLength()) {
    throwError(env, "fromTypedArray: shape [" + c10::Join(", ", shape) + "] holds " + std::to_string(numel) +
                        " elements but the typed array has " + std::to_string(data.ElementLength()));
  }
  try {
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(type));
    if (numel > 0) {
      const uint8_t* src = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
      std::memcpy(tensor.data_ptr(), src, data.ByteLength());
    }
    return wrapTensor(env, std::move(tensor));
  } catch (const std::exception& e) {
    throwError(env, "fromTypedArray: " + errorMessage(e));
  }
}

// toTypedArray(handle): a copy of the tensor's elements in row-major order.
Napi::Value ToTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "toTypedArray(tensor)");
  at::Tensor host;
  try {
    host = tensor.detach().to(at::kCPU).contiguous();
  } catch (const std::exception& e) {
    throwError(env, "toTypedArray(" + describeTensor(tensor) + "): " + errorMessage(e));
  }
  switch (host.scalar_type()) {
    case at::kFloat: case at::kDouble: case at::kLong: case at::kInt:
    case at::kByte: case at::kBool: case at::kChar: case at::kShort:
      break;
    default:
      throwError(env, "toTypedArray: dtype " + std::string(dtypeName(host.scalar_type())) +
                          " has no typed array; convert it first (e.g. to float32)");
  }
  size_t bytes = host.numel() * host.element_size();
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), host.data_ptr(), bytes);
  napi_value result;
  napi_status status = napi_create_typedarray(env, typedArrayTypeFor(host.scalar_type()), host.numel(), buffer, 0, &result);
  NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  return Napi::Value(env, result);
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "shape(tensor)");
  auto sizes = tensor.sizes();
  auto result = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) result.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(sizes[i])));
  return result;
}

Napi::Value Strides(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "strides(tensor)");
  auto strides = tensor.strides();
  auto result = Napi::Array::New(env, strides.size());
  for (size_t i = 0; i < strides.size(); ++i) result.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(strides[i])));
  return result;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "dtype(tensor)");
  return Napi::String::New(info.Env(), dtypeName(tensor.scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "device(tensor)");
  return Napi::String::New(info.Env(), tensor.device().str());
}

Napi::Value Numel(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "numel(tensor)");
  return Napi::Number::New(info.Env(), static_cast<double>(tensor.numel()));
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "requiresGrad(tensor)");
  return Napi::Boolean::New(info.Env(), tensor.requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "setRequiresGrad(tensor, flag)");
  bool flag = info[1].ToBoolean().Value();
  if (!flag && !tensor.is_leaf()) {
    // libtorch would silently keep requiring grad (a non-leaf requires grad through its grad_fn); PyTorch refuses.
    throwError(env, "setRequiresGrad(" + describeTensor(tensor) + ", false): only leaf tensors can change requiresGrad; "
                    "use detach() to get a tensor cut from the graph");
  }
  try {
    const_cast<at::Tensor&>(tensor).set_requires_grad(flag);
  } catch (const std::exception& e) {
    throwError(env, "setRequiresGrad(" + describeTensor(tensor) + "): " + errorMessage(e));
  }
  return env.Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "isLeaf(tensor)");
  return Napi::Boolean::New(info.Env(), tensor.is_leaf());
}

Napi::Value GradFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "gradFn(tensor)");
  auto node = tensor.grad_fn();
  if (!node) return env.Null();
  return Napi::String::New(env, node->name());
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrapTensor(info.Env(), info[0], "grad(tensor)");
  return wrapTensor(info.Env(), tensor.grad());
}

// setGrad(tensor, grad | null): replaces (or clears) the accumulated gradient of a leaf.
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& tensor = unwrapTensor(env, info[0], "setGrad(tensor, grad)");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    const_cast<at::Tensor&>(tensor).mutable_grad() = at::Tensor();
    return env.Undefined();
  }
  const at::Tensor& grad = unwrapTensor(env, info[1], "setGrad(tensor, grad)");
  if (!grad.sizes().equals(tensor.sizes()) || grad.scalar_type() != tensor.scalar_type()) {
    throwError(env, "setGrad: gradient " + describeTensor(grad) + " does not match tensor " + describeTensor(tensor));
  }
  const_cast<at::Tensor&>(tensor).mutable_grad() = grad;
  return env.Undefined();
}

// dispose(tensor): frees the tensor now; the slot may be reused by a later tensor.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unwrapTensor(env, info[0], "dispose(tensor)");
  tensorTable().release(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

// disposeAll(ids, count?): frees many tensors in one call, as a scope does when it ends (ids: an array, or the
// first `count` entries of an Int32Array). Unknown slots are skipped.
Napi::Value DisposeAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorTable& table = tensorTable();
  if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    // The fast form scopes use: one read of the ids, no per-element napi calls.
    auto ids = info[0].As<Napi::Int32Array>();
    size_t count = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : ids.ElementLength();
    count = std::min(count, ids.ElementLength());
    for (size_t i = 0; i < count; ++i) {
      if (table.find(ids[i]) != nullptr) table.release(ids[i]);
    }
    return env.Undefined();
  }
  if (!info[0].IsArray()) throwError(env, "disposeAll(handles) expects an array or Int32Array of tensor handles");
  auto array = info[0].As<Napi::Array>();
  for (uint32_t i = 0, n = array.Length(); i < n; ++i) {
    napi_value element;
    napi_get_element(env, array, i, &element);
    int32_t id = -1;
    if (napi_get_value_int32(env, element, &id) == napi_ok && table.find(id) != nullptr) table.release(id);
  }
  return env.Undefined();
}

// liveTensors(): how many tensors this thread's table holds, for leak tests.
Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(tensorTable().live()));
}

// sameTensor(a, b): whether two handles view the same tensor implementation.
Napi::Value SameTensor(const Napi::CallbackInfo& info) {
  const at::Tensor& a = unwrapTensor(info.Env(), info[0], "sameTensor(a, b)");
  const at::Tensor& b = unwrapTensor(info.Env(), info[1], "sameTensor(a, b)");
  return Napi::Boolean::New(info.Env(), a.is_same(b));
}

}  // namespace

int32_t TensorTable::put(at::Tensor tensor) {
  ++live_;
  if (!free_.empty()) {
    int32_t id = free_.back();
    free_.pop_back();
    slots_[id] = std::move(tensor);
    return id;
  }
  slots_.push_back(std::move(tensor));
  return static_cast<int32_t>(slots_.size() - 1);
}

at::Tensor* TensorTable::find(int64_t id) {
  if (id < 0 || id >= static_cast<int64_t>(slots_.size())) return nullptr;
  at::Tensor* tensor = &slots_[id];
  return tensor->defined() ? tensor : nullptr;
}

void TensorTable::release(int32_t id) {
  slots_[id].reset();
  free_.push_back(id);
  --live_;
}

TensorTable& tensorTable() {
  thread_local TensorTable table;
  return table;
}

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  return Napi::Number::New(env, tensorTable().put(std::move(tensor)));
}

at::Tensor* findTensor(napi_env env, napi_value value) {
  int32_t id = -1;
  if (napi_get_value_int32(env, value, &id) != napi_ok) return nullptr;
  return tensorTable().find(id);
}

const at::Tensor& unwrapTensor(Napi::Env env, const Napi::Value& value, const char* what) {
  at::Tensor* tensor = findTensor(env, value);
  if (tensor == nullptr) {
    if (value.IsNumber()) throwError(env, std::string(what) + ": the tensor was disposed; keep() it or clone it before its scope ends");
    throwError(env, std::string(what) + ": expected a tensor handle, got " +
                        (value.IsUndefined() ? std::string("undefined") : describeValue(value)));
  }
  return *tensor;
}

const char* dtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

void registerTensorFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("fromTypedArray", Napi::Function::New(env, FromTypedArray, "fromTypedArray"));
  exports.Set("toTypedArray", Napi::Function::New(env, ToTypedArray, "toTypedArray"));
  exports.Set("shape", Napi::Function::New(env, Shape, "shape"));
  exports.Set("strides", Napi::Function::New(env, Strides, "strides"));
  exports.Set("dtype", Napi::Function::New(env, Dtype, "dtype"));
  exports.Set("device", Napi::Function::New(env, Device, "device"));
  exports.Set("numel", Napi::Function::New(env, Numel, "numel"));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad, "requiresGrad"));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad, "setRequiresGrad"));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf, "isLeaf"));
  exports.Set("gradFn", Napi::Function::New(env, GradFn, "gradFn"));
  exports.Set("grad", Napi::Function::New(env, Grad, "grad"));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad, "setGrad"));
  exports.Set("dispose", Napi::Function::New(env, Dispose, "dispose"));
  exports.Set("disposeAll", Napi::Function::New(env, DisposeAll, "disposeAll"));
  exports.Set("liveTensors", Napi::Function::New(env, LiveTensors, "liveTensors"));
  exports.Set("sameTensor", Napi::Function::New(env, SameTensor, "sameTensor"));
}

}  // namespace effnet

// Shared declarations of the effnet libtorch binding.
// The binding owns no model logic: tensor handles, one generic boxed operator call, autograd, RNG and threads.
#pragma once

#include <napi.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace effnet {

// Tensors live in a per-thread table and JS holds their slot numbers. A number costs V8 no allocation and no
// finalizer, which keeps a tiny operator call cheap; the JS Tensor object is the single owner of its slot and
// releases it through dispose(). Each JS thread (main, worker) has its own table.
class TensorTable {
 public:
  int32_t put(at::Tensor tensor);
  // The tensor in slot `id`, or nullptr when there is none (never made, or released).
  at::Tensor* find(int64_t id);
  void release(int32_t id);
  size_t live() const { return live_; }

 private:
  std::vector<at::Tensor> slots_;
  std::vector<int32_t> free_;
  size_t live_ = 0;
};

TensorTable& tensorTable();

// Puts a tensor in the table and returns its slot as a JS number. An undefined tensor becomes null.
Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);

// The tensor behind a JS handle; throws a JS-facing error naming `what` when the value is not a live handle.
const at::Tensor& unwrapTensor(Napi::Env env, const Napi::Value& value, const char* what);

// The tensor behind a raw napi value, or nullptr when it is not a live handle (no exception; hot path).
at::Tensor* findTensor(napi_env env, napi_value value);

// A JS value as text for error messages; never throws (a Symbol, for one, has no string conversion).
std::string describeValue(const Napi::Value& value);

// "float32[2, 3]" style description of a tensor for error messages.
std::string describeTensor(const at::Tensor& tensor);

// Our dtype names ("float32", "int64", ...) to and from ATen scalar types.
const char* dtypeName(at::ScalarType type);

// Converts an ATen IValue returned by an operator to JS: tensors to handles, tuples and lists to arrays.
Napi::Value ivalueToJs(Napi::Env env, const c10::IValue& value);

// Throws a JS Error carrying `message` (as a C++ exception that node-addon-api turns into a JS throw).
[[noreturn]] void throwError(Napi::Env env, const std::string& message);

// The message of a c10::Error without the C++ backtrace libtorch appends to what().
std::string errorMessage(const std::exception& error);

void registerTensorFunctions(Napi::Env env, Napi::Object exports);
void registerOperatorFunctions(Napi::Env env, Napi::Object exports);
void registerAutogradFunctions(Napi::Env env, Napi::Object exports);
void registerDistributedFunctions(Napi::Env env, Napi::Object exports);
void registerDeviceFunctions(Napi::Env env, Napi::Object exports);

}  // namespace effnet

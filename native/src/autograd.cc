// Autograd, grad mode, random seed and thread settings.
#include "common.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

namespace effnet {

namespace {

// backward(tensor, grad | null, retainGraph): accumulates gradients into the leaves' .grad.
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& root = unwrapTensor(env, info[0], "backward(tensor)");
  at::Tensor grad;
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) grad = unwrapTensor(env, info[1], "backward(tensor, grad)");
  bool retainGraph = info.Length() > 2 && info[2].ToBoolean().Value();
  if (!root.requires_grad()) {
    throwError(env, "backward(" + describeTensor(root) +
                        "): the tensor does not require grad; was it computed under noGrad(), or from parameters "
                        "without requiresGrad?");
  }
  if (!grad.defined() && root.numel() != 1) {
    throwError(env, "backward(" + describeTensor(root) + "): a gradient is needed for a non-scalar output");
  }
  try {
    torch::autograd::backward({root}, grad.defined() ? torch::autograd::variable_list{grad} : torch::autograd::variable_list{},
                              retainGraph, false);
  } catch (const std::exception& e) {
    throwError(env, "backward(" + describeTensor(root) + "): " + errorMessage(e));
  }
  return env.Undefined();
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double seed = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(seed >= 0) || seed != static_cast<double>(static_cast<uint64_t>(seed))) {
    throwError(env, "manualSeed(seed) expects a non-negative integer");
  }
  at::manual_seed(static_cast<uint64_t>(seed));
  return env.Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 1) || n != static_cast<double>(static_cast<int>(n))) throwError(env, "setNumThreads(n) expects a positive integer");
  at::set_num_threads(static_cast<int>(n));
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

}  // namespace

void registerAutogradFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, Backward, "backward"));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled, "setGradEnabled"));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled, "isGradEnabled"));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed, "manualSeed"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("libtorchVersion", Napi::String::New(env, TORCH_VERSION));
}

}  // namespace effnet

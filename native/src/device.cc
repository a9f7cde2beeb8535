// Devices and mixed precision: how many CUDA devices the linked libtorch sees, the cuDNN/TF32 switches, and the
// autocast state. Everything here is a thin call into ATen's global or thread-local state; the policy (which device,
// when autocast is on) lives in TypeScript (src/torch/device.ts, src/torch/autocast.ts).
//
// CUDA is reached only through ATen's hooks, which libtorch_cuda registers when it is loaded (binding.gyp links it
// with --no-as-needed): with Debian's CPU libtorch the hooks answer "no CUDA" and the same code runs unchanged.
#include "common.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

namespace effnet {

namespace {

// libtorch 2.4 replaced the per-device autocast functions with ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define EFFNET_AUTOCAST_BY_DEVICE_TYPE 1
#endif

bool autocastEnabled(bool cuda) {
#ifdef EFFNET_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

at::ScalarType autocastDtype(bool cuda) {
#ifdef EFFNET_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void setAutocast(bool cuda, bool enabled, at::ScalarType dtype) {
#ifdef EFFNET_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
#else
  // The dtype first: libtorch refuses some (float16 on the CPU), and then nothing has changed.
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

bool isCudaDevice(Napi::Env env, const Napi::Value& value) {
  if (!value.IsString()) throwError(env, "autocast: the device type must be 'cpu' or 'cuda'");
  std::string type = value.As<Napi::String>().Utf8Value();
  if (type != "cpu" && type != "cuda") throwError(env, "autocast: the device type must be 'cpu' or 'cuda', got '" + type + "'");
  return type == "cuda";
}

at::ScalarType lowPrecisionType(Napi::Env env, const Napi::Value& value) {
  std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throwError(env, "autocast: the dtype must be 'bfloat16' or 'float16', got '" + describeValue(value) + "'");
}

// cudaDeviceCount(): the CUDA devices the linked libtorch can use (0 with a CPU build or without a driver).
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  int count = 0;
  try {
    count = at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  } catch (const std::exception&) {
    count = 0;  // a CUDA build on a machine without a usable driver
  }
  return Napi::Number::New(info.Env(), count);
}

// cudaBuilt(): whether the linked libtorch was built with CUDA (its CUDA library registered its hooks).
Napi::Value CudaBuilt(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::detail::getCUDAHooks().hasCUDART() || at::detail::getCUDAHooks().hasCUDA());
}

// setBackendFlags(cudnnBenchmark, allowTF32): cuDNN's algorithm search for fixed shapes, TF32 in cuDNN and cuBLAS.
Napi::Value SetBackendFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBoolean()) throwError(env, "setBackendFlags(cudnnBenchmark, allowTF32) expects two booleans");
  at::globalContext().setBenchmarkCuDNN(info[0].As<Napi::Boolean>().Value());
  bool tf32 = info[1].As<Napi::Boolean>().Value();
  at::globalContext().setAllowTF32CuDNN(tf32);
  at::globalContext().setAllowTF32CuBLAS(tf32);
  return env.Undefined();
}

// backendFlags(): { cudnnBenchmark, allowTF32CuDNN, allowTF32CuBLAS }.
Napi::Value BackendFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto flags = Napi::Object::New(env);
  flags.Set("cudnnBenchmark", at::globalContext().benchmarkCuDNN());
  flags.Set("allowTF32CuDNN", at::globalContext().allowTF32CuDNN());
  flags.Set("allowTF32CuBLAS", at::globalContext().allowTF32CuBLAS());
  return flags;
}

// autocastState(deviceType): { enabled, dtype } of this thread.
Napi::Value AutocastState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool cuda = isCudaDevice(env, info[0]);
  auto state = Napi::Object::New(env);
  state.Set("enabled", autocastEnabled(cuda));
  state.Set("dtype", dtypeName(autocastDtype(cuda)));
  return state;
}

// enterAutocast(deviceType, dtype): turns autocast on for this thread (it is thread-local, applied by the dispatcher
// to every operator call, boxed ones included); returns the previous state for exitAutocast.
Napi::Value EnterAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool cuda = isCudaDevice(env, info[0]);
  at::ScalarType dtype = lowPrecisionType(env, info[1]);
  auto previous = Napi::Object::New(env);
  previous.Set("enabled", autocastEnabled(cuda));
  previous.Set("dtype", dtypeName(autocastDtype(cuda)));
  try {
    setAutocast(cuda, true, dtype);
  } catch (const std::exception& e) {
    throwError(env, std::string("autocast(") + (cuda ? "cuda" : "cpu") + ", " + dtypeName(dtype) + "): " + errorMessage(e));
  }
  at::autocast::increment_nesting();
  return previous;
}

// exitAutocast(deviceType, enabled, dtype): restores the state enterAutocast returned; leaving the outermost region
// drops the cast copies of weights autocast cached (as torch.autocast's __exit__ does).
Napi::Value ExitAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool cuda = isCudaDevice(env, info[0]);
  if (info.Length() < 3 || !info[1].IsBoolean()) throwError(env, "exitAutocast(deviceType, enabled, dtype) expects the state enterAutocast returned");
  std::string dtype = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  at::ScalarType type = dtype == "float16" ? at::kHalf : dtype == "float32" ? at::kFloat : at::kBFloat16;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  setAutocast(cuda, info[1].As<Napi::Boolean>().Value(), type);
  return env.Undefined();
}

}  // namespace

void registerDeviceFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount, "cudaDeviceCount"));
  exports.Set("cudaBuilt", Napi::Function::New(env, CudaBuilt, "cudaBuilt"));
  exports.Set("setBackendFlags", Napi::Function::New(env, SetBackendFlags, "setBackendFlags"));
  exports.Set("backendFlags", Napi::Function::New(env, BackendFlags, "backendFlags"));
  exports.Set("autocastState", Napi::Function::New(env, AutocastState, "autocastState"));
  exports.Set("enterAutocast", Napi::Function::New(env, EnterAutocast, "enterAutocast"));
  exports.Set("exitAutocast", Napi::Function::New(env, ExitAutocast, "exitAutocast"));
}

}  // namespace effnet

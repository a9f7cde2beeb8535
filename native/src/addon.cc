// Entry point of the effnet libtorch binding.
#include "common.h"

namespace effnet {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  registerTensorFunctions(env, exports);
  registerOperatorFunctions(env, exports);
  registerAutogradFunctions(env, exports);
  return exports;
}

}  // namespace effnet

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return effnet::Init(env, exports); }

NODE_API_MODULE(effnet_torch, InitModule)

// Entry point of the effnet libtorch binding.
#include "common.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace effnet {

namespace {

// glibc returns freed blocks of 128 KiB and more to the OS (munmap, heap trimming) and maps them again on the next
// allocation, so every training or evaluation step pays page faults for its activation buffers. Raising the mmap and
// trim thresholds keeps those blocks in the heap for reuse, as PyTorch users do with MALLOC_MMAP_THRESHOLD_ /
// MALLOC_TRIM_THRESHOLD_ (docs/engine.md, "Memory allocator"). Skipped when the user set either variable, or
// EFFNET_MALLOC_TUNING=0.
void tuneMalloc() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* setting = std::getenv("EFFNET_MALLOC_TUNING");
    if (setting != nullptr && std::strcmp(setting, "0") == 0) return;
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) return;
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit)
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    // mallopt caps the mmap threshold at 32 MiB (the environment variable does not), and B0's activations at 224 px
    // are larger (a batch of 8 expanded to 96 x 112 x 112 is 38.5 MB): without this, every step maps and faults them
    // in again. No mmap at all: such blocks come from the heap too (a thread arena that cannot hold one falls back
    // to the main arena), as with MALLOC_MMAP_THRESHOLD_ set high.
    mallopt(M_MMAP_MAX, 0);
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tuneMalloc();
  registerTensorFunctions(env, exports);
  registerOperatorFunctions(env, exports);
  registerAutogradFunctions(env, exports);
  registerDistributedFunctions(env, exports);
  registerDeviceFunctions(env, exports);
  return exports;
}

}  // namespace effnet

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return effnet::Init(env, exports); }

NODE_API_MODULE(effnet_torch, InitModule)

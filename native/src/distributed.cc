// c10d process groups for the JS layer (src/dist/): a TCPStore rendezvous and a Gloo process group per handle, and
// the collectives data-parallel training needs (broadcast, allreduce, allgather, barrier). Every call that can
// block (the rendezvous, each collective's wait) returns a Promise and waits on a libuv worker thread, so that the
// JS thread keeps serving signals, timers and the progress bar while ranks exchange data. Collectives are enqueued
// on the JS thread in call order (Gloo needs every rank to issue them in the same order) and only waited for off it.
// No training logic here: bucketing, averaging and sync BN are TypeScript.
#include "common.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <ATen/ops/empty_like.h>
#include <torch/csrc/autograd/custom_function.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

namespace effnet {

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int rank;
  int size;
};

std::string where(const char* operation, const Group& group) {
  return std::string("c10d ") + operation + " (rank " + std::to_string(group.rank) + " of " + std::to_string(group.size) + ")";
}

// Process groups by handle. Changed on the JS thread only (creation is published from OnOK); the mutex is for the
// autograd engine, which may run a backward (the differentiable allreduce's) on a thread of its own.
std::map<int32_t, Group>& groups() {
  static std::map<int32_t, Group> table;
  return table;
}
std::mutex groupsMutex;
int32_t nextGroupId = 1;

// The group behind `id` for a backward pass; throws a C++ error when it was destroyed in between.
Group groupForBackward(int64_t id) {
  std::lock_guard<std::mutex> lock(groupsMutex);
  auto it = groups().find(static_cast<int32_t>(id));
  if (it == groups().end()) throw std::runtime_error("the process group was destroyed before the backward pass reached its allreduce");
  return it->second;
}

void allreduceSumNow(const Group& group, at::Tensor& tensor, const char* operation) {
  std::vector<at::Tensor> tensors{tensor};
  try {
    group.group->allreduce(tensors)->wait();
  } catch (const std::exception& error) {
    throw std::runtime_error(where(operation, group) + ": " + errorMessage(error));
  }
}

// y = Σ over ranks of x, differentiable: when every rank's loss uses y, the adjoint of rank r's x is the sum over
// ranks of their losses' gradients with respect to y, an allreduce of the incoming gradient. What sync batch norm's
// per-channel sums are built from (src/dist/sync-batchnorm.ts). Blocks the calling thread for the collective.
struct AllreduceSumFunction : public torch::autograd::Function<AllreduceSumFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, int64_t groupId) {
    ctx->saved_data["group"] = groupId;
    at::Tensor output = input.contiguous().clone();
    allreduceSumNow(groupForBackward(groupId), output, "differentiable allreduce");
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    at::Tensor grad = grads[0].contiguous().clone();
    allreduceSumNow(groupForBackward(ctx->saved_data["group"].toInt()), grad, "differentiable allreduce (backward)");
    return {grad, at::Tensor()};
  }
};

Group& findGroup(Napi::Env env, const Napi::Value& value) {
  if (!value.IsNumber()) throwError(env, "expected a process group handle, got " + describeValue(value));
  auto it = groups().find(value.As<Napi::Number>().Int32Value());
  if (it == groups().end()) throwError(env, "the process group was destroyed (or never created); create one with initProcessGroup()");
  return it->second;
}

// The dense tensor behind a JS handle (Gloo reads its memory as one block).
at::Tensor denseTensor(Napi::Env env, const Napi::Value& value, const char* what) {
  const at::Tensor& tensor = unwrapTensor(env, value, what);
  if (!tensor.is_non_overlapping_and_dense()) throwError(env, std::string(what) + ": " + describeTensor(tensor) + " is a strided view; call .contiguous() first");
  return tensor;
}

c10d::ReduceOp reduceOp(Napi::Env env, const Napi::Value& value) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "max") return c10d::ReduceOp::MAX;
  // Gloo refuses AVG in libtorch 1.13: the JS layer sums and divides.
  throwError(env, "unknown reduce operation " + describeValue(value) + "; choose one of sum, product, min, max");
}

// Rendezvous: rank 0 serves the TCPStore, every rank connects, then Gloo connects the full mesh. Blocks until every
// rank has joined or the timeout passes.
class CreateWorker : public Napi::AsyncWorker {
 public:
  CreateWorker(Napi::Env env, std::string host, int port, int rank, int size, int timeoutMs, std::string interface, std::string deviceHost, std::string prefix,
               bool serveStore)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), host_(std::move(host)), port_(port), rank_(rank), size_(size),
        timeoutMs_(timeoutMs), interface_(std::move(interface)), deviceHost_(std::move(deviceHost)), prefix_(std::move(prefix)), serveStore_(serveStore) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    const std::string context = "c10d rendezvous (rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " at " + host_ + ":" + std::to_string(port_) + ")";
    try {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(port_);
      // Rank 0 serves the store, unless a launcher serves it already (torchrun's agent store): then every rank is a client.
      options.isServer = serveStore_;
      options.numWorkers = static_cast<std::size_t>(size_);
      // Every rank counts itself in (the clients too: the server waits for the count to reach the world size).
      options.waitWorkers = true;
      options.timeout = std::chrono::milliseconds(timeoutMs_);
      auto tcp = c10::make_intrusive<c10d::TCPStore>(host_, options);
      store_ = c10::make_intrusive<c10d::PrefixStore>(prefix_, tcp);
      auto groupOptions = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(timeoutMs_));
      if (!interface_.empty()) {
        groupOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface_));
      } else if (!deviceHost_.empty()) {
        groupOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(deviceHost_));
      } else {
        groupOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank_, size_, groupOptions);
    } catch (const std::exception& error) {
      SetError(context + ": " + errorMessage(error));
    }
  }

  void OnOK() override {
    const int32_t id = nextGroupId++;
    {
      std::lock_guard<std::mutex> lock(groupsMutex);
      groups()[id] = Group{store_, group_, rank_, size_};
    }
    deferred_.Resolve(Napi::Number::New(Env(), id));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string host_;
  int port_, rank_, size_, timeoutMs_;
  std::string interface_, deviceHost_, prefix_;
  bool serveStore_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

// Waits for an enqueued collective off the JS thread. Holds its tensors (and the group) until it has finished, so
// a JS dispose() during the wait cannot free memory Gloo is writing.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, c10::intrusive_ptr<c10d::Work> work, std::string context, c10::intrusive_ptr<c10d::ProcessGroupGloo> group,
             std::vector<at::Tensor> keep, std::vector<at::Tensor> results)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), context_(std::move(context)),
        group_(std::move(group)), keep_(std::move(keep)), results_(std::move(results)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_->wait();
    } catch (const std::exception& error) {
      SetError(context_ + ": " + errorMessage(error));
    }
  }

  void OnOK() override {
    if (results_.empty()) {
      deferred_.Resolve(Env().Undefined());
      return;
    }
    auto array = Napi::Array::New(Env(), results_.size());
    for (size_t i = 0; i < results_.size(); i++) array.Set(static_cast<uint32_t>(i), wrapTensor(Env(), results_[i]));
    deferred_.Resolve(array);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  c10::intrusive_ptr<c10d::Work> work_;
  std::string context_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  std::vector<at::Tensor> keep_;
  std::vector<at::Tensor> results_;
};

Napi::Value queueWait(Napi::Env env, c10::intrusive_ptr<c10d::Work> work, std::string context, const Group& group, std::vector<at::Tensor> keep,
                      std::vector<at::Tensor> results = {}) {
  auto* worker = new WaitWorker(env, std::move(work), std::move(context), group.group, std::move(keep), std::move(results));
  auto promise = worker->promise();
  worker->Queue();
  return promise;
}

int intArgument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsNumber()) throwError(info.Env(), std::string(name) + " must be a number, got " + describeValue(info[index]));
  return info[index].As<Napi::Number>().Int32Value();
}

std::string stringArgument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) throwError(info.Env(), std::string(name) + " must be a string, got " + describeValue(info[index]));
  return info[index].As<Napi::String>().Utf8Value();
}

// initProcessGroup(host, port, rank, worldSize, timeoutMs, interface, deviceHost, prefix) -> Promise<handle>
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string host = stringArgument(info, 0, "host");
  const int port = intArgument(info, 1, "port");
  const int rank = intArgument(info, 2, "rank");
  const int size = intArgument(info, 3, "worldSize");
  const int timeoutMs = intArgument(info, 4, "timeoutMs");
  if (port < 1 || port > 65535) throwError(env, "port must be in 1..65535, got " + std::to_string(port));
  if (size < 1 || rank < 0 || rank >= size) throwError(env, "rank " + std::to_string(rank) + " is not in 0.." + std::to_string(size - 1) + " (world size " + std::to_string(size) + ")");
  if (timeoutMs < 1) throwError(env, "timeoutMs must be positive, got " + std::to_string(timeoutMs));
  if (!info[8].IsBoolean()) throwError(env, "serveStore: expected a boolean, got " + describeValue(info[8]));
  auto* worker = new CreateWorker(env, host, port, rank, size, timeoutMs, stringArgument(info, 5, "interface"), stringArgument(info, 6, "deviceHost"), stringArgument(info, 7, "prefix"),
                                  info[8].As<Napi::Boolean>().Value());
  auto promise = worker->promise();
  worker->Queue();
  return promise;
}

// Enqueues `start` (a collective of `group` on `tensor`) now, in call order, and returns the Promise of its end.
template <typename Start>
Napi::Value collective(Napi::Env env, Group& group, const char* operation, at::Tensor tensor, Start start) {
  std::vector<at::Tensor> tensors{tensor};
  try {
    return queueWait(env, start(tensors), where(operation, group), group, tensors);
  } catch (const std::exception& error) {
    throwError(env, where(operation, group) + ": " + errorMessage(error));
  }
}

// allreduce(group, tensor, op) -> Promise<void>, in place.
Napi::Value Allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  c10d::AllreduceOptions options;
  options.reduceOp = reduceOp(env, info[2]);
  return collective(env, group, "allreduce", denseTensor(env, info[1], "allreduce"), [&](std::vector<at::Tensor>& t) { return group.group->allreduce(t, options); });
}

// broadcast(group, tensor, root) -> Promise<void>, in place.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  const int root = intArgument(info, 2, "root");
  if (root < 0 || root >= group.size) throwError(env, where("broadcast", group) + ": root " + std::to_string(root) + " is not a rank");
  c10d::BroadcastOptions options;
  options.rootRank = root;
  return collective(env, group, "broadcast", denseTensor(env, info[1], "broadcast"), [&](std::vector<at::Tensor>& t) { return group.group->broadcast(t, options); });
}

// allgather(group, tensor) -> Promise<tensor[]> (one per rank, in rank order).
Napi::Value Allgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  std::vector<at::Tensor> inputs{denseTensor(env, info[1], "allgather")};
  std::vector<at::Tensor> outputs;
  for (int i = 0; i < group.size; i++) outputs.push_back(at::empty_like(inputs[0]));
  std::vector<std::vector<at::Tensor>> outputLists{outputs};
  try {
    auto work = group.group->allgather(outputLists, inputs);
    return queueWait(env, work, where("allgather", group), group, inputs, outputs);
  } catch (const std::exception& error) {
    throwError(env, where("allgather", group) + ": " + errorMessage(error));
  }
}

// barrier(group) -> Promise<void>.
Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  try {
    return queueWait(env, group.group->barrier(), where("barrier", group), group, {});
  } catch (const std::exception& error) {
    throwError(env, where("barrier", group) + ": " + errorMessage(error));
  }
}

// allreduceSumDifferentiable(group, tensor) -> tensor: the sum over ranks, recorded by autograd (see
// AllreduceSumFunction). Synchronous: the JS thread waits for the collective.
Napi::Value AllreduceSumDifferentiable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  findGroup(env, info[0]);  // a live handle, or a JS error saying what to do
  const at::Tensor& input = unwrapTensor(env, info[1], "allreduceSumDifferentiable");
  const int64_t id = info[0].As<Napi::Number>().Int32Value();
  try {
    return wrapTensor(env, AllreduceSumFunction::apply(input, id));
  } catch (const std::exception& error) {
    throwError(env, errorMessage(error));
  }
}

// storeSet(group, key, value): writes a key of the group's rendezvous store (under its prefix). Synchronous and
// quick while the store's server answers; throws when it is gone. What the JS layer's post-mortem of a failed
// collective uses to learn which ranks still answer (src/torch/process-group.ts).
Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  const std::string key = stringArgument(info, 1, "key");
  const std::string value = stringArgument(info, 2, "value");
  try {
    group.store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& error) {
    throwError(env, where("store set", group) + ": " + errorMessage(error));
  }
  return env.Undefined();
}

// storeCheck(group, key) -> boolean: whether the key exists, without waiting for it.
Napi::Value StoreCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& group = findGroup(env, info[0]);
  const std::string key = stringArgument(info, 1, "key");
  try {
    return Napi::Boolean::New(env, group.store->check({key}));
  } catch (const std::exception& error) {
    throwError(env, where("store check", group) + ": " + errorMessage(error));
  }
}

// destroyProcessGroup(group): releases this rank's side (its threads and sockets); in-flight waits keep their own
// reference and finish or fail first.
Napi::Value DestroyProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throwError(env, "expected a process group handle, got " + describeValue(info[0]));
  std::lock_guard<std::mutex> lock(groupsMutex);
  groups().erase(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

}  // namespace

void registerDistributedFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup, "initProcessGroup"));
  exports.Set("allreduce", Napi::Function::New(env, Allreduce, "allreduce"));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast, "broadcast"));
  exports.Set("allgather", Napi::Function::New(env, Allgather, "allgather"));
  exports.Set("barrier", Napi::Function::New(env, Barrier, "barrier"));
  exports.Set("allreduceSumDifferentiable", Napi::Function::New(env, AllreduceSumDifferentiable, "allreduceSumDifferentiable"));
  exports.Set("storeSet", Napi::Function::New(env, StoreSet, "storeSet"));
  exports.Set("storeCheck", Napi::Function::New(env, StoreCheck, "storeCheck"));
  exports.Set("destroyProcessGroup", Napi::Function::New(env, DestroyProcessGroup, "destroyProcessGroup"));
}

}  // namespace effnet

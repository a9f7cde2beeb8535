/** effnet's tensor library over libtorch: tensors, operators, scopes, autograd switches. */
export { Tensor, type TensorData } from './tensor.js';
export { tidy, keep, scopeDepth, liveTensorCount } from './scope.js';
export { noGrad, enableGrad, isGradEnabled, manualSeed, setNumThreads, getNumThreads, libtorchVersion } from './grad.js';
export { Op, callOperator, type OperatorArgument, type OperatorResult } from './op.js';
export { type DType, type MemoryFormat, isFloatingDType } from './dtype.js';
export * from './ops/creation.js';
export * from './ops/pointwise.js';
export * from './ops/reduction.js';
export * from './ops/shape.js';
export * from './ops/nn.js';
export * from './ops/inplace.js';
export { ProcessGroup, type ProcessGroupOptions, type ReduceOperation } from './process-group.js';
export { type Device, DeviceError, cudaDeviceCount, cudaAvailable, resolveDevice, deviceForWorker, isCuda, setBackendFlags, backendFlags, type BackendFlags } from './device.js';
export { autocast, autocastState, type AutocastDevice, type AutocastDType, type AutocastOptions } from './autocast.js';

/** effnet's neural-network modules: the Module base class, layers and initialisation. */
export { Module, matchStateDict, StateDictError, type StateDictInput, type StateDictReport, type LoadStateDictOptions, type ParameterCountOptions } from './module.js';
export { fanInAndOut, leakyReluGain, kaimingUniform_, resetLinearLike_, constant_ } from './init.js';
export { Conv2d, pair, type Conv2dLayerOptions, type Size2d } from './layers/conv.js';
export { BatchNorm2d, syncBatchNormTraining, type BatchNorm2dOptions, type CrossReplicaSum } from './layers/batchnorm.js';
export { Linear, type LinearOptions } from './layers/linear.js';
export { Dropout } from './layers/dropout.js';
export { Identity, Flatten } from './layers/shape.js';
export { Sequential } from './layers/container.js';
export { SiLU, ReLU, ReLU6, Sigmoid } from './layers/activation.js';
export { AdaptiveAvgPool2d, MaxPool2d } from './layers/pooling.js';
export { toChannelsLast } from './memory-format.js';

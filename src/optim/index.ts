/** effnet's optimizers (SGD, AdamW, RMSprop in TF form) and weight-decay parameter groups. */
export {
  Optimizer,
  type BaseHyperParams,
  type HyperValue,
  type ParamGroup,
  type ParamGroupSpec,
  type ParamState,
  type SavedParamGroup,
  type OptimizerState,
} from './optimizer.js';
export { SGD, type SGDHyperParams, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWHyperParams, type AdamWOptions } from './adamw.js';
export { RMSpropTF, type RMSpropTFHyperParams, type RMSpropTFOptions } from './rmsprop-tf.js';
export { paramGroupsWithWeightDecay, type WeightDecayGroup, type WeightDecayGroupOptions } from './param-groups.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler.js';

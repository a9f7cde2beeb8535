/**
 * The batch-norm conventions of EfficientNet weights, engine-free so that the model card's resolver and the
 * profiler can state them without building a model: torchvision's (eps 1e-5, momentum 0.1, except b5–b7 which
 * torchvision builds with eps 1e-3, momentum 0.01, and V2-S/M/L with eps 1e-3, momentum 0.1) and TensorFlow's (eps
 * 1e-3, momentum 0.01, decay 0.99).
 */

/** Batch-norm hyper-parameters (PyTorch's momentum convention: new = (1 − m)·old + m·batch). */
export interface BatchNormSettings {
  /** Added to the variance; torchvision b0–b4 use 1e-5, TF-trained weights and torchvision b5–b7 1e-3. */
  eps: number;
  /** Running-average weight; 0.1 (PyTorch) or 0.01 (TF's decay 0.99). */
  momentum: number;
}

/** A batch-norm choice: a named convention or explicit values. */
export type BatchNormChoice = 'torchvision' | 'tf' | BatchNormSettings;

/** TensorFlow's settings (and torchvision's for b5–b7). */
export const TF_BATCH_NORM: Readonly<BatchNormSettings> = Object.freeze({ eps: 1e-3, momentum: 0.01 });
/** torchvision's EfficientNetV2 (S, M, L): `partial(nn.BatchNorm2d, eps=1e-03)`, PyTorch's momentum. */
export const TORCHVISION_V2_BATCH_NORM: Readonly<BatchNormSettings> = Object.freeze({ eps: 1e-3, momentum: 0.1 });
/** PyTorch's defaults, torchvision's for b0–b4 and custom configurations. */
export const TORCH_BATCH_NORM: Readonly<BatchNormSettings> = Object.freeze({ eps: 1e-5, momentum: 0.1 });

/**
 * The explicit settings of a choice for the configuration named `name` ('torchvision', the default, depends on
 * the variant as torchvision builds it).
 * @throws for eps <= 0 or momentum outside [0, 1]
 */
export function resolveBatchNorm(setting: BatchNormChoice | undefined, name: string): BatchNormSettings {
  if (setting === 'tf') return { ...TF_BATCH_NORM };
  if (setting === undefined || setting === 'torchvision') {
    if (/^v2-(s|m|l|xl|b[0-3])$/.test(name)) return { ...TORCHVISION_V2_BATCH_NORM };
    return ['b5', 'b6', 'b7'].includes(name) ? { ...TF_BATCH_NORM } : { ...TORCH_BATCH_NORM };
  }
  if (!(setting.eps > 0) || !(setting.momentum >= 0 && setting.momentum <= 1)) {
    throw new Error(`EfficientNet: batchNorm needs eps > 0 and momentum in [0, 1], got eps ${setting.eps}, momentum ${setting.momentum}`);
  }
  return { eps: setting.eps, momentum: setting.momentum };
}

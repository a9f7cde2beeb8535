/** Neural-network operators: convolution, normalisation, linear layers, pooling, dropout, losses. */
import { native } from '../native.js';
import { Op, wrap } from '../op.js';
import type { Tensor } from '../tensor.js';

const CONV2D = new Op('aten::conv2d');
const BATCH_NORM = new Op('aten::batch_norm');
const LINEAR = new Op('aten::linear');
const MATMUL = new Op('aten::matmul');
const ADAPTIVE_AVG_POOL2D = new Op('aten::adaptive_avg_pool2d');
const AVG_POOL2D = new Op('aten::avg_pool2d');
const MAX_POOL2D = new Op('aten::max_pool2d');
const DROPOUT = new Op('aten::dropout');
const SOFTMAX = new Op('aten::softmax.int');
const LOG_SOFTMAX = new Op('aten::log_softmax.int');
const CROSS_ENTROPY = new Op('aten::cross_entropy_loss');
const NLL_LOSS = new Op('aten::nll_loss');
const MSE_LOSS = new Op('aten::mse_loss');
const UPSAMPLE_BILINEAR = new Op('aten::upsample_bilinear2d.vec');

/** How a loss reduces over the batch. */
export type Reduction = 'none' | 'mean' | 'sum';

const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reductionCode(reduction: Reduction): number {
  const code = REDUCTION[reduction];
  if (code === undefined) throw new Error(`unknown reduction '${String(reduction)}'; expected none, mean or sum`);
  return code;
}

/** Options of conv2d, as torch.nn.functional.conv2d. */
export interface Conv2dOptions {
  /** Stride, one number or [sh, sw]; default 1. */
  stride?: number | readonly number[];
  /** Symmetric zero padding, one number or [ph, pw]; default 0. */
  padding?: number | readonly number[];
  /** Dilation; default 1. */
  dilation?: number | readonly number[];
  /** Channel groups; default 1 (= in channels for depthwise). */
  groups?: number;
}

/** 2-D convolution of NCHW `input` with OIHW `weight` (O = out, I = in / groups). */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  return wrap(
    native.call(
      CONV2D.handle,
      input.handle,
      weight.handle,
      bias === null ? null : bias.handle,
      options.stride ?? 1,
      options.padding ?? 0,
      options.dilation ?? 1,
      options.groups ?? 1,
    ),
  );
}

/**
 * Batch normalisation over the channel dimension. In training mode it normalises with the batch statistics and
 * updates runningMean/runningVar in place (new = (1 − momentum)·old + momentum·batch, PyTorch's convention).
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return wrap(
    native.call(
      BATCH_NORM.handle,
      input.handle,
      weight === null ? null : weight.handle,
      bias === null ? null : bias.handle,
      runningMean === null ? null : runningMean.handle,
      runningVar === null ? null : runningVar.handle,
      training,
      momentum,
      eps,
      true,
    ),
  );
}

/** x·Wᵀ + b. */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return wrap(native.call(LINEAR.handle, input.handle, weight.handle, bias === null ? null : bias.handle));
}

/** Matrix product with broadcasting, as torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return wrap(native.call(MATMUL.handle, a.handle, b.handle));
}

/** Average pooling to a fixed output size (1 = global average pooling). */
export function adaptiveAvgPool2d(input: Tensor, outputSize: number | readonly number[]): Tensor {
  return wrap(native.call(ADAPTIVE_AVG_POOL2D.handle, input.handle, outputSize));
}

/** Average pooling with a kernel, stride (default = kernel) and padding. */
export function avgPool2d(input: Tensor, kernel: number | readonly number[], stride?: number | readonly number[], padding: number | readonly number[] = 0): Tensor {
  return wrap(native.call(AVG_POOL2D.handle, input.handle, kernel, stride ?? kernel, padding));
}

/** Max pooling with a kernel, stride (default = kernel) and padding. */
export function maxPool2d(input: Tensor, kernel: number | readonly number[], stride?: number | readonly number[], padding: number | readonly number[] = 0): Tensor {
  return wrap(native.call(MAX_POOL2D.handle, input.handle, kernel, stride ?? kernel, padding));
}

/** Zeroes elements with probability p and scales the rest by 1/(1−p) when `training`; identity otherwise. */
export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  return wrap(native.call(DROPOUT.handle, input.handle, p, training));
}

/** Softmax along `dim`. */
export function softmax(input: Tensor, dim: number): Tensor {
  return wrap(native.call(SOFTMAX.handle, input.handle, dim));
}

/** Log-softmax along `dim`. */
export function logSoftmax(input: Tensor, dim: number): Tensor {
  return wrap(native.call(LOG_SOFTMAX.handle, input.handle, dim));
}

/** Options of crossEntropy, as torch.nn.functional.cross_entropy. */
export interface CrossEntropyOptions {
  /** Per-class weights; default none. */
  weight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
  /** Target value that contributes nothing; default -100. */
  ignoreIndex?: number;
  /** Mixes the one-hot target with the uniform distribution: (1 − ε)·onehot + ε/C; default 0. */
  labelSmoothing?: number;
}

/** Cross entropy between logits [N, C] and int64 class indices [N] (or class probabilities [N, C]). */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  return wrap(
    native.call(
      CROSS_ENTROPY.handle,
      logits.handle,
      target.handle,
      options.weight ? options.weight.handle : null,
      reductionCode(options.reduction ?? 'mean'),
      options.ignoreIndex ?? -100,
      smoothing,
    ),
  );
}

/** Negative log-likelihood of log-probabilities [N, C] at int64 targets [N]. */
export function nllLoss(logProbs: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(native.call(NLL_LOSS.handle, logProbs.handle, target.handle, null, reductionCode(reduction)));
}

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(native.call(MSE_LOSS.handle, input.handle, target.handle, reductionCode(reduction)));
}

/** Bilinear resize of NCHW input to [height, width]. */
export function upsampleBilinear(input: Tensor, size: readonly [number, number], alignCorners = false): Tensor {
  return wrap(native.call(UPSAMPLE_BILINEAR.handle, input.handle, size, alignCorners, null));
}

/** Batch normalisation over channels of NCHW input, as torch.nn.BatchNorm2d. */
import { add_, batchNorm, noGrad, ones, tensor, zeros, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** Options of BatchNorm2d. */
export interface BatchNorm2dOptions {
  /** Added to the variance before the square root; default 1e-5 (TF-trained EfficientNets use 1e-3). */
  eps?: number;
  /**
   * Weight of the new batch statistics in the running averages (PyTorch convention: new = (1 − m)·old + m·batch;
   * TF's 0.99 decay is m = 0.01); default 0.1. null uses a cumulative average (m = 1 / batches tracked).
   */
  momentum?: number | null;
  /** Whether to learn a per-channel scale `weight` and shift `bias`; default true. */
  affine?: boolean;
  /** Whether to keep running_mean / running_var / num_batches_tracked buffers; default true. */
  trackRunningStats?: boolean;
}

/**
 * Normalises each channel. In training mode it uses the batch statistics and updates the running ones (and
 * num_batches_tracked); in eval mode it uses the running statistics. Names follow PyTorch: parameters weight,
 * bias; buffers running_mean, running_var, num_batches_tracked (int64, 0-dimensional).
 */
export class BatchNorm2d extends Module {
  /** Per-channel scale (ones at first), or null when not affine. */
  readonly weight: Tensor | null;
  /** Per-channel shift (zeros at first), or null when not affine. */
  readonly bias: Tensor | null;
  /** Running mean (zeros at first), or null when not tracking. */
  readonly runningMean: Tensor | null;
  /** Running (unbiased) variance (ones at first), or null when not tracking. */
  readonly runningVar: Tensor | null;
  /** Number of training batches seen (int64 scalar), or null when not tracking. */
  readonly numBatchesTracked: Tensor | null;
  /** Added to the variance before the square root. */
  eps: number;
  /** Running-average weight of new batches (null: cumulative average). */
  momentum: number | null;

  constructor(
    readonly numFeatures: number,
    options: BatchNorm2dOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    const affine = options.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : null;
    if (options.trackRunningStats ?? true) {
      this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
      this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
      this.numBatchesTracked = this.registerBuffer('num_batches_tracked', tensor([0], [], { dtype: 'int64' }));
    } else {
      this.runningMean = null;
      this.runningVar = null;
      this.numBatchesTracked = null;
    }
  }

  /** Normalises NCHW `input` with C = numFeatures. */
  forward(input: Tensor): Tensor {
    const shape = input.shape;
    if (shape.length !== 4 || shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm2d.forward: expected NCHW input with C = ${this.numFeatures}, got shape [${shape.join(', ')}]`);
    }
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked !== null) {
      const counter = this.numBatchesTracked;
      noGrad(() => add_(counter, 1));
      if (this.momentum === null) factor = 1 / counter.item();
    }
    // Batch statistics in training, and also in eval when there are no running statistics to use.
    const useBatchStats = this.training || this.runningMean === null;
    return batchNorm(
      input,
      this.runningMean,
      this.runningVar,
      this.weight,
      this.bias,
      useBatchStats,
      factor,
      this.eps,
    );
  }
}

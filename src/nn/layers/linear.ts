/** Fully connected layer, as torch.nn.Linear. */
import { empty, linear, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { resetLinearLike_ } from '../init.js';

/** Options of Linear. */
export interface LinearOptions {
  /** Whether to add a learned bias; default true. */
  bias?: boolean;
}

/** y = x·Wᵀ + b with `weight` [out, in] and `bias` [out], initialised as PyTorch does. */
export class Linear extends Module {
  /** The weight, [outFeatures, inFeatures]. */
  readonly weight: Tensor;
  /** The bias, [outFeatures], or null. */
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [what, value] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`Linear: ${what} must be a positive integer, got ${value}`);
    }
    const weight = empty([outFeatures, inFeatures]);
    const bias = options.bias ?? true ? empty([outFeatures]) : null;
    resetLinearLike_(weight, bias);
    this.weight = this.registerParameter('weight', weight);
    this.bias = bias === null ? null : this.registerParameter('bias', bias);
  }

  /** Applies the layer to [..., inFeatures] input. */
  forward(input: Tensor): Tensor {
    const shape = input.shape;
    if (shape.length === 0 || shape[shape.length - 1] !== this.inFeatures) {
      throw new Error(`Linear.forward: expected input [..., ${this.inFeatures}], got [${shape.join(', ')}]`);
    }
    return linear(input, this.weight, this.bias);
  }
}

/** Modules that pass data through or only change its shape. */
import { flatten, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** Returns its input unchanged (a placeholder where a block has no layer, e.g. no skip projection). */
export class Identity extends Module {
  /** Returns `input` itself. */
  forward(input: Tensor): Tensor {
    return input;
  }
}

/** Merges dimensions startDim..endDim into one, as torch.nn.Flatten (default: all but the batch dimension). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  /** Flattens `input`. */
  forward(input: Tensor): Tensor {
    return flatten(input, this.startDim, this.endDim);
  }
}

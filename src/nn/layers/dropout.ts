/** Dropout as a module, as torch.nn.Dropout. */
import { dropout, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** In training mode zeroes each element with probability p and scales the rest by 1/(1 − p); identity in eval. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }

  /** Applies dropout when training (draws from libtorch's generator; seed it with manualSeed). */
  forward(input: Tensor): Tensor {
    if (!this.training || this.p === 0) return input;
    return dropout(input, this.p, true);
  }
}

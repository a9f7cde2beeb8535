/** Dropout as a module, as torch.nn.Dropout. */
import { dropout, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';

/** In training mode zeroes each element with probability p and scales the rest by 1/(1 − p); identity in eval. */
export class Dropout extends Module {
  private rate: number;

  constructor(p = 0.5) {
    super();
    this.rate = Dropout.checked(p);
  }

  private static checked(p: number): number {
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    return p;
  }

  /** The drop probability; settable between steps (progressive learning grows it during training). */
  get p(): number {
    return this.rate;
  }

  set p(value: number) {
    this.rate = Dropout.checked(value);
  }

  /** Applies dropout when training (draws from libtorch's generator; seed it with manualSeed). */
  forward(input: Tensor): Tensor {
    if (!this.training || this.p === 0) return input;
    return dropout(input, this.p, true);
  }
}

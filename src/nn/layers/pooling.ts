/** Pooling layers. */
import { adaptiveAvgPool2d, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { pair, type Size2d } from './conv.js';

/** Average pooling of NCHW input to a fixed output size (1 = global average pooling), as torch.nn.AdaptiveAvgPool2d. */
export class AdaptiveAvgPool2d extends Module {
  /** Output size [h, w]. */
  readonly outputSize: [number, number];

  constructor(outputSize: Size2d) {
    super();
    this.outputSize = pair(outputSize);
    for (const d of this.outputSize) {
      if (!Number.isInteger(d) || d < 1) throw new Error(`AdaptiveAvgPool2d: output size must be positive integers, got ${d}`);
    }
  }

  /** Pools NCHW (or CHW) `input`. */
  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}

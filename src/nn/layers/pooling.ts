/** Pooling layers. */
import { adaptiveAvgPool2d, maxPool2d, type Tensor } from '../../torch/index.js';
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

/** Max pooling of NCHW input with a kernel, stride (default: the kernel) and zero padding, as torch.nn.MaxPool2d. */
export class MaxPool2d extends Module {
  /** Kernel [h, w]. */
  readonly kernelSize: [number, number];
  /** Stride [h, w]. */
  readonly stride: [number, number];
  /** Padding [h, w] (each at most half the kernel, as PyTorch requires). */
  readonly padding: [number, number];

  constructor(kernelSize: Size2d, stride?: Size2d, padding: Size2d = 0) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(stride ?? kernelSize);
    this.padding = pair(padding);
    for (const [name, values, min] of [['kernel size', this.kernelSize, 1], ['stride', this.stride, 1], ['padding', this.padding, 0]] as const) {
      for (const d of values) if (!Number.isInteger(d) || d < min) throw new Error(`MaxPool2d: ${name} must be integers >= ${min}, got ${d}`);
    }
    this.padding.forEach((p, i) => {
      if (p > this.kernelSize[i]! / 2) throw new Error(`MaxPool2d: padding ${p} exceeds half the kernel size ${this.kernelSize[i]}; use a smaller padding`);
    });
  }

  /** Pools NCHW (or CHW) `input`; output sizes are floored, as in PyTorch. */
  forward(input: Tensor): Tensor {
    return maxPool2d(input, this.kernelSize, this.stride, this.padding);
  }
}

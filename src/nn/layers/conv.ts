/** 2-D convolution layer, as torch.nn.Conv2d (zero padding). */
import { conv2d, empty, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { resetLinearLike_ } from '../init.js';

/** A size given once for both spatial dimensions, or as [height, width]. */
export type Size2d = number | readonly [number, number];

/** Options of Conv2d. */
export interface Conv2dLayerOptions {
  /** Stride; default 1. */
  stride?: Size2d;
  /** Symmetric zero padding; default 0. */
  padding?: Size2d;
  /** Dilation; default 1. */
  dilation?: Size2d;
  /** Channel groups; default 1 (inChannels for a depthwise convolution). */
  groups?: number;
  /** Whether to add a learned bias; default true. */
  bias?: boolean;
}

/** [height, width] from a Size2d. */
export function pair(size: Size2d): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

function checkPositiveInteger(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`Conv2d: ${what} must be a positive integer, got ${value}`);
}

/**
 * Convolution of NCHW input; parameters `weight` [out, in/groups, kh, kw] and optional `bias` [out], initialised
 * as PyTorch does (kaiming_uniform with a = sqrt(5), bias U(±1/sqrt(fan_in))).
 */
export class Conv2d extends Module {
  /** The kernel, [outChannels, inChannels / groups, kh, kw]. */
  readonly weight: Tensor;
  /** The bias, [outChannels], or null when built with bias: false. */
  readonly bias: Tensor | null;
  /** Kernel size [kh, kw]. */
  readonly kernelSize: [number, number];
  /** Stride [sh, sw]. */
  readonly stride: [number, number];
  /** Padding [ph, pw]. */
  readonly padding: [number, number];
  /** Dilation [dh, dw]. */
  readonly dilation: [number, number];
  /** Channel groups. */
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size2d,
    options: Conv2dLayerOptions = {},
  ) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = options.groups ?? 1;
    checkPositiveInteger('inChannels', inChannels);
    checkPositiveInteger('outChannels', outChannels);
    checkPositiveInteger('groups', this.groups);
    for (const k of this.kernelSize) checkPositiveInteger('kernelSize', k);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${this.groups})`,
      );
    }
    const weight = empty([outChannels, inChannels / this.groups, ...this.kernelSize]);
    const bias = options.bias ?? true ? empty([outChannels]) : null;
    resetLinearLike_(weight, bias);
    this.weight = this.registerParameter('weight', weight);
    this.bias = bias === null ? null : this.registerParameter('bias', bias);
  }

  /** Convolves NCHW `input`. */
  forward(input: Tensor): Tensor {
    if (input.ndim !== 4) {
      throw new Error(`Conv2d.forward: expected NCHW input with 4 dimensions, got shape [${input.shape.join(', ')}]`);
    }
    return conv2d(input, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

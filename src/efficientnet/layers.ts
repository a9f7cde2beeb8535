/**
 * The building blocks of an EfficientNet, named as torchvision names them so that its checkpoints load without a
 * renaming table: Conv2dNormActivation (`0` conv, `1` bn, `2` act), SqueezeExcitation (`fc1`, `fc2`), MBConv
 * (`block`, `stochastic_depth`).
 */
import { BatchNorm2d, Conv2d, Module, ReLU6, Sequential, SiLU, type Conv2dLayerOptions } from '../nn/index.js';
import {
  adaptiveAvgPool2d,
  add,
  add_,
  bernoulli_,
  callOperator,
  clamp,
  clamp_,
  conv2d,
  div_,
  empty,
  mul,
  isGradEnabled,
  normal_,
  noGrad,
  pad,
  sigmoid,
  silu,
  type Tensor,
} from '../torch/index.js';
import type { PaddingMode } from './profile.js';
import type { BatchNormSettings } from './batch-norm.js';

export type { BatchNormSettings } from './batch-norm.js';

/**
 * TF "SAME" padding for one spatial dimension: the total padding that makes the output ceil(in / stride), split
 * with the smaller half before (asymmetric for even totals, as TensorFlow does).
 */
export function samePadding(input: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const output = Math.ceil(input / stride);
  const total = Math.max((output - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * Conv2d with TensorFlow "SAME" padding, computed from each input's size (timm's Conv2dSame). Weights are the same
 * as Conv2d's; only the padding differs, which matters for stride 2 and for TF-trained weights.
 */
export class Conv2dSame extends Conv2d {
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Omit<Conv2dLayerOptions, 'padding'> = {}) {
    super(inChannels, outChannels, kernelSize, { ...options, padding: 0 });
  }

  override forward(input: Tensor): Tensor {
    const shape = input.shape;
    if (shape.length !== 4) throw new Error(`Conv2dSame.forward: expected NCHW input, got shape [${shape.join(', ')}]`);
    const [top, bottom] = samePadding(shape[2]!, this.kernelSize[0], this.stride[0], this.dilation[0]);
    const [left, right] = samePadding(shape[3]!, this.kernelSize[1], this.stride[1], this.dilation[1]);
    if (top + bottom + left + right === 0) {
      return conv2d(input, this.weight, this.bias, { stride: this.stride, dilation: this.dilation, groups: this.groups });
    }
    const padded = pad(input, [left, right, top, bottom]);
    const output = conv2d(padded, this.weight, this.bias, { stride: this.stride, dilation: this.dilation, groups: this.groups });
    if (!isGradEnabled()) padded.dispose();
    return output;
  }
}

/** Applies an in-place ATen activation to `target` and frees the second handle to it that the call returns. */
function applyInPlace(name: 'aten::silu_' | 'aten::sigmoid_', target: Tensor): void {
  (callOperator(name, target) as Tensor).dispose();
}

/**
 * The activation that follows a batch norm (and acts inside squeeze-excitation): 'silu' (x·sigmoid(x), EfficientNet's
 * swish) or 'relu6' (min(max(x, 0), 6), EfficientNet-Lite's, which keeps activations in a range that int8 holds).
 */
export type ActivationKind = 'silu' | 'relu6';

/** `kind` applied to a new tensor (autograd-tracked when grad mode is on). */
export function activate(kind: ActivationKind, x: Tensor): Tensor {
  return kind === 'relu6' ? clamp(x, 0, 6) : silu(x);
}

/** `kind` applied in place (evaluation, where no autograd graph needs the input). */
function activateInPlace(kind: ActivationKind, x: Tensor): void {
  if (kind === 'relu6') clamp_(x, 0, 6);
  else applyInPlace('aten::silu_', x);
}

/**
 * Runs `layers` in order on `input`. With grad mode off (evaluation) every intermediate output is freed as soon as
 * the next layer has consumed it, as PyTorch frees an unreferenced tensor at once: without this, the enclosing
 * tidy() scope would keep every activation of the forward pass alive until it ends, so each op would write to
 * fresh, cold memory. `input` itself and tensors a layer passes through unchanged are never freed. With grad mode
 * on, autograd keeps the activations anyway and nothing is freed early.
 */
export function forwardChain(input: Tensor, layers: Iterable<Module>): Tensor {
  const eager = !isGradEnabled();
  let x = input;
  for (const layer of layers) {
    const next = layer.forward(x);
    if (eager && x !== input && next !== x) x.dispose();
    x = next;
  }
  return x;
}

/** Sees the input of every SiLU that follows a batch norm (see {@link observeActivations}). */
export type ActivationObserver = (preActivation: Tensor) => void;

let activationObserver: ActivationObserver | null = null;

/**
 * Runs `fn` with `observer` called on the pre-activation (the batch norm's output) of every conv → BN → SiLU unit
 * the forward passes run, in order: what activation-pattern analyses such as the NASWOT zero-cost score read (as
 * PyTorch forward hooks on the activations would). One observer at a time; the previous one is restored after.
 */
export function observeActivations<T>(observer: ActivationObserver, fn: () => T): T {
  const previous = activationObserver;
  activationObserver = observer;
  try {
    return fn();
  } finally {
    activationObserver = previous;
  }
}

/** Options of {@link Conv2dNormActivation}. */
export interface ConvNormActivationOptions {
  stride?: number;
  groups?: number;
  /** Whether an activation follows the batch norm; default true. */
  activation?: boolean;
  /** Which activation; default 'silu'. */
  activationKind?: ActivationKind;
  padding: PaddingMode;
  batchNorm: BatchNormSettings;
}

/** A convolution without bias, either padding convention. */
export function makeConv(inChannels: number, outChannels: number, kernel: number, stride: number, groups: number, padding: PaddingMode): Conv2d {
  if (padding === 'same') return new Conv2dSame(inChannels, outChannels, kernel, { stride, groups, bias: false });
  return new Conv2d(inChannels, outChannels, kernel, { stride, groups, bias: false, padding: Math.floor((kernel - 1) / 2) });
}

/**
 * conv (no bias) → batch norm → SiLU or ReLU6 (optional), as torchvision's Conv2dNormActivation; children `0`, `1`,
 * `2`.
 */
export class Conv2dNormActivation extends Sequential {
  /** The convolution (child `0`). */
  readonly conv: Conv2d;
  /** The batch norm (child `1`). */
  readonly bn: BatchNorm2d;
  /** The activation after the batch norm, or null for none (a projection). */
  readonly activation: ActivationKind | null;

  constructor(inChannels: number, outChannels: number, kernel: number, options: ConvNormActivationOptions) {
    super();
    this.conv = makeConv(inChannels, outChannels, kernel, options.stride ?? 1, options.groups ?? 1, options.padding);
    this.bn = new BatchNorm2d(outChannels, { eps: options.batchNorm.eps, momentum: options.batchNorm.momentum });
    this.activation = (options.activation ?? true) ? options.activationKind ?? 'silu' : null;
    this.append(this.conv).append(this.bn);
    if (this.activation !== null) this.append(this.activation === 'relu6' ? new ReLU6() : new SiLU());
  }

  override forward(input: Tensor): Tensor {
    const convolved = this.conv.forward(input);
    const normalised = this.bn.forward(convolved);
    if (!isGradEnabled()) convolved.dispose();
    if (this.activation === null) return normalised;
    if (activationObserver !== null) activationObserver(normalised);
    if (isGradEnabled()) return activate(this.activation, normalised);
    // No autograd graph to keep: activate in place (as torchvision's SiLU(inplace=True)).
    activateInPlace(this.activation, normalised);
    return normalised;
  }
}

/**
 * Squeeze-and-excitation: global average → 1x1 conv to `squeezeChannels` (with bias) → SiLU → 1x1 conv back (with
 * bias) → sigmoid → channel-wise scale of the input. Children `fc1`, `fc2` (torchvision's names).
 */
export class SqueezeExcitation extends Module {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  /** The activation between the two convolutions (the block's, as timm builds it; SiLU in every registered variant with SE). */
  readonly activation: ActivationKind;

  constructor(channels: number, squeezeChannels: number, activation: ActivationKind = 'silu') {
    super();
    this.fc1 = this.registerModule('fc1', new Conv2d(channels, squeezeChannels, 1));
    this.fc2 = this.registerModule('fc2', new Conv2d(squeezeChannels, channels, 1));
    this.activation = activation;
  }

  forward(input: Tensor): Tensor {
    if (isGradEnabled()) {
      const pooled = adaptiveAvgPool2d(input, 1);
      const scale = sigmoid(this.fc2.forward(activate(this.activation, this.fc1.forward(pooled))));
      return mul(input, scale);
    }
    // No autograd graph to keep: free each small intermediate at once and activate in place.
    const pooled = adaptiveAvgPool2d(input, 1);
    const squeezed = this.fc1.forward(pooled);
    pooled.dispose();
    activateInPlace(this.activation, squeezed);
    const scale = this.fc2.forward(squeezed);
    squeezed.dispose();
    applyInPlace('aten::sigmoid_', scale);
    const output = mul(input, scale);
    scale.dispose();
    return output;
  }
}

/**
 * Stochastic depth ("row" mode): in training, drops the whole residual branch of each sample with probability p
 * and scales the survivors by 1 / (1 − p); the identity in eval mode or when p = 0.
 */
export class StochasticDepth extends Module {
  private rate: number;

  constructor(p: number) {
    super();
    this.rate = StochasticDepth.checked(p);
  }

  private static checked(p: number): number {
    if (!(p >= 0 && p < 1)) throw new Error(`StochasticDepth: drop probability must be in [0, 1), got ${p}`);
    return p;
  }

  /** The drop probability; settable between steps (progressive learning grows it during training). */
  get p(): number {
    return this.rate;
  }

  set p(value: number) {
    this.rate = StochasticDepth.checked(value);
  }

  forward(input: Tensor): Tensor {
    if (!this.training || this.p === 0) return input;
    const survival = 1 - this.p;
    const mask = noGrad(() => {
      const shape = input.shape;
      const noise = empty([shape[0]!, 1, 1, 1], { dtype: input.dtype });
      bernoulli_(noise, survival);
      div_(noise, survival);
      return noise;
    });
    return mul(input, mask);
  }
}

/** The settings an MBConv block needs from the network spec. */
export interface MBConvSettings {
  kernel: number;
  stride: number;
  inChannels: number;
  midChannels: number;
  outChannels: number;
  hasExpansion: boolean;
  seChannels: number;
  hasResidual: boolean;
  /** A fused MBConv (see {@link FusedMBConv}); MBConv's constructor refuses it. */
  fused: boolean;
}

/**
 * What MBConv and FusedMBConv share: the layers as child `block` (a Sequential, as torchvision's), the identity skip
 * through `stochastic_depth` when the block has a residual, and an eval forward that frees as it goes.
 */
export abstract class ResidualBlock extends Module {
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;
  readonly hasResidual: boolean;
  private readonly layers: Module[];

  protected constructor(layers: Module[], dropRate: number, hasResidual: boolean) {
    super();
    this.layers = layers;
    this.block = this.registerModule('block', new Sequential(...layers));
    this.stochasticDepth = this.registerModule('stochastic_depth', new StochasticDepth(dropRate));
    this.hasResidual = hasResidual;
  }

  forward(input: Tensor): Tensor {
    const x = forwardChain(input, this.layers);
    if (!this.hasResidual) return x;
    const branch = this.stochasticDepth.forward(x);
    if (isGradEnabled() || branch === input) return add(branch, input);
    // No autograd graph to keep: add in place into the branch (as torchvision's `result += input`).
    if (branch !== x) x.dispose();
    add_(branch, input);
    return branch;
  }
}

/**
 * Mobile inverted bottleneck with squeeze-excite: [1x1 expand → BN → SiLU] → depthwise kxk → BN → SiLU → SE →
 * 1x1 project → BN, plus the identity skip with stochastic depth when stride 1 and in == out. Children: `block`
 * (a Sequential as torchvision's) and `stochastic_depth`.
 */
export class MBConv extends ResidualBlock {
  constructor(settings: MBConvSettings, dropRate: number, padding: PaddingMode, batchNorm: BatchNormSettings, activationKind: ActivationKind = 'silu') {
    if (settings.fused) throw new Error('MBConv: the block is fused; build it with FusedMBConv (or createBlock)');
    const { kernel, stride, inChannels, midChannels, outChannels } = settings;
    const layers: Module[] = [];
    if (settings.hasExpansion) layers.push(new Conv2dNormActivation(inChannels, midChannels, 1, { padding, batchNorm, activationKind }));
    layers.push(new Conv2dNormActivation(midChannels, midChannels, kernel, { stride, groups: midChannels, padding, batchNorm, activationKind }));
    if (settings.seChannels > 0) layers.push(new SqueezeExcitation(midChannels, settings.seChannels, activationKind));
    layers.push(new Conv2dNormActivation(midChannels, outChannels, 1, { activation: false, padding, batchNorm }));
    super(layers, dropRate, settings.hasResidual);
  }
}

/**
 * Fused MBConv (EfficientNetV2's Fused-MBConv; torchvision's FusedMBConv, timm's EdgeResidual): a full kxk
 * convolution with the block's stride replaces MBConv's 1x1 expansion and depthwise conv. With expansion:
 * kxk conv in → mid → BN → SiLU → [SE] → 1x1 project → BN. Without (expansion 1, torchvision's form): kxk conv
 * in → out → BN → SiLU → [SE]. The identity skip with stochastic depth as MBConv's. Children `block` and
 * `stochastic_depth`, so its keys are torchvision's (`block.0.0.weight`, ...; SE, when present, is `block.1`).
 * Faster than MBConv on small, early feature maps where depthwise convs use the hardware poorly.
 */
export class FusedMBConv extends ResidualBlock {
  constructor(settings: MBConvSettings, dropRate: number, padding: PaddingMode, batchNorm: BatchNormSettings, activationKind: ActivationKind = 'silu') {
    if (!settings.fused) throw new Error('FusedMBConv: the block is not fused; build it with MBConv (or createBlock)');
    const { kernel, stride, inChannels, midChannels, outChannels } = settings;
    const convChannels = settings.hasExpansion ? midChannels : outChannels;
    const layers: Module[] = [new Conv2dNormActivation(inChannels, convChannels, kernel, { stride, padding, batchNorm, activationKind })];
    if (settings.seChannels > 0) layers.push(new SqueezeExcitation(convChannels, settings.seChannels, activationKind));
    if (settings.hasExpansion) layers.push(new Conv2dNormActivation(midChannels, outChannels, 1, { activation: false, padding, batchNorm }));
    super(layers, dropRate, settings.hasResidual);
  }
}

/** The block module a block spec describes: {@link FusedMBConv} for fused blocks, {@link MBConv} for the others. */
export function createBlock(settings: MBConvSettings, dropRate: number, padding: PaddingMode, batchNorm: BatchNormSettings, activation: ActivationKind = 'silu'): MBConv | FusedMBConv {
  return settings.fused ? new FusedMBConv(settings, dropRate, padding, batchNorm, activation) : new MBConv(settings, dropRate, padding, batchNorm, activation);
}

/**
 * The reference initialisation of a convolution: N(0, sqrt(2 / fan_out)) with fan_out = k·k·out / groups (TF's
 * and timm's; torchvision omits the division by groups for depthwise convolutions).
 */
export function initConvolution_(conv: Conv2d): void {
  const [kh, kw] = conv.kernelSize;
  const fanOut = (kh * kw * conv.outChannels) / conv.groups;
  noGrad(() => normal_(conv.weight, 0, Math.sqrt(2 / fanOut)));
}

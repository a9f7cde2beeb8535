/**
 * The analytic profiler: parameters and multiply-adds (MACs) of an EfficientNet computed from its
 * {@link NetworkSpec} alone, per stage (stem, each MBConv stage, head, classifier) and in total.
 *
 * Counting rules (those of a forward-hook count over torchvision's modules, batch 1):
 * - MACs: every convolution, out_h · out_w · out_channels · (in_channels / groups) · k · k, including depthwise
 *   convs and the SE 1x1 convs on the pooled 1x1 map, plus the classifier's in · out. Biases, BN, activations,
 *   pooling and the SE multiply are not multiply-adds of a conv and are not counted.
 * - Parameters: conv weights, SE conv biases, BN weight and bias (running mean/var are buffers, not parameters),
 *   classifier weight and bias.
 * - Activations (Dollár, Singh & Girshick 2021, "Fast and accurate model scaling"): the number of elements of every
 *   convolution's output, out_h · out_w · out_channels, the SE 1x1 convs included and the classifier not (a forward
 *   hook summing torchvision's Conv2d output sizes counts the same). Equal MACs can mean very different
 *   activations, and on real hardware run time follows activations more closely than MACs.
 */
import { ScalingError } from './scaling.js';
import type { BlockSpec, NetworkSpec } from './scaling.js';

/** How convolutions pad: symmetric k//2 (PyTorch-trained weights) or TF "SAME" (TF-trained weights). */
export type PaddingMode = 'symmetric' | 'same';

/**
 * Output length of a convolution along one axis. SAME: ceil(in / stride). Symmetric: floor((in + 2·(k//2) − k) /
 * stride) + 1. For odd k the two agree.
 */
export function convOutputSize(input: number, kernel: number, stride: number, padding: PaddingMode): number {
  if (padding === 'same') return Math.ceil(input / stride);
  const pad = Math.floor(kernel / 2);
  return Math.floor((input + 2 * pad - kernel) / stride) + 1;
}

/** Parameters, MACs and activations of one part of the network. */
export interface Cost {
  /** Trainable parameters. */
  params: number;
  /** Multiply-adds for one image. */
  macs: number;
  /** Elements of the convolution outputs for one image (Dollár et al.'s activations). */
  activations: number;
}

/** One MBConv block's cost with its shape. */
export interface BlockProfile extends Cost {
  /** The block spec profiled. */
  block: BlockSpec;
  /** Input [height, width]. */
  inputSize: [number, number];
  /** Output [height, width]. */
  outputSize: [number, number];
}

/** One row of the per-stage table. */
export interface StageProfile extends Cost {
  /** 'stem', 'stage1'..'stageN', 'head' or 'classifier'. */
  name: string;
  /** The operator as the paper's Table 1 writes it, e.g. 'Conv3x3', 'MBConv6, k5x5', 'Conv1x1 & Pooling', 'FC'. */
  operator: string;
  /** Input [height, width] (1x1 for the classifier). */
  inputSize: [number, number];
  /** Output [height, width]. */
  outputSize: [number, number];
  /** Input channels. */
  inChannels: number;
  /** Output channels (classes for the classifier). */
  outChannels: number;
  /** Layers (blocks) in the row. */
  layers: number;
  /** Per-block costs for MBConv stages; empty for the other rows. */
  blocks: BlockProfile[];
}

/** The whole profile. */
export interface NetworkProfile extends Cost {
  /** Rows in order: stem, each stage, head, classifier. */
  stages: StageProfile[];
  /** Input [height, width]. */
  imageSize: [number, number];
  /** Input image channels. */
  inputChannels: number;
  /** Classifier outputs. */
  numClasses: number;
  /** Padding convention used for the output sizes. */
  padding: PaddingMode;
}

/** Options of {@link profileNetwork}. */
export interface ProfileOptions {
  /** Input size: one number for a square image or [height, width]. Required. */
  imageSize: number | readonly [number, number];
  /** Classifier outputs; default 1000. */
  numClasses?: number;
  /** Image channels; default 3. */
  inputChannels?: number;
  /** Padding convention; default 'symmetric'. */
  padding?: PaddingMode;
}

function conv(inputSize: [number, number], inChannels: number, outChannels: number, kernel: number, stride: number, groups: number, padding: PaddingMode): Cost & { outputSize: [number, number] } {
  const outputSize: [number, number] = [convOutputSize(inputSize[0], kernel, stride, padding), convOutputSize(inputSize[1], kernel, stride, padding)];
  const perOutput = (inChannels / groups) * kernel * kernel;
  const activations = outputSize[0] * outputSize[1] * outChannels;
  return { params: outChannels * perOutput, macs: activations * perOutput, activations, outputSize };
}

/** Parameters and MACs of the squeeze-excite on `channels` (two 1x1 convs with bias on the pooled 1x1 map). */
function squeezeExciteCost(channels: number, squeezeChannels: number): Cost {
  return {
    params: channels * squeezeChannels + squeezeChannels + squeezeChannels * channels + channels,
    macs: 2 * channels * squeezeChannels,
    activations: squeezeChannels + channels,
  };
}

/** Cost of one MBConv or fused MBConv block on an input of the given size. */
export function profileBlock(block: BlockSpec, inputSize: [number, number], padding: PaddingMode = 'symmetric'): BlockProfile {
  let params = 0;
  let macs = 0;
  let activations = 0;
  let outputSize: [number, number];
  // The channels the SE and the projection see: the expansion's, or the fused conv's output without expansion.
  let innerChannels = block.midChannels;
  if (block.fused) {
    innerChannels = block.hasExpansion ? block.midChannels : block.outChannels;
    const full = conv(inputSize, block.inChannels, innerChannels, block.kernel, block.stride, 1, padding);
    params += full.params + 2 * innerChannels;
    macs += full.macs;
    activations += full.activations;
    outputSize = full.outputSize;
  } else {
    if (block.hasExpansion) {
      const expand = conv(inputSize, block.inChannels, block.midChannels, 1, 1, 1, padding);
      params += expand.params + 2 * block.midChannels;
      macs += expand.macs;
      activations += expand.activations;
    }
    const depthwise = conv(inputSize, block.midChannels, block.midChannels, block.kernel, block.stride, block.midChannels, padding);
    params += depthwise.params + 2 * block.midChannels;
    macs += depthwise.macs;
    activations += depthwise.activations;
    outputSize = depthwise.outputSize;
  }
  if (block.seChannels > 0) {
    const se = squeezeExciteCost(innerChannels, block.seChannels);
    params += se.params;
    macs += se.macs;
    activations += se.activations;
  }
  if (!block.fused || block.hasExpansion) {
    const project = conv(outputSize, block.midChannels, block.outChannels, 1, 1, 1, padding);
    params += project.params + 2 * block.outChannels;
    macs += project.macs;
    activations += project.activations;
  }
  return { block, params, macs, activations, inputSize, outputSize };
}

function normalizeSize(size: number | readonly [number, number]): [number, number] {
  const pair: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  for (const side of pair) {
    if (!Number.isInteger(side) || side < 1) throw new ScalingError(`image size must be a positive integer number of pixels (or [height, width]), got ${JSON.stringify(size)}`);
  }
  return pair;
}

function operatorName(block: BlockSpec): string {
  return `${block.fused ? 'FusedMBConv' : 'MBConv'}${block.expandRatio}, k${block.kernel}x${block.kernel}`;
}

/**
 * Parameters and MACs per stage and in total, for any network spec, input size, class count and padding.
 * @throws ScalingError when the input is smaller than the network's total stride, or a count is invalid.
 */
export function profileNetwork(network: NetworkSpec, options: ProfileOptions): NetworkProfile {
  const imageSize = normalizeSize(options.imageSize);
  const numClasses = options.numClasses ?? 1000;
  const inputChannels = options.inputChannels ?? 3;
  const padding = options.padding ?? 'symmetric';
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ScalingError(`number of classes must be an integer ≥ 1, got ${String(numClasses)}`);
  if (!Number.isInteger(inputChannels) || inputChannels < 1) throw new ScalingError(`input channels must be an integer ≥ 1, got ${String(inputChannels)}`);
  if (padding !== 'symmetric' && padding !== 'same') throw new ScalingError(`padding must be 'symmetric' or 'same', got '${String(padding)}'`);
  if (Math.min(...imageSize) < network.totalStride) {
    throw new ScalingError(
      `input ${imageSize[0]}x${imageSize[1]} is smaller than the network's total stride ${network.totalStride}; use at least ${network.totalStride} pixels per side`,
    );
  }

  const rows: StageProfile[] = [];
  const stem = conv(imageSize, inputChannels, network.stemChannels, network.stemKernel, network.stemStride, 1, padding);
  rows.push({
    name: 'stem',
    operator: `Conv${network.stemKernel}x${network.stemKernel}`,
    inputSize: imageSize,
    outputSize: stem.outputSize,
    inChannels: inputChannels,
    outChannels: network.stemChannels,
    layers: 1,
    params: stem.params + 2 * network.stemChannels,
    macs: stem.macs,
    activations: stem.activations,
    blocks: [],
  });

  let size = stem.outputSize;
  let channels = network.stemChannels;
  for (const stage of network.stages) {
    const blocks: BlockProfile[] = [];
    const stageInput = size;
    for (const block of stage.blocks) {
      const profile = profileBlock(block, size, padding);
      blocks.push(profile);
      size = profile.outputSize;
    }
    rows.push({
      name: `stage${stage.index + 1}`,
      operator: operatorName(stage.blocks[0]!),
      inputSize: stageInput,
      outputSize: size,
      inChannels: channels,
      outChannels: stage.outChannels,
      layers: stage.repeats,
      params: blocks.reduce((sum, b) => sum + b.params, 0),
      macs: blocks.reduce((sum, b) => sum + b.macs, 0),
      activations: blocks.reduce((sum, b) => sum + b.activations, 0),
      blocks,
    });
    channels = stage.outChannels;
  }

  const head = conv(size, channels, network.headChannels, 1, 1, 1, padding);
  rows.push({
    name: 'head',
    operator: 'Conv1x1 & Pooling',
    inputSize: size,
    outputSize: head.outputSize,
    inChannels: channels,
    outChannels: network.headChannels,
    layers: 1,
    params: head.params + 2 * network.headChannels,
    macs: head.macs,
    activations: head.activations,
    blocks: [],
  });
  rows.push({
    name: 'classifier',
    operator: 'FC',
    inputSize: [1, 1],
    outputSize: [1, 1],
    inChannels: network.headChannels,
    outChannels: numClasses,
    layers: 1,
    params: network.headChannels * numClasses + numClasses,
    macs: network.headChannels * numClasses,
    activations: 0,
    blocks: [],
  });

  return {
    stages: rows,
    params: rows.reduce((sum, r) => sum + r.params, 0),
    macs: rows.reduce((sum, r) => sum + r.macs, 0),
    activations: rows.reduce((sum, r) => sum + r.activations, 0),
    imageSize,
    inputChannels,
    numClasses,
    padding,
  };
}

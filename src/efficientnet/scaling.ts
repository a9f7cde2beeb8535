/**
 * Compound scaling: the rounding rules of the reference (`round_filters`, `round_repeats`), the compound
 * coefficients d = α^φ, w = β^φ, r = γ^φ, and their application to stage args, which yields the
 * {@link NetworkSpec} that both the model builder and the analytic profiler read.
 */
import { UserError } from '../errors.js';
import {
  EFFICIENTNET_B0_HEAD_CHANNELS,
  type StageArgs,
} from './block-spec.js';

/** Thrown for a multiplier, coefficient or size that cannot describe a network. */
export class ScalingError extends UserError {
  override name = 'ScalingError';
}

/** Requires a finite number > 0; `what` names it in the message. */
export function assertPositive(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ScalingError(`${what} must be a finite number > 0, got ${String(value)}`);
  }
}

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new ScalingError(`${what} must be an integer ≥ 1, got ${String(value)}`);
}

/**
 * Scales a channel count by the width multiplier and rounds it as the reference does (TF `round_filters`,
 * torchvision/timm `_make_divisible`): `max(minDepth, int(c·w + divisor/2) // divisor · divisor)`, plus one
 * divisor when that fell below 90% of c·w.
 * @param channels channels before scaling (> 0)
 * @param widthMultiplier the width coefficient w (> 0)
 * @param divisor channels become a multiple of this; default 8
 * @param minDepth the smallest result; default `divisor`
 * @param roundLimit the fraction of c·w below which one divisor is added; default 0.9 (the reference's); 0 never adds
 *   (timm's `round_limit=0.` of EfficientNetV2-B0..B3)
 */
export function roundFilters(channels: number, widthMultiplier: number, divisor = 8, minDepth?: number, roundLimit = 0.9): number {
  assertPositive(channels, 'channels');
  assertPositive(widthMultiplier, 'width multiplier');
  assertPositiveInteger(divisor, 'channel divisor');
  const minimum = minDepth ?? divisor;
  assertPositiveInteger(minimum, 'minimum channels');
  const scaled = channels * widthMultiplier;
  // Python's int() truncates and // floors; for the non-negative values here both are Math.floor.
  let rounded = Math.max(minimum, Math.floor(Math.floor(scaled + divisor / 2) / divisor) * divisor);
  if (rounded < roundLimit * scaled) rounded += divisor;
  return rounded;
}

/** Scales a stage's block count by the depth multiplier, rounding up: `ceil(d · repeats)` (TF `round_repeats`). */
export function roundRepeats(repeats: number, depthMultiplier: number): number {
  assertPositiveInteger(repeats, 'repeats');
  assertPositive(depthMultiplier, 'depth multiplier');
  return Math.ceil(depthMultiplier * repeats);
}

/** The compound-scaling base coefficients found by the paper's grid search at φ = 1. */
export interface CompoundCoefficients {
  /** Depth base α (≥ 1 in the paper); default 1.2. */
  alpha: number;
  /** Width base β; default 1.1. */
  beta: number;
  /** Resolution base γ; default 1.15. */
  gamma: number;
}

/** The paper's α = 1.2, β = 1.1, γ = 1.15 (α·β²·γ² ≈ 1.92 ≈ 2). */
export const DEFAULT_COMPOUND_COEFFICIENTS: Readonly<CompoundCoefficients> = Object.freeze({ alpha: 1.2, beta: 1.1, gamma: 1.15 });

/** Real-valued multipliers before any rounding. */
export interface CompoundMultipliers {
  /** d = α^φ */
  depth: number;
  /** w = β^φ */
  width: number;
  /** r = γ^φ, the factor applied to the base resolution */
  resolution: number;
}

/**
 * The compound multipliers for a given φ: d = α^φ, w = β^φ, r = γ^φ. φ may be any finite number (negative scales
 * down); α, β, γ must be finite and > 0.
 */
export function compoundMultipliers(phi: number, coefficients: Partial<CompoundCoefficients> = {}): CompoundMultipliers {
  if (typeof phi !== 'number' || !Number.isFinite(phi)) throw new ScalingError(`compound coefficient φ must be a finite number, got ${String(phi)}`);
  const { alpha, beta, gamma } = { ...DEFAULT_COMPOUND_COEFFICIENTS, ...coefficients };
  assertPositive(alpha, 'α (depth base)');
  assertPositive(beta, 'β (width base)');
  assertPositive(gamma, 'γ (resolution base)');
  return { depth: alpha ** phi, width: beta ** phi, resolution: gamma ** phi };
}

/** The FLOPs growth factor of one step of φ, α·β²·γ² (≈ 2 in the paper). */
export function flopsGrowthPerPhi(coefficients: Partial<CompoundCoefficients> = {}): number {
  const { alpha, beta, gamma } = { ...DEFAULT_COMPOUND_COEFFICIENTS, ...coefficients };
  return alpha * beta * beta * gamma * gamma;
}

/**
 * The multiple a computed resolution is rounded to. All reference resolutions (224, 240, 260, 300, 380, 456, 528,
 * 600, 672, 800) are multiples of 4 while several are not multiples of 8, so 4 is the finest step consistent with
 * all of them.
 */
export const DEFAULT_RESOLUTION_MULTIPLE = 4;

/**
 * Rounds a real resolution (base · γ^φ) to the nearest multiple of `multiple` (ties away from zero), never below
 * `multiple`. E.g. 224 · 1.15^0.5 = 240.2 → 240 (B1's), 224 · 1.15 = 257.6 → 256.
 */
export function roundResolution(resolution: number, multiple = DEFAULT_RESOLUTION_MULTIPLE): number {
  assertPositive(resolution, 'resolution');
  assertPositiveInteger(multiple, 'resolution multiple');
  return Math.max(multiple, Math.round(resolution / multiple) * multiple);
}

/** One MBConv block after scaling: everything a model builder needs to instantiate it. */
export interface BlockSpec {
  /** Index of the block in the whole network, 0-based (stochastic depth uses index / blockCount). */
  index: number;
  /** Index of the stage the block belongs to, 0-based. */
  stage: number;
  /** Index of the block inside its stage, 0-based; only block 0 changes stride and channels. */
  indexInStage: number;
  /** Depthwise kernel size (odd). */
  kernel: number;
  /** Depthwise stride: the stage's stride for the first block, 1 for the others. */
  stride: number;
  /** Expansion ratio as written in the block string. */
  expandRatio: number;
  /** Input channels. */
  inChannels: number;
  /**
   * Channels inside the block (after expansion): `makeDivisible(inChannels · expandRatio, divisor)` as torchvision
   * and timm compute it (equal to the TF reference's in·e for integer e).
   */
  midChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Whether the block has the 1x1 expansion conv (+BN+SiLU): midChannels ≠ inChannels. */
  hasExpansion: boolean;
  /** Squeeze-excite ratio (0 = no SE). */
  seRatio: number;
  /** SE bottleneck channels, `max(1, floor(inChannels · seRatio))`, or 0 when the block has no SE. */
  seChannels: number;
  /** Whether the identity skip (with stochastic depth) is used: stride 1, in == out and the stage allows skips. */
  hasResidual: boolean;
  /**
   * Whether the block is a fused MBConv: a full kxk convolution (stride s) replaces the 1x1 expansion and the
   * depthwise conv. With `hasExpansion` it maps in → mid and a 1x1 projection follows; without, it maps in → out
   * and nothing follows (torchvision's FusedMBConv). SE, when present, acts on that convolution's output.
   */
  fused: boolean;
}

/** One stage after scaling. */
export interface StageSpec extends StageArgs {
  /** Stage index, 0-based (the paper's Table 1 numbers it index + 2). */
  index: number;
  // The StageArgs fields hold the values after scaling: repeats = roundRepeats(base.repeats, depth), in/out
  // channels = roundFilters(base channels, width); kernel, stride, expansion, SE ratio and skip are unchanged.
  /** The stage's blocks in order. */
  blocks: BlockSpec[];
  /** The unscaled stage args this stage came from. */
  base: StageArgs;
}

/** A whole scaled network body: stem conv, stages of MBConv blocks, head conv (pool, dropout and FC follow). */
export interface NetworkSpec {
  /** Width multiplier applied. */
  width: number;
  /** Depth multiplier applied. */
  depth: number;
  /** Channel divisor used by roundFilters. */
  divisor: number;
  /** Which parts width and depth scaled (see {@link ScalingRule}). */
  rule: ScalingRule;
  /** Stem conv output channels (3x3, stride 2, then BN + SiLU). */
  stemChannels: number;
  /** Stem conv kernel size (3). */
  stemKernel: number;
  /** Stem conv stride (2). */
  stemStride: number;
  /** Head 1x1 conv output channels (then BN + SiLU, global pool, dropout, FC). */
  headChannels: number;
  /** The stages in order. */
  stages: StageSpec[];
  /** Total number of MBConv blocks (the n in stochastic depth's i / n). */
  blockCount: number;
  /** Product of all strides (stem and stages): the smallest useful input size; 32 for EfficientNet. */
  totalStride: number;
}

/**
 * How width and depth apply to the parts of a network: 'efficientnet' scales the stem, every stage and the head;
 * 'lite' (EfficientNet-Lite, timm's `_gen_efficientnet_lite`) keeps the stem (32) and the head (1280) channels and
 * the repeats of the first and the last stage as they are, so that the family stays small and quantises well;
 * 'efficientnetv2' (EfficientNetV2-B0..B3, timm's `_gen_efficientnetv2_base`) scales every part as 'efficientnet'
 * does but rounds channels to the nearest multiple of the divisor without the reference's 90% floor (B3's first
 * stage has 16 channels, not 24).
 */
export type ScalingRule = 'efficientnet' | 'lite' | 'efficientnetv2';

/** The scaling rules, for validation and messages. */
export const SCALING_RULES: readonly ScalingRule[] = ['efficientnet', 'lite', 'efficientnetv2'];

/** The rules a configuration file or model card writes: every rule but EfficientNet's own (the default, never written). */
export type WrittenScalingRule = Exclude<ScalingRule, 'efficientnet'>;

/** The values of {@link WrittenScalingRule}. */
export const WRITTEN_SCALING_RULES: readonly WrittenScalingRule[] = ['lite', 'efficientnetv2'];

/** Options of {@link scaleNetwork}. */
export interface ScaleNetworkOptions {
  /** Which parts width and depth scale; default 'efficientnet' (all). */
  rule?: ScalingRule;
  /** Width multiplier w (> 0); default 1. */
  width?: number;
  /** Depth multiplier d (> 0); default 1. */
  depth?: number;
  /** Channel divisor; default 8. */
  divisor?: number;
  /** Minimum channels after rounding; default the divisor. */
  minDepth?: number;
  /** Stem channels before scaling; default the first stage's input channels (32 for B0, 24 for V2-S). */
  stemChannels?: number;
  /** Head channels before scaling; default 1280 (rounded with roundFilters like every other width). */
  headChannels?: number;
}

/**
 * torchvision/timm `_make_divisible` without a multiplier: the expanded (mid) channels of a block, `inChannels ·
 * expandRatio` rounded to a multiple of `divisor`. Exported for the one-shot supernet, which sizes its shared weights
 * for the largest mid channels any candidate builds.
 */
export function makeDivisible(value: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor(Math.floor(value + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

/**
 * Applies width and depth scaling to stage args (the resolution is the caller's): every in/out channel count, the
 * stem and the head through {@link roundFilters}, every repeat count through {@link roundRepeats}, then expands the
 * stages into blocks.
 */
export function scaleNetwork(stages: readonly StageArgs[], options: ScaleNetworkOptions = {}): NetworkSpec {
  const width = options.width ?? 1;
  const depth = options.depth ?? 1;
  const divisor = options.divisor ?? 8;
  assertPositive(width, 'width multiplier');
  assertPositive(depth, 'depth multiplier');
  if (stages.length === 0) throw new ScalingError('a network needs at least one stage');
  const rule = options.rule ?? 'efficientnet';
  if (!SCALING_RULES.includes(rule)) throw new ScalingError(`scaling rule must be one of ${SCALING_RULES.join(', ')}, got '${String(rule)}'`);
  const lite = rule === 'lite';
  const roundLimit = rule === 'efficientnetv2' ? 0 : 0.9;
  const filters = (channels: number): number => roundFilters(channels, width, divisor, options.minDepth, roundLimit);
  // The stem feeds the first stage: its channels are that stage's input channels (torchvision's rule; B0's 32).
  // Lite keeps them unscaled, and the first stage then reads the stem's channels as they are.
  const stemChannels = lite ? options.stemChannels ?? stages[0]!.inChannels : filters(options.stemChannels ?? stages[0]!.inChannels);
  const headChannels = lite ? options.headChannels ?? EFFICIENTNET_B0_HEAD_CHANNELS : filters(options.headChannels ?? EFFICIENTNET_B0_HEAD_CHANNELS);
  const stemStride = 2;

  let index = 0;
  let totalStride = stemStride;
  const scaled: StageSpec[] = stages.map((base, stageIndex) => {
    const inChannels = lite && stageIndex === 0 ? stemChannels : filters(base.inChannels);
    const outChannels = filters(base.outChannels);
    const fixedRepeats = lite && (stageIndex === 0 || stageIndex === stages.length - 1);
    const repeats = fixedRepeats ? base.repeats : roundRepeats(base.repeats, depth);
    totalStride *= base.stride;
    const blocks: BlockSpec[] = [];
    for (let b = 0; b < repeats; b += 1) {
      const blockIn = b === 0 ? inChannels : outChannels;
      const stride = b === 0 ? base.stride : 1;
      const midChannels = makeDivisible(blockIn * base.expandRatio, divisor);
      blocks.push({
        index: index++,
        stage: stageIndex,
        indexInStage: b,
        kernel: base.kernel,
        stride,
        expandRatio: base.expandRatio,
        inChannels: blockIn,
        midChannels,
        outChannels,
        hasExpansion: midChannels !== blockIn,
        seRatio: base.seRatio,
        seChannels: base.seRatio > 0 ? Math.max(1, Math.floor(blockIn * base.seRatio)) : 0,
        hasResidual: base.skip && stride === 1 && blockIn === outChannels,
        fused: base.fused,
      });
    }
    return {
      index: stageIndex,
      repeats,
      kernel: base.kernel,
      stride: base.stride,
      expandRatio: base.expandRatio,
      inChannels,
      outChannels,
      seRatio: base.seRatio,
      skip: base.skip,
      fused: base.fused,
      blocks,
      base: { ...base },
    };
  });
  return { width, depth, divisor, rule, stemChannels, stemKernel: 3, stemStride, headChannels, stages: scaled, blockCount: index, totalStride };
}

/**
 * The drop probability of a block's residual branch under stochastic depth: `maxRate · index / blockCount`
 * (torchvision and timm; the paper's survival probability 1 − 0.2 · i / n for maxRate 0.2).
 */
export function stochasticDepthRate(block: BlockSpec, network: NetworkSpec, maxRate = 0.2): number {
  if (!(maxRate >= 0 && maxRate < 1)) throw new ScalingError(`stochastic depth rate must be in [0, 1), got ${String(maxRate)}`);
  return (maxRate * block.index) / network.blockCount;
}

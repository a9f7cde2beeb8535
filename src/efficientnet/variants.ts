/**
 * The variant registry: the reference (width, depth, resolution, dropout) of b0..b8 and l2, EfficientNetV2's S, M
 * and L (their own stages, as torchvision 0.14 builds them), EfficientNet-Lite0..4 (timm's), EfficientNetV2-B0..B3
 * (timm's tf_efficientnetv2_b*), custom configurations from explicit multipliers or from compound scaling (φ, α, β, γ),
 * and the network spec each one describes.
 */
import { UserError } from '../errors.js';
import { decodeArchitecture, efficientNetB0Stages, type StageArgs } from './block-spec.js';
import {
  DEFAULT_RESOLUTION_MULTIPLE,
  ScalingError,
  assertPositive,
  compoundMultipliers,
  roundResolution,
  scaleNetwork,
  type CompoundCoefficients,
  type NetworkSpec,
  type ScalingRule,
} from './scaling.js';
import type { ActivationKind } from './layers.js';

/** A complete EfficientNet configuration: how to scale B0, at which input size, with which classifier dropout. */
export interface EfficientNetConfig {
  /** 'b0'..'b8', 'l2', 'v2-s', 'v2-m', 'v2-l', 'v2-xl', 'lite0'..'lite4', 'v2-b0'..'v2-b3', or 'custom'. */
  name: string;
  /** Width multiplier w. */
  width: number;
  /** Depth multiplier d. */
  depth: number;
  /** Native input resolution (square). */
  resolution: number;
  /** Dropout before the classifier. */
  dropout: number;
  /** The compound coefficient φ when the configuration came from compound scaling, else null. */
  phi: number | null;
  /** Which parts width and depth scale, and how channels round; absent: 'efficientnet'. Lite's is 'lite', V2-B's 'efficientnetv2'. */
  scaling?: ScalingRule;
  /** The activation after every batch norm (and in SE); absent: 'silu'. EfficientNet-Lite's is 'relu6'. */
  activation?: ActivationKind;
}

/** Thrown for an unknown variant name. */
export class UnknownVariantError extends UserError {
  override name = 'UnknownVariantError';
}

const REGISTRY: Readonly<Record<string, Readonly<EfficientNetConfig>>> = Object.freeze(
  Object.fromEntries([
    ...(
      [
        ['b0', 1.0, 1.0, 224, 0.2],
        ['b1', 1.0, 1.1, 240, 0.2],
        ['b2', 1.1, 1.2, 260, 0.3],
        ['b3', 1.2, 1.4, 300, 0.3],
        ['b4', 1.4, 1.8, 380, 0.4],
        ['b5', 1.6, 2.2, 456, 0.4],
        ['b6', 1.8, 2.6, 528, 0.5],
        ['b7', 2.0, 3.1, 600, 0.5],
        ['b8', 2.2, 3.6, 672, 0.5],
        ['l2', 4.3, 5.3, 800, 0.5],
        // EfficientNetV2 (Tan & Le 2021, Table 4; torchvision's efficientnet_v2_s/m/l): no compound multipliers, the
        // stages below; resolution = torchvision's eval crop of its published weights.
        ['v2-s', 1.0, 1.0, 384, 0.2],
        ['v2-m', 1.0, 1.0, 480, 0.3],
        ['v2-l', 1.0, 1.0, 480, 0.4],
        // V2-XL (timm's tf_efficientnetv2_xl; torchvision has none): the TF reference's test size and dropout.
        ['v2-xl', 1.0, 1.0, 512, 0.4],
      ] as const
    ).map(([name, width, depth, resolution, dropout]) => [name, Object.freeze({ name, width, depth, resolution, dropout, phi: null })]),
    // EfficientNet-Lite (timm's efficientnet_lite0..4, after the TF reference's lite/): B0's stages without
    // squeeze-excitation, ReLU6, the stem, the head and the first and last stages' repeats unscaled.
    ...(
      [
        ['lite0', 1.0, 1.0, 224, 0.2],
        ['lite1', 1.0, 1.1, 240, 0.2],
        ['lite2', 1.1, 1.2, 260, 0.3],
        ['lite3', 1.2, 1.4, 280, 0.3],
        ['lite4', 1.4, 1.8, 300, 0.3],
      ] as const
    ).map(([name, width, depth, resolution, dropout]) => [
      name,
      Object.freeze({ name, width, depth, resolution, dropout, phi: null, scaling: 'lite' as const, activation: 'relu6' as const }),
    ]),
    // EfficientNetV2-B0..B3 (the V2 paper's smaller models; the TF reference's efficientnetv2-b0..b3, timm's
    // tf_efficientnetv2_b0..b3): V2's base stages below scaled by width and depth, channels rounded without the 90%
    // floor; resolution = the published test size, dropout the reference's.
    ...(
      [
        ['v2-b0', 1.0, 1.0, 224, 0.2],
        ['v2-b1', 1.0, 1.1, 240, 0.2],
        ['v2-b2', 1.1, 1.2, 260, 0.3],
        ['v2-b3', 1.2, 1.4, 300, 0.3],
      ] as const
    ).map(([name, width, depth, resolution, dropout]) => [name, Object.freeze({ name, width, depth, resolution, dropout, phi: null, scaling: 'efficientnetv2' as const })]),
  ]),
);

/** EfficientNetV2-B's unscaled stages (timm's `_gen_efficientnetv2_base`; the first, a plain conv, is Fused-MBConv e1). */
const V2_BASE_BLOCK_STRINGS = Object.freeze([
  'r1_k3_s11_e1_i32_o16_f1',
  'r2_k3_s22_e4_i16_o32_f1',
  'r2_k3_s22_e4_i32_o48_f1',
  'r3_k3_s22_e4_i48_o96_se0.25',
  'r5_k3_s11_e6_i96_o112_se0.25',
  'r8_k3_s22_e6_i112_o192_se0.25',
]);

/**
 * EfficientNetV2's unscaled stages as TF block strings (`f1`: Fused-MBConv, without squeeze-excitation; the stem's
 * channels are the first stage's `i`), transcribed from torchvision 0.14's `_efficientnet_conf` (the V2 paper's
 * Table 4 with the published S/M/L depths). Every other registered variant uses B0's seven stages.
 */
export const EFFICIENTNET_V2_BLOCK_STRINGS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'v2-s': Object.freeze([
    'r2_k3_s11_e1_i24_o24_f1',
    'r4_k3_s22_e4_i24_o48_f1',
    'r4_k3_s22_e4_i48_o64_f1',
    'r6_k3_s22_e4_i64_o128_se0.25',
    'r9_k3_s11_e6_i128_o160_se0.25',
    'r15_k3_s22_e6_i160_o256_se0.25',
  ]),
  'v2-m': Object.freeze([
    'r3_k3_s11_e1_i24_o24_f1',
    'r5_k3_s22_e4_i24_o48_f1',
    'r5_k3_s22_e4_i48_o80_f1',
    'r7_k3_s22_e4_i80_o160_se0.25',
    'r14_k3_s11_e6_i160_o176_se0.25',
    'r18_k3_s22_e6_i176_o304_se0.25',
    'r5_k3_s11_e6_i304_o512_se0.25',
  ]),
  'v2-l': Object.freeze([
    'r4_k3_s11_e1_i32_o32_f1',
    'r7_k3_s22_e4_i32_o64_f1',
    'r7_k3_s22_e4_i64_o96_f1',
    'r10_k3_s22_e4_i96_o192_se0.25',
    'r19_k3_s11_e6_i192_o224_se0.25',
    'r25_k3_s22_e6_i224_o384_se0.25',
    'r7_k3_s11_e6_i384_o640_se0.25',
  ]),
  'v2-xl': Object.freeze([
    'r4_k3_s11_e1_i32_o32_f1',
    'r8_k3_s22_e4_i32_o64_f1',
    'r8_k3_s22_e4_i64_o96_f1',
    'r16_k3_s22_e4_i96_o192_se0.25',
    'r24_k3_s11_e6_i192_o256_se0.25',
    'r32_k3_s22_e6_i256_o512_se0.25',
    'r8_k3_s11_e6_i512_o640_se0.25',
  ]),
  'v2-b0': V2_BASE_BLOCK_STRINGS,
  'v2-b1': V2_BASE_BLOCK_STRINGS,
  'v2-b2': V2_BASE_BLOCK_STRINGS,
  'v2-b3': V2_BASE_BLOCK_STRINGS,
});

/** Names of the registered variants: b0..b8 and l2 (smallest first), v2-s, v2-m, v2-l, v2-xl, lite0..lite4, then v2-b0..v2-b3. */
export function variantNames(): string[] {
  return Object.keys(REGISTRY);
}

/** Whether a registered variant name is an EfficientNetV2 ('v2-s', 'v2-m', 'v2-l', 'v2-xl', 'v2-b0'..'v2-b3'), which has its own stages. */
export function isV2Variant(name: string): boolean {
  return Object.hasOwn(EFFICIENTNET_V2_BLOCK_STRINGS, name);
}

/** Whether a registered variant name is an EfficientNet-Lite ('lite0'..'lite4'). */
export function isLiteVariant(name: string): boolean {
  return /^lite[0-4]$/.test(name);
}

/**
 * The unscaled stages a configuration named `name` is built from: EfficientNetV2's own for 'v2-s', 'v2-m' and
 * 'v2-l', B0's without squeeze-excitation for 'lite0'..'lite4', B0's for every other name ('b0'..'l2', 'custom').
 */
export function variantStages(name: string): StageArgs[] {
  if (isLiteVariant(name)) return efficientNetB0Stages().map((stage) => ({ ...stage, seRatio: 0 }));
  const strings = EFFICIENTNET_V2_BLOCK_STRINGS[name];
  return strings === undefined ? efficientNetB0Stages() : decodeArchitecture(strings);
}

/** The registry key of a variant name: lower case, without an `efficientnet` prefix, V2's `_` and `-` alike. */
function variantKey(name: string): string {
  const key = String(name).toLowerCase().replace(/^(tf_)?efficientnet[-_]?/, '');
  const v2 = /^v2[-_]?([sml]|xl|b[0-3])$/.exec(key);
  return v2 === null ? key : `v2-${v2[1]!}`;
}

/**
 * The registered configuration of a variant. Accepts 'b3', 'B3', 'efficientnet-b3' and 'efficientnet_b3'; for V2
 * 'v2-s', 'V2_S', 'efficientnet_v2_s' (torchvision's name) and 'efficientnetv2-s'; 'v2-b0', 'efficientnetv2_b0' and
 * 'tf_efficientnetv2_b0' (timm's).
 * @throws UnknownVariantError listing the valid names.
 */
export function getVariant(name: string): EfficientNetConfig {
  const key = variantKey(name);
  const config = REGISTRY[key];
  if (config === undefined) {
    throw new UnknownVariantError(`unknown EfficientNet variant '${name}'; valid names: ${variantNames().join(', ')} (or a custom width/depth/resolution)`);
  }
  return { ...config };
}

/**
 * The dropout a custom configuration gets unless given: that of the registered variant with the nearest width
 * multiplier (the reference raises dropout with model size: 0.2 for b0/b1 up to 0.5 from b6).
 */
export function defaultDropout(width: number): number {
  let best = REGISTRY.b0!;
  for (const config of Object.values(REGISTRY)) {
    if (isV2Variant(config.name) || isLiteVariant(config.name)) continue;
    if (Math.abs(config.width - width) < Math.abs(best.width - width)) best = config;
  }
  return best.dropout;
}

/** The largest stochastic-depth (drop-path) rate of a model unless given: 0.2, the reference's (survival 0.8). */
export const DEFAULT_STOCHASTIC_DEPTH = 0.2;

/** EfficientNet's total stride with B0's stages: the smallest input those stages take (a 1x1 last map). */
export const MIN_RESOLUTION = 32;

/**
 * The smallest input size of any network of the family: 8 pixels, the size at which the small-image rule's stages
 * (stem stride 2, one stride-2 stage left: total stride 4) still leave a 2x2 last map. Below B0's total stride (32)
 * a network needs stages with fewer strides; the model card's resolver checks the size against the stages' own
 * total stride. Sizes below 32 px are how a proxy sees fewer pixels than its data has (docs/scaling.md).
 */
export const MIN_IMAGE_SIZE = 8;

function checkResolution(resolution: number): void {
  assertPositive(resolution, 'resolution');
  if (!Number.isInteger(resolution)) throw new ScalingError(`resolution must be an integer number of pixels, got ${resolution}`);
  if (resolution < MIN_IMAGE_SIZE) {
    throw new ScalingError(`resolution ${resolution} is below the smallest input any network takes (${MIN_IMAGE_SIZE} pixels)`);
  }
}

/** Options of {@link customConfig}. */
export interface CustomConfigOptions {
  /** Width multiplier (> 0). */
  width: number;
  /** Depth multiplier (> 0). */
  depth: number;
  /** Input resolution in pixels (integer ≥ {@link MIN_IMAGE_SIZE}; below 32 the stages need fewer strides). */
  resolution: number;
  /** Classifier dropout in [0, 1); default {@link defaultDropout}(width). */
  dropout?: number;
}

/** A configuration from explicit multipliers. */
export function customConfig(options: CustomConfigOptions): EfficientNetConfig {
  assertPositive(options.width, 'width multiplier');
  assertPositive(options.depth, 'depth multiplier');
  checkResolution(options.resolution);
  const dropout = options.dropout ?? defaultDropout(options.width);
  if (!(dropout >= 0 && dropout < 1)) throw new ScalingError(`dropout must be in [0, 1), got ${String(dropout)}`);
  return { name: 'custom', width: options.width, depth: options.depth, resolution: options.resolution, dropout, phi: null };
}

/** Options of {@link compoundConfig}. */
export interface CompoundConfigOptions extends Partial<CompoundCoefficients> {
  /** The compound coefficient φ (any finite number; 0 is B0). */
  phi: number;
  /** Resolution at φ = 0; default 224. */
  baseResolution?: number;
  /** The computed resolution is rounded to a multiple of this; default 4 (see DEFAULT_RESOLUTION_MULTIPLE). */
  resolutionMultiple?: number;
  /** Classifier dropout; default {@link defaultDropout}(width). */
  dropout?: number;
}

/**
 * A configuration from compound scaling: width β^φ, depth α^φ, resolution round(base · γ^φ) to a multiple of
 * `resolutionMultiple` (4 by default; all reference resolutions are multiples of 4).
 */
export function compoundConfig(options: CompoundConfigOptions): EfficientNetConfig {
  const multipliers = compoundMultipliers(options.phi, options);
  const base = options.baseResolution ?? 224;
  checkResolution(base);
  const resolution = roundResolution(base * multipliers.resolution, options.resolutionMultiple ?? DEFAULT_RESOLUTION_MULTIPLE);
  const config = customConfig({
    width: multipliers.width,
    depth: multipliers.depth,
    resolution,
    ...(options.dropout === undefined ? {} : { dropout: options.dropout }),
  });
  return { ...config, phi: options.phi };
}

/**
 * The scaled network spec of a configuration (the variant's own stages, {@link variantStages}, unless others are
 * given), under the configuration's scaling rule (EfficientNet's unless it says otherwise).
 */
export function networkSpec(
  config: Pick<EfficientNetConfig, 'width' | 'depth'> & { name?: string; scaling?: ScalingRule },
  stages: readonly StageArgs[] = variantStages(config.name ?? 'custom'),
): NetworkSpec {
  return scaleNetwork(stages, { width: config.width, depth: config.depth, ...(config.scaling === undefined ? {} : { rule: config.scaling }) });
}

/**
 * The one resolver of model cards: every way of naming a model (a registered variant, custom multipliers, compound
 * scaling, a configuration file written by `effnet scale --write`, a search trial's configuration, another model's
 * card) plus the user's overrides becomes a {@link ModelCard} here and nowhere else. `effnet train`, `effnet info`,
 * the search trials and weight import all call it, so they agree on every field of the same configuration.
 *
 * The rules, in order:
 * - scaling: a variant's width/depth/resolution/dropout; custom width/depth at 224px; compound scaling's
 *   β^φ, α^φ, round(224·γ^φ); a configuration's own values; flags override each of them. Overriding a variant's
 *   width or depth makes the model 'custom'. Dropout defaults to the registry's rule (defaultDropout: the dropout
 *   of the variant with the nearest width), drop-path to 0.2.
 * - stages: a configuration's block strings or a card's as they are; a configuration without stages means B0's as
 *   they are (what `effnet scale` profiles); EfficientNetV2 variants their own; a b0..l2 variant, custom or compound
 *   model gets B0's stages with the
 *   small-image rule at training sizes up to 64px (card/small-images.ts). `strides` then replaces the first-block
 *   stride of every stage.
 * - conventions: symmetric padding, torchvision's batch norm (eps 1e-3 for b5–b7 and V2), 3 input channels, unless given.
 * - eval transform: ImageNet's mean and std, bicubic, crop_pct 1 up to 64px and size / (size + 32) above, at the
 *   training size, unless given. A card source keeps its own eval transform when the resolution stays.
 */
import { decodeArchitecture, encodeArchitecture, type StageArgs } from '../efficientnet/block-spec.js';
import { resolveBatchNorm, type BatchNormChoice } from '../efficientnet/batch-norm.js';
import type { PaddingMode } from '../efficientnet/profile.js';
import {
  compoundConfig,
  customConfig,
  DEFAULT_STOCHASTIC_DEPTH,
  getVariant,
  isV2Variant,
  MIN_IMAGE_SIZE,
  variantStages,
  type EfficientNetConfig,
} from '../efficientnet/variants.js';
import { UserError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms/normalize.js';
import { familyOf, readScaledConfig, stagesOf, validateScaledConfig, type ScaledConfigJson } from './config-file.js';
import { MODEL_CARD_VERSION, ModelCardError, parseModelCard, totalStrideOf, type ArchitectureCard, type CardOrigin, type EvalTransformCard, type ModelCard } from './model-card.js';
import { defaultCropPct, isSmallImage, smallImageStages } from './small-images.js';
import type { Tta } from './tta.js';

/** Which network a card describes, before overrides. */
export type ModelSource =
  /** A registered variant: 'b0'..'b8', 'l2', 'v2-s', 'v2-m', 'v2-l' (also 'B3', 'efficientnet-b3', 'efficientnet_v2_s'). */
  | { kind: 'variant'; name: string }
  /** Explicit width and depth multipliers on B0 (224px unless `resolution` is given). */
  | { kind: 'custom'; width: number; depth: number }
  /** Compound scaling of B0 by φ with α, β, γ (default 1.2, 1.1, 1.15) from `baseResolution` (default 224). */
  | { kind: 'compound'; phi: number; alpha?: number; beta?: number; gamma?: number; baseResolution?: number }
  /** A configuration file written by `effnet scale --write` (read and validated here). */
  | { kind: 'config-file'; path: string }
  /** A search trial's scaled configuration; `detail` names the search and trial. */
  | { kind: 'search-trial'; config: ScaledConfigJson; detail: string }
  /** Another model's card (fine-tuning from it: same network, new classes). */
  | { kind: 'card'; card: ModelCard };

/** Overrides of the eval transform. */
export interface EvalOverrides {
  /**
   * Eval input size in pixels, independent of the training resolution (FixRes: test larger than you train); default
   * the training resolution. The crop fraction's rule still follows the training resolution.
   */
  size?: number;
  /** Center-crop fraction in (0, 1]. */
  cropPct?: number;
  /** Normalisation mean (RGB, 0..1). */
  mean?: readonly [number, number, number];
  /** Normalisation std (RGB, 0..1). */
  std?: readonly [number, number, number];
  /** Resize filter; default bicubic. */
  interpolation?: 'bicubic' | 'bilinear';
  /** Test-time augmentation (a mode of src/card/tta.ts; 'none' removes a source card's); default none. */
  tta?: Tta | 'none';
}

/** What to resolve: a source, the classes, and the overrides the user gave (absent fields take the rules above). */
export interface CardRequest {
  /** The network before overrides. */
  source: ModelSource;
  /** The class count, or the class names (one per output). */
  classes: number | readonly string[];
  /** Width multiplier. */
  width?: number;
  /** Depth multiplier. */
  depth?: number;
  /** Training resolution in pixels (integer >= 32). */
  resolution?: number;
  /** Classifier dropout in [0, 1). */
  dropout?: number;
  /** Largest stochastic-depth rate in [0, 1). */
  stochasticDepth?: number;
  /** First-block stride of every stage (each 1 or 2, one per stage). */
  strides?: readonly number[];
  /** Unscaled stages (block strings or decoded), replacing the source's. */
  stages?: readonly string[] | readonly StageArgs[];
  /** Convolution padding. */
  padding?: PaddingMode;
  /** Batch-norm convention or values. */
  batchNorm?: BatchNormChoice;
  /** Input channels. */
  inChannels?: number;
  /** Eval transform overrides. */
  eval?: EvalOverrides;
}

function fail(message: string): never {
  throw new ModelCardError(message);
}

/** Runs a scaling step; its user errors (ScalingError, UnknownVariantError, BlockSpecError) pass unchanged. */
function scaled<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new ModelCardError(error instanceof Error ? error.message : String(error));
  }
}

interface Base {
  config: EfficientNetConfig;
  /** The source's stages, or null when the rule decides (B0's, small-image rule). */
  stages: StageArgs[] | null;
  origin: CardOrigin;
  card: ModelCard | null;
}

function baseOf(source: ModelSource): Base {
  switch (source.kind) {
    case 'variant': {
      const config = scaled(() => getVariant(source.name));
      // EfficientNetV2 brings its own stages (no small-image rule: it is B0's stages the rule rewrites).
      const stages = isV2Variant(config.name) ? variantStages(config.name) : null;
      return { config, stages, origin: { kind: 'variant', detail: config.name }, card: null };
    }
    case 'custom': {
      const config = scaled(() => customConfig({ width: source.width, depth: source.depth, resolution: 224 }));
      return { config, stages: null, origin: { kind: 'custom', detail: `width ${source.width}, depth ${source.depth}` }, card: null };
    }
    case 'compound': {
      const { phi, alpha, beta, gamma, baseResolution } = source;
      const config = scaled(() =>
        compoundConfig({ phi, ...(alpha === undefined ? {} : { alpha }), ...(beta === undefined ? {} : { beta }), ...(gamma === undefined ? {} : { gamma }), ...(baseResolution === undefined ? {} : { baseResolution }) }),
      );
      return { config, stages: null, origin: { kind: 'compound', detail: `phi ${phi}, alpha ${alpha ?? 1.2}, beta ${beta ?? 1.1}, gamma ${gamma ?? 1.15}` }, card: null };
    }
    case 'config-file': {
      const file = readScaledConfig(source.path);
      return fromConfig(file, { kind: 'config-file', detail: source.path });
    }
    case 'search-trial':
      return fromConfig(validateScaledConfig(source.config, source.detail), { kind: 'search-trial', detail: source.detail });
    case 'card': {
      const card = parseModelCard(source.card, 'the source model card');
      const a = card.architecture;
      return { config: configOfCard(card), stages: decodeArchitecture(a.stages), origin: card.origin, card };
    }
    default:
      return fail(`unknown model source ${JSON.stringify(source)}; expected kind variant, custom, compound, config-file, search-trial or card`);
  }
}

function fromConfig(config: ScaledConfigJson, origin: CardOrigin): Base {
  const built = { ...scaled(() => customConfig({ width: config.width, depth: config.depth, resolution: config.resolution, dropout: config.dropout })), ...familyOf(config) };
  return { config: built, stages: stagesOf(config), origin, card: null };
}

function withStrides(stages: readonly StageArgs[], strides: readonly number[]): StageArgs[] {
  if (strides.length !== stages.length) {
    fail(`strides need one value per stage: ${stages.length} values (e.g. ${stages.map((s) => s.stride).join(',')}), got ${strides.length} ('${strides.join(',')}')`);
  }
  for (const stride of strides) {
    if (stride !== 1 && stride !== 2) fail(`strides must be 1 or 2, got ${stride} in '${strides.join(',')}'`);
  }
  return stages.map((stage, i) => ({ ...stage, stride: strides[i]! }));
}

function classesOf(classes: number | readonly string[]): ModelCard['classes'] {
  if (typeof classes === 'number') {
    if (!Number.isInteger(classes) || classes < 1) fail(`the class count must be a positive integer, got ${classes}`);
    return { count: classes, names: null };
  }
  if (classes.length === 0) fail('the class names are empty; a classifier needs at least one class');
  return { count: classes.length, names: [...classes] };
}

/**
 * Resolves a request into a validated card (see the module comment for the rules).
 * @throws ModelCardError (a user error) for unknown variants, bad multipliers, sizes below the total stride, bad strides
 */
export function resolveModelCard(request: CardRequest): ModelCard {
  const base = baseOf(request.source);
  const overridesScaling = request.width !== undefined || request.depth !== undefined;
  const resolution = request.resolution ?? base.config.resolution;
  if (!Number.isInteger(resolution) || resolution < MIN_IMAGE_SIZE) {
    fail(`the image size must be an integer >= ${MIN_IMAGE_SIZE}, got ${resolution}`);
  }
  const config = scaled(() =>
    customConfig({
      width: request.width ?? base.config.width,
      depth: request.depth ?? base.config.depth,
      resolution,
      dropout: request.dropout ?? base.config.dropout,
    }),
  );
  // The family's rules travel with the network when its size or resolution changes (a Lite0 at width 0.5 is Lite).
  if (base.config.scaling !== undefined) config.scaling = base.config.scaling;
  if (base.config.activation !== undefined) config.activation = base.config.activation;
  const name = overridesScaling ? 'custom' : base.config.name;
  let stages: StageArgs[];
  if (request.stages !== undefined) {
    stages = typeof request.stages[0] === 'string' ? scaled(() => decodeArchitecture(request.stages as readonly string[])) : (request.stages as StageArgs[]).map((s) => ({ ...s }));
  } else if (base.stages !== null) {
    stages = base.stages;
  } else {
    // The rule starts from the family's own stages (B0's; Lite's are B0's without squeeze-excitation).
    const familyStages = variantStages(base.config.name);
    stages = isSmallImage(resolution) ? smallImageStages(resolution, familyStages) : familyStages;
  }
  if (request.strides !== undefined) stages = withStrides(stages, request.strides);
  const totalStride = totalStrideOf(stages);
  if (resolution < totalStride) {
    fail(`image size ${resolution} is smaller than the network's total stride ${totalStride} (stem 2 x strides ${stages.map((s) => s.stride).join(',')}); raise the image size or set more strides to 1`);
  }
  const previous = base.card?.architecture;
  const padding = request.padding ?? previous?.padding ?? 'symmetric';
  if (padding !== 'symmetric' && padding !== 'same') fail(`padding must be 'symmetric' or 'same', got '${String(padding)}'`);
  const batchNorm = scaled(() => resolveBatchNorm(request.batchNorm ?? previous?.batchNorm, name));
  const stochasticDepth = request.stochasticDepth ?? previous?.stochasticDepth ?? DEFAULT_STOCHASTIC_DEPTH;
  const keepEval = base.card !== null && base.card.architecture.resolution === resolution && base.card.eval.size === resolution;
  const previousEval = keepEval ? base.card!.eval : null;
  const card: ModelCard = {
    version: MODEL_CARD_VERSION,
    architecture: architectureOf(
      // φ names the compound configuration; a model scaled or sized away from it no longer is one.
      { ...config, name, phi: overridesScaling || resolution !== base.config.resolution ? null : base.config.phi },
      { padding, batchNorm, dropout: config.dropout, stochasticDepth, inChannels: request.inChannels ?? previous?.inChannels ?? 3 },
      stages,
    ),
    classes: classesOf(request.classes),
    eval: evalCardFor(resolution, { ...(previousEval ?? {}), ...request.eval }),
    origin: base.origin,
  };
  return parseModelCard(card, `the card of ${base.origin.kind} ${base.origin.detail}`);
}

/**
 * The eval transform of the rule at training size `size` (crop_pct 1 up to 64px, else size / (size + 32); ImageNet's
 * mean and std; bicubic; grey replicated, alpha dropped), with `overrides` applied.
 */
export function evalCardFor(size: number, overrides: EvalOverrides = {}): EvalTransformCard {
  return {
    size: overrides.size ?? size,
    cropPct: overrides.cropPct ?? defaultCropPct(size),
    interpolation: overrides.interpolation ?? 'bicubic',
    mean: [...(overrides.mean ?? IMAGENET_MEAN)] as [number, number, number],
    std: [...(overrides.std ?? IMAGENET_STD)] as [number, number, number],
    grayscale: 'replicate',
    alpha: 'drop',
    ...(overrides.tta === undefined || overrides.tta === 'none' ? {} : { tta: overrides.tta }),
  };
}

/** The model options the architecture of a card records (EfficientNet's resolved options, less the class count). */
export interface ArchitectureOptions {
  padding: PaddingMode;
  batchNorm: { eps: number; momentum: number };
  dropout: number;
  stochasticDepth: number;
  inChannels: number;
}

/** The architecture part of a card from a configuration, resolved model options and unscaled stages (not validated here). */
export function architectureOf(config: EfficientNetConfig, options: ArchitectureOptions, stages: readonly StageArgs[]): ArchitectureCard {
  return {
    family: 'efficientnet',
    name: config.name,
    width: config.width,
    depth: config.depth,
    resolution: config.resolution,
    phi: config.phi ?? null,
    stages: encodeArchitecture(stages),
    padding: options.padding,
    batchNorm: { eps: options.batchNorm.eps, momentum: options.batchNorm.momentum },
    dropout: options.dropout,
    stochasticDepth: options.stochasticDepth,
    inChannels: options.inChannels,
    ...familyOf(config),
  };
}

/** The scaling configuration a card describes (what createEfficientNet and the profiler take). */
export function configOfCard(card: ModelCard): EfficientNetConfig {
  const a = card.architecture;
  return {
    name: a.name,
    width: a.width,
    depth: a.depth,
    resolution: a.resolution,
    dropout: a.dropout,
    phi: a.phi,
    ...(a.scaling === undefined ? {} : { scaling: a.scaling }),
    ...(a.activation === undefined ? {} : { activation: a.activation }),
  };
}

/** The unscaled stages of a card, decoded. */
export function stagesOfCard(card: ModelCard): StageArgs[] {
  return decodeArchitecture(card.architecture.stages);
}

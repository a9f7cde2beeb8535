/**
 * The EfficientNet model, built from a scaled network spec. Module names are torchvision's (`features.0.0.weight`,
 * `features.1.0.block.0.0.weight`, ..., `classifier.1.weight`), so torchvision state dicts load as they are.
 */
import { AdaptiveAvgPool2d, Dropout, Linear, Module, Sequential } from '../nn/index.js';
import { amax, flatten, isGradEnabled, noGrad, uniform_, zero_, type Tensor } from '../torch/index.js';
import type { StageArgs } from './block-spec.js';
import {
  Conv2dNormActivation,
  createBlock,
  forwardChain,
  initConvolution_,
} from './layers.js';
import { resolveBatchNorm, type BatchNormChoice, type BatchNormSettings } from './batch-norm.js';
import type { PaddingMode } from './profile.js';
import { stochasticDepthRate, type NetworkSpec } from './scaling.js';
import { DEFAULT_STOCHASTIC_DEPTH, getVariant, networkSpec, variantStages, type EfficientNetConfig } from './variants.js';
import { Conv2d } from '../nn/index.js';

/** Options of {@link EfficientNet}; each default is stated. */
export interface EfficientNetOptions {
  /** Classifier outputs; default 1000 (ImageNet). */
  numClasses?: number;
  /** Dropout before the classifier; default the configuration's (0.2 for b0 up to 0.5). */
  dropout?: number;
  /** Largest stochastic-depth drop probability (the last block's); default 0.2 (survival 0.8). */
  stochasticDepth?: number;
  /** 'symmetric' (k//2, PyTorch-trained weights; default) or 'same' (TensorFlow, for TF-trained weights). */
  padding?: PaddingMode;
  /**
   * Batch-norm settings: 'torchvision' (default: eps 1e-5 momentum 0.1, but eps 1e-3 momentum 0.01 for b5–b7 as
   * torchvision builds them), 'tf' (eps 1e-3, momentum 0.01, for TF-trained weights), or explicit values.
   */
  batchNorm?: BatchNormChoice;
  /** Input channels; default 3. */
  inChannels?: number;
  /** The unscaled stages; default the variant's own (EfficientNetV2's for v2-s/m/l, else B0's seven). */
  stages?: readonly StageArgs[];
}

/** The options of a built model after defaults, as recorded in checkpoints. */
export interface ResolvedEfficientNetOptions {
  numClasses: number;
  dropout: number;
  stochasticDepth: number;
  padding: PaddingMode;
  batchNorm: BatchNormSettings;
  inChannels: number;
}

function checkInteger(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`EfficientNet: ${what} must be a positive integer, got ${value}`);
}

/**
 * EfficientNet: stem conv 3x3/2 → stages of MBConv (or fused MBConv) blocks → head conv 1x1 → global average pool → dropout → linear.
 * Children: `features` (0 stem, 1..n stages, n+1 head), `avgpool`, `classifier` (`0` dropout, `1` linear).
 */
export class EfficientNet extends Module {
  /** The configuration the model was scaled from. */
  readonly config: EfficientNetConfig;
  /** The scaled network spec (channels, repeats, strides of every block). */
  readonly spec: NetworkSpec;
  /** The options after defaults. */
  readonly options: ResolvedEfficientNetOptions;
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  private readonly stem: Conv2dNormActivation;
  private readonly stages: Sequential[];
  private readonly head: Conv2dNormActivation;
  private readonly dropout: Dropout;
  private fc: Linear;

  constructor(config: EfficientNetConfig, options: EfficientNetOptions = {}) {
    super();
    const numClasses = options.numClasses ?? 1000;
    const inChannels = options.inChannels ?? 3;
    checkInteger('numClasses', numClasses);
    checkInteger('inChannels', inChannels);
    const dropout = options.dropout ?? config.dropout;
    const stochasticDepth = options.stochasticDepth ?? DEFAULT_STOCHASTIC_DEPTH;
    if (!(dropout >= 0 && dropout < 1)) throw new Error(`EfficientNet: dropout must be in [0, 1), got ${dropout}`);
    if (!(stochasticDepth >= 0 && stochasticDepth < 1)) {
      throw new Error(`EfficientNet: stochasticDepth must be in [0, 1), got ${stochasticDepth}`);
    }
    const padding = options.padding ?? 'symmetric';
    if (padding !== 'symmetric' && padding !== 'same') {
      throw new Error(`EfficientNet: padding must be 'symmetric' or 'same', got '${String(padding)}'`);
    }
    const batchNorm = resolveBatchNorm(options.batchNorm, config.name);
    this.config = { ...config };
    this.options = { numClasses, dropout, stochasticDepth, padding, batchNorm, inChannels };
    this.spec = networkSpec(config, options.stages ?? variantStages(config.name));
    const spec = this.spec;

    const activationKind = config.activation ?? 'silu';
    if (activationKind !== 'silu' && activationKind !== 'relu6') throw new Error(`EfficientNet: activation must be 'silu' or 'relu6', got '${String(activationKind)}'`);
    this.stem = new Conv2dNormActivation(inChannels, spec.stemChannels, spec.stemKernel, { stride: spec.stemStride, padding, batchNorm, activationKind });
    this.stages = spec.stages.map(
      (stage) =>
        new Sequential(...stage.blocks.map((block) => createBlock(block, stochasticDepthRate(block, spec, stochasticDepth), padding, batchNorm, activationKind))),
    );
    const lastChannels = spec.stages[spec.stages.length - 1]!.outChannels;
    this.head = new Conv2dNormActivation(lastChannels, spec.headChannels, 1, { padding, batchNorm, activationKind });
    this.features = this.registerModule('features', new Sequential(this.stem, ...this.stages, this.head));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.dropout = new Dropout(dropout);
    this.fc = new Linear(spec.headChannels, numClasses);
    this.classifier = this.registerModule('classifier', new Sequential(this.dropout, this.fc));
    this.initialise();
  }

  /**
   * Sets the training regularization in place: the classifier's dropout and the largest stochastic-depth rate (each
   * block's rate scaled by its position, as at construction). For progressive learning, which grows both during a
   * run; `options` keeps the values the model was built with (its card's).
   */
  setRegularization(settings: { dropout?: number; stochasticDepth?: number }): void {
    if (settings.dropout !== undefined) this.dropout.p = settings.dropout;
    if (settings.stochasticDepth !== undefined) {
      const max = settings.stochasticDepth;
      this.spec.stages.forEach((stage, s) => {
        stage.blocks.forEach((block, b) => {
          const module = this.stages[s]!.at(b) as { stochasticDepth?: { p: number } };
          if (module.stochasticDepth !== undefined) module.stochasticDepth.p = stochasticDepthRate(block, this.spec, max);
        });
      });
    }
  }

  /** The regularization in force: classifier dropout and the largest stochastic-depth rate. */
  regularization(): { dropout: number; stochasticDepth: number } {
    let largest = 0;
    for (const stage of this.stages) {
      for (let b = 0; b < stage.length; b++) {
        const module = stage.at(b) as { stochasticDepth?: { p: number } };
        largest = Math.max(largest, module.stochasticDepth?.p ?? 0);
      }
    }
    // The largest rate is the last block's, maxRate × (n − 1) / n: undo that factor.
    const n = this.spec.blockCount;
    return { dropout: this.dropout.p, stochasticDepth: n > 1 ? (largest * n) / (n - 1) : largest };
  }

  /** The reference initialisation: convs N(0, sqrt(2 / fan_out)), BN 1/0, classifier U(±1/sqrt(classes)), bias 0. */
  private initialise(): void {
    for (const [, module] of this.namedModules()) {
      if (module instanceof Conv2d) {
        initConvolution_(module);
        if (module.bias !== null) noGrad(() => zero_(module.bias!));
      }
    }
    const range = 1 / Math.sqrt(this.options.numClasses);
    noGrad(() => {
      uniform_(this.fc.weight, -range, range);
      if (this.fc.bias !== null) zero_(this.fc.bias);
    });
  }

  private checkInput(input: Tensor): void {
    const shape = input.shape;
    const stride = this.spec.totalStride;
    if (shape.length !== 4 || shape[1] !== this.options.inChannels) {
      throw new Error(
        `EfficientNet: expected NCHW input with ${this.options.inChannels} channels, got shape [${shape.join(', ')}]`,
      );
    }
    if (shape[2]! < stride || shape[3]! < stride) {
      throw new Error(
        `EfficientNet: input ${shape[2]}x${shape[3]} is smaller than the network's total stride ${stride}; ` +
          `resize images to at least ${stride}x${stride} (native resolution of this configuration: ${this.config.resolution})`,
      );
    }
  }

  /** Logits [N, numClasses] for NCHW images: {@link forwardHead} of {@link forwardFeatures}, pooled by average. */
  forward(input: Tensor): Tensor {
    const features = this.forwardFeatures(input);
    const logits = this.forwardHead(features);
    if (!isGradEnabled()) features.dispose();
    return logits;
  }

  /**
   * The last feature map before pooling, [N, headChannels, H/32, W/32] (after the head's 1x1 conv, BN and SiLU):
   * timm's `forward_features`, what Keras gives with `include_top=False, pooling=None`.
   */
  forwardFeatures(input: Tensor): Tensor {
    this.checkInput(input);
    return forwardChain(input, [this.stem, ...this.stages.flatMap((stage) => [...stage]), this.head]);
  }

  /**
   * The classifier on a {@link forwardFeatures} map: global pooling ('avg', the trained one, or 'max'), flatten,
   * dropout and the linear layer; with `preLogits` the pooled features [N, headChannels] instead of logits (timm's
   * `forward_head(x, pre_logits=True)`; Keras' `include_top=False, pooling='avg'|'max'`).
   */
  forwardHead(features: Tensor, options: { pool?: 'avg' | 'max'; preLogits?: boolean } = {}): Tensor {
    const pool = options.pool ?? 'avg';
    if (pool !== 'avg' && pool !== 'max') throw new Error(`EfficientNet.forwardHead: pool must be 'avg' or 'max', got '${String(pool)}'`);
    if (features.shape.length !== 4 || features.shape[1] !== this.spec.headChannels) {
      throw new Error(`EfficientNet.forwardHead: expected the [N, ${this.spec.headChannels}, H, W] map of forwardFeatures, got shape [${features.shape.join(', ')}]`);
    }
    const pooled = pool === 'avg' ? this.averagePooled(features) : amax(features, [2, 3]);
    if (options.preLogits === true) return pooled;
    const logits = this.fc.forward(this.dropout.forward(pooled));
    if (!isGradEnabled()) pooled.dispose();
    return logits;
  }

  /** Global average pool then flatten; the pooled map is freed at once when grad mode is off (evaluation). */
  private averagePooled(features: Tensor): Tensor {
    const map = this.avgpool.forward(features);
    const flat = flatten(map, 1);
    if (!isGradEnabled()) map.dispose();
    return flat;
  }

  /**
   * A new classifier of `numClasses` outputs (fresh, initialised as at construction), the rest unchanged: timm's
   * `reset_classifier`, for fine-tuning on new classes. The old classifier's weights are freed.
   */
  resetClassifier(numClasses: number): void {
    checkInteger('numClasses', numClasses);
    const fc = new Linear(this.spec.headChannels, numClasses);
    const range = 1 / Math.sqrt(numClasses);
    noGrad(() => {
      uniform_(fc.weight, -range, range);
      if (fc.bias !== null) zero_(fc.bias);
    });
    this.classifier.set(1, fc).dispose();
    this.fc = fc;
    (this.options as { numClasses: number }).numClasses = numClasses;
  }

  /**
   * The multi-scale feature maps of a backbone (timm's `features_only`, torchvision's `create_feature_extractor`
   * on the stages): the output of the last stage at each reduction 2, 4, 8, 16, 32 (levels 0..4 of
   * {@link featureInfo}; the head conv is not part of them). `outIndices` picks levels (default all), in order.
   * @throws for a level that does not exist
   */
  featureMaps(input: Tensor, outIndices?: readonly number[]): Tensor[] {
    this.checkInput(input);
    const info = this.featureInfo();
    const wanted = checkOutIndices(outIndices ?? info.map((level) => level.index), info.length);
    const last = Math.max(...wanted);
    const maps: Tensor[] = [];
    const eager = !isGradEnabled();
    let x = this.stem.forward(input);
    let level = 0;
    for (let i = 0; i < this.stages.length && level <= last; i++) {
      const output = forwardChain(x, this.stages[i]!);
      // With grad mode off, free the stage's input unless it is one of the maps (see forwardChain).
      if (eager && output !== x && !maps.includes(x)) x.dispose();
      x = output;
      if (info[level] !== undefined && info[level]!.stage === i) {
        if (wanted.includes(level)) maps.push(x);
        level += 1;
      }
    }
    if (eager && !maps.includes(x)) x.dispose();
    return maps;
  }

  /**
   * The levels {@link featureMaps} returns: index, the stage whose output it is (0-based), torchvision's module name
   * of that stage (`features.N`, the return node of `create_feature_extractor`), channels and reduction (the total
   * stride at that point).
   */
  featureInfo(): FeatureInfo[] {
    const info: FeatureInfo[] = [];
    let reduction = this.spec.stemStride;
    this.spec.stages.forEach((stage, i) => {
      reduction *= stage.stride;
      const next = this.spec.stages[i + 1];
      if (next === undefined || next.stride > 1) info.push({ index: info.length, stage: i, module: `features.${i + 1}`, channels: stage.outChannels, reduction });
    });
    return info;
  }
}

/** One level of a backbone's multi-scale features ({@link EfficientNet.featureInfo}). */
export interface FeatureInfo {
  /** The level, 0.. (timm's out_indices). */
  index: number;
  /** The stage (0-based) whose last block's output the map is. */
  stage: number;
  /** torchvision's name of that stage's module, `features.N`. */
  module: string;
  /** Channels of the map. */
  channels: number;
  /** Input size / map size: 2, 4, 8, 16, 32 for EfficientNet. */
  reduction: number;
}

/** Validates feature levels: integers in [0, levels), no repeats, ascending. */
export function checkOutIndices(outIndices: readonly number[], levels: number): number[] {
  if (outIndices.length === 0) throw new Error(`feature levels: give at least one of 0..${levels - 1}`);
  outIndices.forEach((index, i) => {
    if (!Number.isInteger(index) || index < 0 || index >= levels) throw new Error(`feature level ${index} does not exist: this network has levels 0..${levels - 1} (reductions 2..${2 ** levels})`);
    if (i > 0 && index <= outIndices[i - 1]!) throw new Error(`feature levels must be ascending without repeats, got ${outIndices.join(',')}`);
  });
  return [...outIndices];
}

/**
 * Builds an EfficientNet from a variant name ('b0'..'b8', 'l2', 'v2-s', 'v2-m', 'v2-l') or a configuration
 * (customConfig, compoundConfig).
 * @example const model = createEfficientNet('b0', { numClasses: 10 });
 */
export function createEfficientNet(variant: string | EfficientNetConfig, options: EfficientNetOptions = {}): EfficientNet {
  const config = typeof variant === 'string' ? getVariant(variant) : variant;
  return new EfficientNet(config, options);
}

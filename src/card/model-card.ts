/**
 * The model card: the one description of a trained or buildable model that every part of effnet reads. It says
 * what the network is (scaling, the unscaled stages as block strings with their strides, padding and batch-norm
 * conventions, dropout and drop-path), what it predicts (class count and names) and how an image must be
 * prepared for it at evaluation (size, crop fraction, interpolation, mean, std, what happens to grey and alpha
 * channels). Training validates with exactly this eval transform, and checkpoints, model files (safetensors
 * metadata) and exported ONNX files (metadata_props) store exactly this record, so what was measured is what
 * `effnet predict` and the browser page serve. The models are timm's `pretrained_cfg` and transformers.js's
 * preprocessor config, which travel with their weights for the same reason.
 *
 * This module is pure data and validation (no engine, no file system): the browser page parses cards with it.
 * Cards are built by the resolver (resolve.ts), never assembled by hand elsewhere.
 */
import { BlockSpecError, decodeArchitecture, type StageArgs } from '../efficientnet/block-spec.js';
import { profileNetwork } from '../efficientnet/profile.js';
import { roundRepeats, scaleNetwork, WRITTEN_SCALING_RULES, type WrittenScalingRule } from '../efficientnet/scaling.js';
import { evalResizeSize, type EvalTransformSpec } from '../data/transforms/pipeline.js';
import { UserError } from '../errors.js';
import { TTA_MODES, ttaShift, type Tta } from './tta.js';
import { limit, limitVariable, type LimitName } from '../limits.js';

/** The card layout version this code writes; readers accept 1..this. */
export const MODEL_CARD_VERSION = 1;

/**
 * Where the card is stored: the key of the safetensors `__metadata__` entry of model files and checkpoints, and
 * of the ONNX metadata_props entry of exported models; its value is the card as JSON.
 */
export const MODEL_CARD_KEY = 'effnet.card';

/**
 * The ONNX metadata_props key of a backbone export (`effnet export --features`): JSON of its feature levels, one per
 * graph output. Classifier exports do not have it, and the classifier refuses files that do.
 */
export const FEATURES_METADATA_KEY = 'effnet.features';

/** Raised for a card that is malformed, of an unknown version, or inconsistent (a user error: exit code 2). */
export class ModelCardError extends UserError {
  override name = 'ModelCardError';
}

/** The network: enough to rebuild it exactly, without any other source. */
export interface ArchitectureCard {
  /** The model family; only 'efficientnet' exists today. */
  family: 'efficientnet';
  /** 'b0'..'b8', 'l2' for a registered variant as registered, else 'custom'. */
  name: string;
  /** Width multiplier applied to every stage's channels (rounded to multiples of 8). */
  width: number;
  /** Depth multiplier applied to every stage's repeats (rounded up). */
  depth: number;
  /** The training resolution (square side in pixels) the configuration was scaled for. */
  resolution: number;
  /** The compound coefficient φ when the configuration came from compound scaling, else null. */
  phi: number | null;
  /**
   * The unscaled stages as TF block strings (`r2_k3_s22_e6_i16_o24_se0.25`): repeats, kernel, first-block stride,
   * expansion, channels, squeeze-excitation and skip, before width and depth scaling.
   */
  stages: string[];
  /** Convolution padding: 'symmetric' (k//2, PyTorch-trained weights) or 'same' (TensorFlow's). */
  padding: 'symmetric' | 'same';
  /** Batch-norm epsilon and momentum (PyTorch's momentum convention). */
  batchNorm: { eps: number; momentum: number };
  /** Dropout before the classifier, in [0, 1). */
  dropout: number;
  /** Largest stochastic-depth (drop-path) rate, the last block's, in [0, 1). */
  stochasticDepth: number;
  /** Input channels of the stem convolution (3: RGB). */
  inChannels: number;
  /**
   * Which parts width and depth scale; absent: EfficientNet's rule (all). 'lite': EfficientNet-Lite's (the stem,
   * the head and the first and last stages' repeats unscaled); 'efficientnetv2': EfficientNetV2-B's (all parts,
   * channels rounded without the 90% floor). Written only when not EfficientNet's, so cards of the other families are
   * unchanged.
   */
  scaling?: WrittenScalingRule;
  /** The activation after every batch norm and in squeeze-excitation; absent: SiLU. 'relu6' for EfficientNet-Lite. */
  activation?: 'relu6';
}

/** What the classifier predicts. */
export interface ClassesCard {
  /** Classifier outputs. */
  count: number;
  /** One name per output, in output order, or null when the model was saved without names. */
  names: string[] | null;
}

/**
 * The evaluation transform: resize the short side to floor(size / cropPct) with `interpolation`, center-crop
 * size × size, scale to 0..1 and normalise with mean/std, CHW float32.
 */
export interface EvalTransformCard {
  /** Square input side in pixels (the graph's spatial size in an exported model). */
  size: number;
  /** Fraction of the resized image kept by the center crop, in (0, 1]; 1 resizes the whole image. */
  cropPct: number;
  /** Resampling filter of the resize (PIL-exact): 'bicubic' (effnet's and timm's), or 'bilinear' (torchvision's b1). */
  interpolation: 'bicubic' | 'bilinear';
  /** Normalisation mean, RGB on the 0..1 scale. */
  mean: [number, number, number];
  /** Normalisation standard deviation, RGB on the 0..1 scale. */
  std: [number, number, number];
  /** One-channel (grey) images: 'replicate' puts the grey value in R, G and B. */
  grayscale: 'replicate';
  /** Images with an alpha channel: 'drop' keeps the colour channels as stored and ignores alpha. */
  alpha: 'drop';
  /**
   * Test-time augmentation, absent when none: 'hflip' scores the image and its mirror image and averages the two
   * logit vectors (one more forward pass per image); 'hflip-shift' also each of them translated both ways
   * (src/card/tta.ts; six passes). It belongs to the card, not to one command, because the accuracy a run reports
   * is the accuracy of the model with this rule: validation, `effnet eval`, predict and the exported ONNX graph
   * (which carries the views and the average inside) all apply it.
   */
  tta?: Tta;
}

/** Where a card came from, for people reading it; no reader decides anything from it. */
export interface CardOrigin {
  /** The kind of source the resolver built the card from. */
  kind: 'variant' | 'custom' | 'compound' | 'config-file' | 'search-trial' | 'import' | 'model' | 'legacy';
  /** Free text naming the source (a variant name, a file path, a search and trial). */
  detail: string;
}

/**
 * How an int8 model was made (`effnet export --int8`), absent for float models. It belongs to the card because the
 * file's accuracy depends on it: weights int8 per output channel (symmetric), activations uint8 with ranges from
 * calibration images, in ONNX's QDQ form.
 */
export interface QuantizationCard {
  /** 'int8-qdq': QuantizeLinear/DequantizeLinear pairs around every quantized tensor, int8 weights, int32 biases. */
  format: 'int8-qdq';
  /** How the activation ranges were chosen and from what. */
  calibration: {
    /** 'minmax', 'percentile' (clipping both tails at `percentile`) or 'entropy' (TensorRT's KL threshold). */
    method: 'minmax' | 'percentile' | 'entropy';
    /** The percentile of the 'percentile' method, in (50, 100]. */
    percentile?: number;
    /** Calibration images. */
    images: number;
    /** The data they came from (a data spec). */
    data: string;
  };
  /** Parts of the network left in float: 'stem', 'blocks', 'se', 'head', 'classifier'. */
  float: ('stem' | 'blocks' | 'se' | 'head' | 'classifier')[];
  /** Activation tensors (graph names) left in float because quantizing them cost agreement; absent when none. */
  floatTensors?: string[];
}

/** The model card; see the module comment. */
export interface ModelCard {
  /** {@link MODEL_CARD_VERSION} at the time of writing. */
  version: number;
  /** The network. */
  architecture: ArchitectureCard;
  /** The classifier's outputs. */
  classes: ClassesCard;
  /** The evaluation transform training validated with and inference applies. */
  eval: EvalTransformCard;
  /** Where the card came from. */
  origin: CardOrigin;
  /** How the model was quantized; absent for float models (only int8 ONNX files carry it). */
  quantization?: QuantizationCard;
}

const ORIGIN_KINDS: readonly CardOrigin['kind'][] = ['variant', 'custom', 'compound', 'config-file', 'search-trial', 'import', 'model', 'legacy'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Checker {
  constructor(private readonly source: string) {}

  fail(message: string): never {
    throw new ModelCardError(`${this.source}: the model card ${message}`);
  }

  record(value: unknown, path: string, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
    if (!isRecord(value)) this.fail(`field '${path}' must be an object, got ${JSON.stringify(value)}`);
    for (const key of Object.keys(value)) {
      if (!keys.includes(key) && !optional.includes(key)) this.fail(`has an unknown field '${path}.${key}' (known: ${[...keys, ...optional].join(', ')})`);
    }
    for (const key of keys) if (!(key in value)) this.fail(`lacks the field '${path}.${key}'`);
    return value;
  }

  number(value: unknown, path: string, ok: (v: number) => boolean, expected: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) this.fail(`field '${path}' must be ${expected}, got ${JSON.stringify(value)}`);
    return value;
  }

  integer(value: unknown, path: string, min: number): number {
    return this.number(value, path, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`);
  }

  stringList(value: unknown, path: string): string[] {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) this.fail(`field '${path}' must be a list of strings, got ${JSON.stringify(value)}`);
    return [...(value as string[])];
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string' || value === '') this.fail(`field '${path}' must be a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  }

  choice<T extends string>(value: unknown, path: string, choices: readonly T[]): T {
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.fail(`field '${path}' must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  triple(value: unknown, path: string, low: number, high: number): [number, number, number] {
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= low && v <= high)) {
      this.fail(`field '${path}' must be a list of 3 numbers (R, G, B) in [${low}, ${high}], got ${JSON.stringify(value)}`);
    }
    return [value[0], value[1], value[2]] as [number, number, number];
  }

  /** Refuses a value over one of effnet's input bounds (src/limits.ts), naming the bound and how to raise it. */
  bounded(name: LimitName, value: number, what: string): void {
    if (value > limit(name)) this.fail(`says ${describeSizeProblem({ limit: name, what, value })}`);
  }
}

/** Where a network's size is over one of effnet's bounds: the bound's name and the sentence saying so. */
export interface NetworkSizeProblem {
  /** The bound (src/limits.ts). */
  limit: LimitName;
  /** What is over it, with # where the value goes: 'a network of # parameters'. */
  what: string;
  /** The value. */
  value: number;
}

/**
 * The size of a network computed from its description alone (no model is built), against effnet's bounds: width
 * and depth multipliers, blocks after depth scaling, then parameters by the analytic profiler. A forged card or
 * configuration (width 50, `r1000000`, a million classes) is refused with this before anything allocates.
 * @returns the first bound it is over, or null
 */
export function networkSizeProblem(stages: readonly StageArgs[], width: number, depth: number, resolution: number, classes: number, inChannels = 3, padding: 'symmetric' | 'same' = 'symmetric'): NetworkSizeProblem | null {
  if (width > limit('scaleMultiplier')) return { limit: 'scaleMultiplier', what: 'a width multiplier of #', value: width };
  if (depth > limit('scaleMultiplier')) return { limit: 'scaleMultiplier', what: 'a depth multiplier of #', value: depth };
  if (resolution > limit('imageSide')) return { limit: 'imageSide', what: 'a resolution of # pixels', value: resolution };
  const blocks = stages.reduce((sum, stage) => sum + roundRepeats(stage.repeats, depth), 0);
  if (blocks > limit('modelBlocks')) return { limit: 'modelBlocks', what: 'a network of # blocks (after depth scaling)', value: blocks };
  const params = profileNetwork(scaleNetwork(stages, { width, depth }), { imageSize: resolution, numClasses: classes, inputChannels: inChannels, padding }).params;
  if (params > limit('modelParameters')) return { limit: 'modelParameters', what: 'a network of # parameters', value: params };
  return null;
}

/** The sentence of a {@link NetworkSizeProblem}, with how to raise the bound. */
export function describeSizeProblem(problem: NetworkSizeProblem): string {
  const bound = limit(problem.limit);
  return `${problem.what.replace('#', problem.value.toLocaleString('en-US'))}, over effnet's limit of ${bound.toLocaleString('en-US')}; a description like this is forged or mistaken (if it is trusted, raise the limit with ${limitVariable(problem.limit)}=N, docs/security.md)`;
}

/** The total stride of the stem (2) and the stages' first-block strides. */
export function totalStrideOf(stages: readonly { stride: number }[]): number {
  return 2 * stages.reduce((product, stage) => product * stage.stride, 1);
}

/**
 * Checks a parsed value against {@link ModelCard} and returns a clean copy: every field present, of the right type
 * and range, no unknown fields, block strings that decode, sizes of at least the network's total stride.
 * @param source names the file or object in messages
 * @throws ModelCardError naming the field, what was expected, and what to do
 */
export function parseModelCard(value: unknown, source: string): ModelCard {
  const c: Checker = new Checker(source);
  if (!isRecord(value)) c.fail(`must be a JSON object, got ${JSON.stringify(value)}`);
  const version = c.integer(value.version, 'version', 1);
  if (version > MODEL_CARD_VERSION) {
    throw new ModelCardError(`${source}: model card version ${version} is newer than this effnet reads (1..${MODEL_CARD_VERSION}); upgrade effnet`);
  }
  const top = c.record(value, 'card', ['version', 'architecture', 'classes', 'eval', 'origin'], ['quantization']);
  const a = c.record(
    top.architecture,
    'architecture',
    ['family', 'name', 'width', 'depth', 'resolution', 'phi', 'stages', 'padding', 'batchNorm', 'dropout', 'stochasticDepth', 'inChannels'],
    ['scaling', 'activation'],
  );
  const stagesValue = a.stages;
  if (!Array.isArray(stagesValue) || stagesValue.length === 0 || !stagesValue.every((s) => typeof s === 'string')) {
    c.fail(`field 'architecture.stages' must be a non-empty list of block strings like "r2_k3_s22_e6_i16_o24_se0.25", got ${JSON.stringify(stagesValue)}`);
  }
  let decoded;
  try {
    decoded = decodeArchitecture(stagesValue as string[]);
  } catch (error) {
    if (error instanceof BlockSpecError) c.fail(`field 'architecture.stages' does not decode: ${error.message}`);
    throw error;
  }
  const bn = c.record(a.batchNorm, 'architecture.batchNorm', ['eps', 'momentum']);
  const resolution = c.integer(a.resolution, 'architecture.resolution', 1);
  const totalStride = totalStrideOf(decoded);
  if (resolution < totalStride) c.fail(`says resolution ${resolution}, smaller than the network's total stride ${totalStride}`);
  if (a.phi !== null) c.number(a.phi, 'architecture.phi', () => true, 'a number or null');
  const architecture: ArchitectureCard = {
    family: c.choice(a.family, 'architecture.family', ['efficientnet'] as const),
    name: c.string(a.name, 'architecture.name'),
    width: c.number(a.width, 'architecture.width', (v) => v > 0, 'a number > 0'),
    depth: c.number(a.depth, 'architecture.depth', (v) => v > 0, 'a number > 0'),
    resolution,
    phi: a.phi as number | null,
    stages: [...(stagesValue as string[])],
    padding: c.choice(a.padding, 'architecture.padding', ['symmetric', 'same'] as const),
    batchNorm: {
      eps: c.number(bn.eps, 'architecture.batchNorm.eps', (v) => v > 0, 'a number > 0'),
      momentum: c.number(bn.momentum, 'architecture.batchNorm.momentum', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    },
    dropout: c.number(a.dropout, 'architecture.dropout', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    stochasticDepth: c.number(a.stochasticDepth, 'architecture.stochasticDepth', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    inChannels: c.integer(a.inChannels, 'architecture.inChannels', 1),
    // Absent and undefined are EfficientNet's rule and SiLU; only the other values are written.
    ...(a.scaling === undefined ? {} : { scaling: c.choice(a.scaling, 'architecture.scaling', WRITTEN_SCALING_RULES) }),
    ...(a.activation === undefined ? {} : { activation: c.choice(a.activation, 'architecture.activation', ['relu6'] as const) }),
  };
  c.bounded('inChannels', architecture.inChannels, '# input channels');
  const k = c.record(top.classes, 'classes', ['count', 'names']);
  const count = c.integer(k.count, 'classes.count', 1);
  c.bounded('classes', count, 'a class count of #');
  let names: string[] | null = null;
  if (k.names !== null) {
    if (!Array.isArray(k.names) || k.names.length !== count || !k.names.every((n) => typeof n === 'string')) {
      c.fail(`field 'classes.names' must be null or a list of ${count} strings (one per output), got ${Array.isArray(k.names) ? `a list of ${k.names.length}` : JSON.stringify(k.names)}`);
    }
    const longest = Math.max(0, ...(k.names as string[]).map((n) => n.length));
    c.bounded('classNameChars', longest, 'a class name of # characters');
    names = [...(k.names as string[])];
  }
  const tooBig = networkSizeProblem(decoded, architecture.width, architecture.depth, resolution, count, architecture.inChannels, architecture.padding);
  if (tooBig !== null) c.fail(`says ${describeSizeProblem(tooBig)}`);
  const e = c.record(top.eval, 'eval', ['size', 'cropPct', 'interpolation', 'mean', 'std', 'grayscale', 'alpha'], ['tta']);
  const size = c.integer(e.size, 'eval.size', 1);
  if (size < totalStride) c.fail(`says eval size ${size}, smaller than the network's total stride ${totalStride}`);
  c.bounded('imageSide', size, 'an eval size of # pixels');
  const cropPct = c.number(e.cropPct, 'eval.cropPct', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  c.bounded('imageSide', evalResizeSize(size, cropPct), `an eval resize to # pixels (eval size ${size} / cropPct ${cropPct})`);
  const evalCard: EvalTransformCard = {
    size,
    cropPct,
    interpolation: c.choice(e.interpolation, 'eval.interpolation', ['bicubic', 'bilinear'] as const),
    // Pixels are normalised on the 0..1 scale: a mean outside ±1000 or a std outside [0.001, 1000] only makes
    // overflowing or meaningless inputs (std 1e-300 made every score NaN).
    mean: c.triple(e.mean, 'eval.mean', -1000, 1000),
    std: c.triple(e.std, 'eval.std', 0.001, 1000),
    grayscale: c.choice(e.grayscale, 'eval.grayscale', ['replicate'] as const),
    alpha: c.choice(e.alpha, 'eval.alpha', ['drop'] as const),
    // Absent and undefined are the same card (no test-time augmentation); only a mode is written.
    ...(e.tta === undefined ? {} : { tta: c.choice(e.tta, 'eval.tta', TTA_MODES) }),
  };
  const o = c.record(top.origin, 'origin', ['kind', 'detail']);
  const origin: CardOrigin = { kind: c.choice(o.kind, 'origin.kind', ORIGIN_KINDS), detail: typeof o.detail === 'string' ? o.detail : c.fail(`field 'origin.detail' must be a string`) };
  const card: ModelCard = { version, architecture, classes: { count, names }, eval: evalCard, origin };
  if (top.quantization !== undefined) card.quantization = parseQuantization(c, top.quantization);
  return card;
}

const QUANTIZATION_GROUP_NAMES = ['stem', 'blocks', 'se', 'head', 'classifier'] as const;

function parseQuantization(c: Checker, value: unknown): QuantizationCard {
  const q = c.record(value, 'quantization', ['format', 'calibration', 'float'], ['floatTensors']);
  const k = c.record(q.calibration, 'quantization.calibration', ['method', 'images', 'data'], ['percentile']);
  const method = c.choice(k.method, 'quantization.calibration.method', ['minmax', 'percentile', 'entropy'] as const);
  const percentile = k.percentile === undefined ? undefined : c.number(k.percentile, 'quantization.calibration.percentile', (v) => v > 50 && v <= 100, 'a number in (50, 100]');
  if ((method === 'percentile') !== (percentile !== undefined)) c.fail(`field 'quantization.calibration.percentile' must be given exactly for the percentile method`);
  if (!Array.isArray(q.float)) c.fail(`field 'quantization.float' must be a list of ${QUANTIZATION_GROUP_NAMES.join(', ')}, got ${JSON.stringify(q.float)}`);
  return {
    format: c.choice(q.format, 'quantization.format', ['int8-qdq'] as const),
    calibration: {
      method,
      ...(percentile === undefined ? {} : { percentile }),
      images: c.integer(k.images, 'quantization.calibration.images', 1),
      data: c.string(k.data, 'quantization.calibration.data'),
    },
    float: (q.float as unknown[]).map((g, i) => c.choice(g, `quantization.float[${i}]`, QUANTIZATION_GROUP_NAMES)),
    ...(q.floatTensors === undefined ? {} : { floatTensors: c.stringList(q.floatTensors, 'quantization.floatTensors') }),
  };
}

/** Parses a card from its JSON text (as stored under {@link MODEL_CARD_KEY}). */
export function parseModelCardJson(text: string, source: string): ModelCard {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelCardError(`${source}: the model card (${MODEL_CARD_KEY}) is not valid JSON (${(error as Error).message}); the file is corrupt`);
  }
  return parseModelCard(value, source);
}

/** The card as the JSON text stored in files (fields in the documented order, so equal cards give equal text). */
export function serializeModelCard(card: ModelCard): string {
  const clean = parseModelCard(card, 'serializeModelCard');
  return JSON.stringify(clean);
}

/** The fields in which two cards differ ('architecture.width', 'eval.cropPct', ...), origin aside; empty when none. */
export function cardDifferences(a: ModelCard, b: ModelCard): string[] {
  const differences: string[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (isRecord(x) && isRecord(y)) {
      for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) walk(x[key], y[key], path === '' ? key : `${path}.${key}`);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      differences.push(path);
    }
  };
  walk({ ...a, origin: null }, { ...b, origin: null }, '');
  return differences;
}

/** The data-pipeline spec of the card's eval transform (what the validation loader and the Preprocessor compile). */
export function evalTransformOf(card: Pick<ModelCard, 'eval'>): EvalTransformSpec {
  const e = card.eval;
  return { kind: 'eval', size: e.size, cropPct: e.cropPct, interpolation: e.interpolation, mean: [...e.mean], std: [...e.std] };
}

/** The card with its eval transform at another input size (export at `--image-size`), crop fraction kept. */
export function withEvalSize(card: ModelCard, size: number): ModelCard {
  const next: ModelCard = { ...card, eval: { ...card.eval, size } };
  return parseModelCard(next, `the card at ${size}px`);
}

/** The card with another test-time augmentation ('none' removes it); everything else kept. */
export function withTta(card: ModelCard, tta: Tta | 'none'): ModelCard {
  const { tta: _dropped, ...rest } = card.eval;
  return { ...card, eval: tta === 'none' ? rest : { ...rest, tta } };
}

/** One line for people: '`custom` (width 0.5, depth 0.5) at 32px, 10 classes, eval: whole image (crop 1)'. */
export function describeCard(card: ModelCard): string {
  const a = card.architecture;
  const filter = card.eval.interpolation === 'bicubic' ? '' : ` (${card.eval.interpolation})`;
  const crop =
    (card.eval.cropPct === 1 ? `whole image at ${card.eval.size}px` : `resize ${evalResizeSize(card.eval.size, card.eval.cropPct)}, center crop ${card.eval.size}`) +
    filter +
    (card.eval.tta === 'hflip'
      ? ', averaged with its mirror image'
      : card.eval.tta === 'hflip-shift'
        ? `, averaged with its mirror image and both moved ±${ttaShift(card.eval.size)}px diagonally`
        : '');
  const q = card.quantization;
  const int8 =
    q === undefined
      ? ''
      : `; int8 (${q.calibration.method}${q.calibration.percentile === undefined ? '' : ` ${q.calibration.percentile}`} calibration on ${q.calibration.images} images` +
        `${q.float.length > 0 ? `, float: ${q.float.join(', ')}` : ''}${q.floatTensors === undefined ? '' : `, ${q.floatTensors.length} tensor(s) in float`})`;
  return `EfficientNet ${a.name} (width ${a.width}, depth ${a.depth}, ${a.padding} padding) at ${a.resolution}px, ${card.classes.count} classes; eval: ${crop}${int8}`;
}

/**
 * Model weights on disk. effnet's own format is safetensors whose `__metadata__` holds the model card under
 * `effnet.card` (src/card/model-card.ts): the network, the classes and the eval transform, so that `loadModel`
 * rebuilds exactly the model that was saved and every reader prepares images as training validated them. Files
 * of the earlier format (an `effnet` entry without the eval transform) load with the card of the rule they were
 * trained under (src/card/legacy.ts). Foreign checkpoints (torchvision .pth, timm safetensors or .pth) are
 * imported through the key tables of io/key-maps.ts, validated before anything loads.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { createEfficientNet, EfficientNet, type EfficientNetOptions } from '../efficientnet/model.js';
import { getVariant, type EfficientNetConfig } from '../efficientnet/variants.js';
import { StateDictError, type StateDictReport } from '../nn/index.js';
import type { Tensor } from '../torch/index.js';
import { attachCard, cardOf, cardOfModel, cardWeightsMismatch, createModelFromCard, modelCardMismatch } from '../card/build.js';
import { cardFromLegacyDescription, LEGACY_METADATA_KEY } from '../card/legacy.js';
import { torchvisionEval } from '../card/published.js';
import { IMAGENET_CLASSES } from '../card/imagenet-classes.js';
import { MODEL_CARD_KEY, ModelCardError, parseModelCardJson, serializeModelCard, type ModelCard } from '../card/model-card.js';
import { BadFileError, UserError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { loadTorchCheckpoint } from '../io/torch-checkpoint.js';
import { detectWeightSource, keyMapFor, WEIGHT_SOURCES, type WeightSource } from '../io/key-maps.js';
import { looksLikeZip } from '../io/zip.js';
import { CHECKPOINT_METADATA_KEY } from './checkpoint.js';


/** Raised for weights that do not fit the model they are loaded into (a user error: wrong file or variant). */
export class WeightsMismatchError extends UserError {
  override name = 'WeightsMismatchError';
  constructor(message: string, readonly report: StateDictReport) {
    super(message);
  }
}

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** The card to store; it must describe `model` (architecture and class count). Default: the card the model carries (cardOf). */
  card?: ModelCard;
  /** Names of the classes, one per classifier output, when no card is given (a card then derived from the model); default the carried card's. */
  classNames?: readonly string[];
}

/** A model read back by {@link loadModel}. */
export interface LoadedModel {
  /** The rebuilt model with the saved weights, in eval mode. */
  model: EfficientNet;
  /** The card it was saved with (or the card of a format-1 file). */
  card: ModelCard;
  /** The card's class names, or null. */
  classNames: string[] | null;
}

/**
 * Saves a model's state dict (parameters and buffers) and its card to a safetensors file, atomically.
 * @throws ModelCardError when the card describes another network or class count, or classNames has the wrong length
 */
export function saveModel(path: string, model: EfficientNet, options: SaveModelOptions = {}): void {
  const card = options.card ?? (options.classNames === undefined ? cardOf(model) : cardOfModel(model, { classNames: options.classNames }));
  const mismatch = modelCardMismatch(model, card);
  if (mismatch.length > 0) throw new ModelCardError(`saveModel(${path}): the card does not describe this model: ${mismatch.join('; ')}`);
  saveSafetensors(path, model.stateDict(), { [MODEL_CARD_KEY]: serializeModelCard(card) });
}

/**
 * The card stored in a model file's metadata: the `effnet.card` entry, or the card of a format-1 `effnet` entry.
 * @throws ModelCardError for checkpoints (pointing to openModel / `effnet eval`), files without either entry (pointing
 * to `effnet import` for foreign weights), or a malformed card
 */
export function cardFromMetadata(metadata: Record<string, string>, source: string): ModelCard {
  const text = metadata[MODEL_CARD_KEY];
  if (text !== undefined) return parseModelCardJson(text, source);
  const legacy = metadata[LEGACY_METADATA_KEY];
  if (legacy !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(legacy);
    } catch (error) {
      throw new ModelCardError(`${source}: the '${LEGACY_METADATA_KEY}' metadata is not valid JSON (${(error as Error).message}); the file is corrupt`);
    }
    return cardFromLegacyDescription(parsed, source);
  }
  if (metadata[CHECKPOINT_METADATA_KEY] !== undefined) {
    throw new ModelCardError(`${source} is a training checkpoint, not a model file; open it with openModel (src/model-file/open.ts), which \`effnet eval\`, \`predict\` and \`export\` use, or take DIR/model.safetensors of the finished run`);
  }
  throw new ModelCardError(
    `${source} has no '${MODEL_CARD_KEY}' metadata, so it was not written by effnet; ` +
      'to use torchvision or timm weights, convert them first with `effnet import --from torchvision|timm FILE --variant NAME --out OUT`',
  );
}

function disposeAll(tensors: Map<string, Tensor>): void {
  for (const tensor of tensors.values()) tensor.dispose();
}

/** Rebuilds the model a file's card describes and loads its weights (strictly); the model is in eval mode. */
export function loadModel(path: string): LoadedModel {
  const { tensors, metadata } = loadSafetensors(path);
  try {
    const card = cardFromMetadata(metadata, path);
    const model = modelWithWeights(card, tensors, path);
    return { model, card, classNames: card.classes.names };
  } finally {
    disposeAll(tensors);
  }
}

/**
 * A model of `card` with `weights` (effnet's names) loaded strictly, in eval mode; the weights stay the caller's.
 * The card is checked against the weights' shapes before the model is built (cardWeightsMismatch).
 * @throws ModelCardError when the card does not describe the weights; WeightsMismatchError when they do not load
 */
export function modelWithWeights(card: ModelCard, weights: ReadonlyMap<string, Tensor>, file: string): EfficientNet {
  const mismatch = cardWeightsMismatch(card, new Map([...weights].map(([name, tensor]) => [name, tensor.shape])));
  if (mismatch.length > 0) {
    throw new ModelCardError(`${file}: the model card does not describe the weights in the file (${mismatch.join('; ')}); the file was edited or forged, or its card and weights come from different models`);
  }
  const model = createModelFromCard(card);
  try {
    loadIntoModel(model, weights, 'effnet', file);
  } catch (error) {
    model.dispose();
    throw error;
  }
  model.eval();
  return model;
}

/** Options of {@link loadIntoModel}. */
export interface LoadIntoModelOptions {
  /**
   * Keys of ours that keep the model's values when the checkpoint's do not fit, e.g. the classifier when
   * fine-tuning to another class count (reported as replaced).
   */
  replaceable?: (ourKey: string) => boolean;
}

/**
 * Loads a state dict named the `source` way into `model`, in place, through Module.loadStateDict (the one key
 * matcher), and returns its report. Everything is checked first and every problem (missing, unexpected and
 * mis-shaped keys, named the source's way) is reported in one error before anything changes. BN
 * `num_batches_tracked` counters absent from the checkpoint (some exporters drop them) keep the model's.
 * `file` names the checkpoint in messages.
 * @throws WeightsMismatchError (a user error) with the report
 */
export function loadIntoModel(
  model: EfficientNet,
  state: ReadonlyMap<string, Tensor>,
  source: WeightSource | 'effnet',
  file: string,
  options: LoadIntoModelOptions = {},
): StateDictReport {
  let hint = `check that the variant and class count match the checkpoint (model: ${model.config.name}, width ${model.config.width}, depth ${model.config.depth}, ${model.options.numClasses} classes)`;
  if (source !== 'effnet') {
    const detected = detectWeightSource(state.keys());
    if (detected !== null && detected !== source) hint = `its keys look like ${detected}'s: pass --from ${detected} (from: '${detected}')`;
  }
  try {
    return model.loadStateDict(new Map(state), {
      ...(source === 'effnet' ? {} : { keyMap: keyMapFor(source, model) }),
      ...(options.replaceable === undefined ? {} : { replaceable: options.replaceable }),
      optional: (key) => key.endsWith('.num_batches_tracked'),
      source: `${file} does not fit the model as ${source} weights`,
      hint,
    });
  } catch (error) {
    if (error instanceof StateDictError) throw new WeightsMismatchError(error.message.replace(': the state does not fit this module:', ':'), error.report);
    throw error;
  }
}

/** The first `n` bytes of a regular file (fewer when it is shorter). @throws BadFileError when it is not one */
function readFileHead(path: string, n: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new BadFileError(`could not read checkpoint ${path}: ${(error as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new BadFileError(`${path} is not a regular file; expected a checkpoint on disk`);
    const head = Buffer.alloc(n);
    return head.subarray(0, readSync(fd, head, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** Reads a checkpoint file into tensors the caller owns: torch.save zips via loadTorchCheckpoint, else safetensors. */
export function readCheckpoint(path: string): Map<string, Tensor> {
  const head = readFileHead(path, 4);
  if (looksLikeZip(head) || (head.length >= 2 && head[0] === 0x80)) return loadTorchCheckpoint(path);
  try {
    return loadSafetensors(path).tensors;
  } catch (error) {
    if (!(error instanceof BadFileError)) throw error;
    throw new BadFileError(`${path} is neither a torch.save checkpoint (.pth) nor a safetensors file: ${error.message}`);
  }
}

/** Options of {@link importWeights}. */
export interface ImportWeightsOptions extends EfficientNetOptions {
  /** Whose naming the checkpoint uses. */
  from: WeightSource;
  /** The variant name ('b0'..'b7', 'tf_b0' / 'tf_efficientnet_b0' for TF-ported timm weights) or a configuration. */
  variant: string | EfficientNetConfig;
}

/** What {@link importWeights} produced. */
export interface ImportedWeights {
  /** The model with the imported weights, in eval mode. */
  model: EfficientNet;
  /** The classifier outputs the checkpoint had. */
  checkpointClasses: number;
  /** Whether the classifier was left freshly initialised because numClasses differs from the checkpoint's. */
  classifierReset: boolean;
  /**
   * The model's card: torchvision's published eval transform for its checkpoints (src/card/published.ts), else the
   * rule; the ImageNet-1k class names when the checkpoint's 1,000-class classifier was kept.
   */
  card: ModelCard;
}

/**
 * Splits a `tf_` prefix off a variant name: TF-trained weights (timm's `tf_efficientnet_*`) need TF "SAME" padding
 * and BN eps 1e-3.
 */
export function parseImportVariant(variant: string): { name: string; tf: boolean } {
  const match = /^tf[_-](.+)$/i.exec(variant);
  return match === null ? { name: variant, tf: false } : { name: match[1]!, tf: true };
}

const CLASSIFIER_WEIGHT: Record<WeightSource, string> = { torchvision: 'classifier.1.weight', timm: 'classifier.weight' };

/**
 * Builds the model a foreign checkpoint needs and loads the checkpoint into it. The class count is read from the
 * checkpoint's classifier unless `numClasses` is given; when that differs, everything but the classifier is
 * loaded and the classifier keeps its fresh initialisation (fine-tuning). `tf_` variants get padding 'same' and
 * TF batch-norm settings unless the options say otherwise.
 */
export function importWeights(path: string, options: ImportWeightsOptions): ImportedWeights {
  const { from, variant, ...modelOptions } = options;
  if (!WEIGHT_SOURCES.includes(from)) {
    throw new Error(`importWeights: unknown source '${String(from)}'; expected one of ${WEIGHT_SOURCES.join(', ')}`);
  }
  let config: string | EfficientNetConfig = variant;
  if (typeof variant === 'string') {
    const parsed = parseImportVariant(variant);
    config = parsed.name;
    if (parsed.tf) {
      modelOptions.padding ??= 'same';
      modelOptions.batchNorm ??= 'tf';
    }
  }
  const state = readCheckpoint(path);
  try {
    const classifier = state.get(CLASSIFIER_WEIGHT[from]);
    const checkpointClasses = classifier !== undefined && classifier.shape.length === 2 ? classifier.shape[0]! : -1;
    const numClasses = modelOptions.numClasses ?? (checkpointClasses > 0 ? checkpointClasses : 1000);
    const model = createEfficientNet(config, { ...modelOptions, numClasses });
    const classifierReset = checkpointClasses > 0 && checkpointClasses !== numClasses;
    const classifierKeys = new Set(['classifier.1.weight', 'classifier.1.bias']);
    try {
      loadIntoModel(model, state, from, path, classifierReset ? { replaceable: (key) => classifierKeys.has(key) } : {});
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.eval();
    // torchvision's checkpoints come with their own eval transforms; timm's follow the card's rule.
    const published = from === 'torchvision' && typeof config === 'string' ? torchvisionEval(getVariant(config).name, path) : null;
    // An ImageNet-1k classifier kept as it is carries the 1,000 class names (torchvision's and timm's output order).
    const classNames = checkpointClasses === IMAGENET_CLASSES.length && !classifierReset ? IMAGENET_CLASSES : null;
    const card = cardOfModel(model, { origin: { kind: 'import', detail: `${from} weights ${path}` }, classNames, ...(published === null ? {} : { eval: published }) });
    attachCard(model, card);
    return { model, checkpointClasses, classifierReset, card };
  } finally {
    disposeAll(state);
  }
}

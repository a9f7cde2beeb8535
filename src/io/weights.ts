/**
 * Model weights on disk. effnet's own format is safetensors whose `__metadata__` holds one entry, `effnet`: JSON
 * with the format version, the configuration, the resolved model options, the unscaled stages and optional class
 * names, so that `loadModel` rebuilds exactly the model that was saved. Foreign checkpoints (torchvision .pth,
 * timm safetensors or .pth) are imported through the key tables of key-maps.ts, validated before anything loads.
 */
import { readFileSync } from 'node:fs';
import type { StageArgs } from '../efficientnet/block-spec.js';
import { createEfficientNet, EfficientNet, type EfficientNetOptions, type ResolvedEfficientNetOptions } from '../efficientnet/model.js';
import type { EfficientNetConfig } from '../efficientnet/variants.js';
import type { Tensor } from '../torch/index.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { loadTorchCheckpoint } from './torch-checkpoint.js';
import { detectWeightSource, keyMapFor, WEIGHT_SOURCES, type WeightSource } from './key-maps.js';
import { looksLikeZip } from './zip.js';

/** The version of the `effnet` metadata this code writes; loadModel reads this version and older ones. */
export const WEIGHTS_FORMAT_VERSION = 1;

/** The metadata key under which the model description is stored. */
export const METADATA_KEY = 'effnet';

/** What the `effnet` metadata entry holds. */
export interface ModelMetadata {
  /** {@link WEIGHTS_FORMAT_VERSION} at the time of writing. */
  format: number;
  /** The configuration the model was scaled from. */
  config: EfficientNetConfig;
  /** The model options after defaults. */
  options: ResolvedEfficientNetOptions;
  /** The unscaled stages (B0's unless the model was built from others). */
  stages: StageArgs[];
  /** Names of the classifier's outputs in order, or null. */
  classNames: string[] | null;
}

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** Names of the classes, one per classifier output; default none. */
  classNames?: readonly string[];
}

/** A model read back by {@link loadModel}. */
export interface LoadedModel {
  /** The rebuilt model with the saved weights, in eval mode. */
  model: EfficientNet;
  /** The class names saved with it, or null. */
  classNames: string[] | null;
  /** The whole metadata entry. */
  metadata: ModelMetadata;
}

/** The metadata entry describing `model`. */
export function modelMetadata(model: EfficientNet, classNames: readonly string[] | null = null): ModelMetadata {
  return {
    format: WEIGHTS_FORMAT_VERSION,
    config: { ...model.config },
    options: { ...model.options, batchNorm: { ...model.options.batchNorm } },
    stages: model.spec.stages.map((stage) => ({ ...stage.base })),
    classNames: classNames === null ? null : [...classNames],
  };
}

/**
 * Saves a model's state dict (parameters and buffers) and its description to a safetensors file, atomically.
 * @throws when classNames is given and its length differs from the model's class count
 */
export function saveModel(path: string, model: EfficientNet, options: SaveModelOptions = {}): void {
  const classNames = options.classNames ?? null;
  if (classNames !== null && classNames.length !== model.options.numClasses) {
    throw new Error(
      `saveModel(${path}): got ${classNames.length} class names for a model with ${model.options.numClasses} outputs; pass one name per class`,
    );
  }
  const metadata = modelMetadata(model, classNames);
  saveSafetensors(path, model.stateDict(), { [METADATA_KEY]: JSON.stringify(metadata) });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and checks the `effnet` metadata entry of a file; `source` names the file in errors. */
export function parseModelMetadata(metadata: Record<string, string>, source: string): ModelMetadata {
  const text = metadata[METADATA_KEY];
  if (text === undefined) {
    throw new Error(
      `${source} has no '${METADATA_KEY}' metadata, so it was not written by effnet's saveModel; ` +
        'to use torchvision or timm weights, convert them first with `effnet import --from torchvision|timm FILE --variant NAME --out OUT`',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: the '${METADATA_KEY}' metadata is not valid JSON (${(error as Error).message}); the file is corrupt`);
  }
  if (!isRecord(parsed) || typeof parsed.format !== 'number' || !isRecord(parsed.config) || !isRecord(parsed.options) || !Array.isArray(parsed.stages)) {
    throw new Error(`${source}: the '${METADATA_KEY}' metadata lacks format, config, options or stages; the file is corrupt`);
  }
  if (parsed.format > WEIGHTS_FORMAT_VERSION || parsed.format < 1) {
    throw new Error(
      `${source}: weights format version ${parsed.format} is not supported (this effnet reads versions 1..${WEIGHTS_FORMAT_VERSION}); upgrade effnet`,
    );
  }
  const classNames = parsed.classNames;
  if (classNames !== null && classNames !== undefined && !(Array.isArray(classNames) && classNames.every((n) => typeof n === 'string'))) {
    throw new Error(`${source}: the '${METADATA_KEY}' metadata has classNames that are not a list of strings`);
  }
  return {
    format: parsed.format,
    config: parsed.config as unknown as EfficientNetConfig,
    options: parsed.options as unknown as ResolvedEfficientNetOptions,
    stages: parsed.stages as StageArgs[],
    classNames: (classNames as string[] | null | undefined) ?? null,
  };
}

function disposeAll(tensors: Map<string, Tensor>): void {
  for (const tensor of tensors.values()) tensor.dispose();
}

/** Rebuilds the model a file describes and loads its weights (strictly); the model is in eval mode. */
export function loadModel(path: string): LoadedModel {
  const { tensors, metadata: raw } = loadSafetensors(path);
  try {
    const metadata = parseModelMetadata(raw, path);
    const { numClasses, dropout, stochasticDepth, padding, batchNorm, inChannels } = metadata.options;
    const model = createEfficientNet(metadata.config, {
      numClasses,
      dropout,
      stochasticDepth,
      padding,
      batchNorm,
      inChannels,
      stages: metadata.stages,
    });
    try {
      loadIntoModel(model, tensors, 'effnet', path);
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.eval();
    return { model, classNames: metadata.classNames, metadata };
  } finally {
    disposeAll(tensors);
  }
}

/** Options of {@link loadIntoModel}. */
export interface LoadIntoModelOptions {
  /**
   * Keys of ours to leave as the model has them, e.g. the classifier when fine-tuning to another class count;
   * they must then be absent from (or are ignored in) the checkpoint.
   */
  skip?: (ourKey: string) => boolean;
}

/**
 * Loads a state dict named the `source` way into `model`, in place. Everything is checked first and every problem
 * (missing, unexpected and mis-shaped keys, named the source's way) is reported in one error before anything
 * changes. BN `num_batches_tracked` counters absent from the checkpoint (some exporters drop them) keep the model's.
 * `file` names the checkpoint in messages.
 */
export function loadIntoModel(
  model: EfficientNet,
  state: ReadonlyMap<string, Tensor>,
  source: WeightSource | 'effnet',
  file: string,
  options: LoadIntoModelOptions = {},
): void {
  const own = model.stateDict();
  const map = source === 'effnet' ? new Map([...own.keys()].map((key) => [key, key])) : keyMapFor(source, model);
  const skip = options.skip ?? ((): boolean => false);
  const mapped = new Map<string, Tensor>();
  const unexpected: string[] = [];
  for (const [key, value] of state) {
    const ours = map.get(key);
    if (ours === undefined) unexpected.push(key);
    else if (!skip(ours)) mapped.set(ours, value);
  }
  const theirs = new Map([...map].map(([their, ours]) => [ours, their]));
  const missing: string[] = [];
  const misShaped: string[] = [];
  for (const [key, target] of own) {
    if (skip(key)) {
      mapped.set(key, target);
      continue;
    }
    const value = mapped.get(key);
    const name = theirs.get(key) ?? key;
    if (value === undefined) {
      if (key.endsWith('.num_batches_tracked')) mapped.set(key, target);
      else missing.push(name);
      continue;
    }
    const expected = target.shape;
    const got = value.shape;
    if (expected.length !== got.length || expected.some((d, i) => d !== got[i])) {
      misShaped.push(`${name} (expected [${expected.join(', ')}], got [${got.join(', ')}])`);
    }
  }
  if (missing.length + unexpected.length + misShaped.length > 0) {
    const problems: string[] = [];
    if (missing.length > 0) problems.push(`${missing.length} missing keys: ${missing.join(', ')}`);
    if (unexpected.length > 0) problems.push(`${unexpected.length} unexpected keys: ${unexpected.join(', ')}`);
    if (misShaped.length > 0) problems.push(`${misShaped.length} mis-shaped keys: ${misShaped.join('; ')}`);
    let hint = `check that the variant and class count match the checkpoint (model: ${model.config.name}, width ${model.config.width}, depth ${model.config.depth}, ${model.options.numClasses} classes)`;
    if (source !== 'effnet') {
      const detected = detectWeightSource(state.keys());
      if (detected !== null && detected !== source) hint = `its keys look like ${detected}'s: pass --from ${detected} (from: '${detected}')`;
    }
    throw new Error(`${file} does not fit the model as ${source} weights: ${problems.join('; ')}. Nothing was loaded; ${hint}.`);
  }
  model.loadStateDict(mapped);
}

/** Reads a checkpoint file into tensors the caller owns: torch.save zips via loadTorchCheckpoint, else safetensors. */
export function readCheckpoint(path: string): Map<string, Tensor> {
  let head: Buffer;
  try {
    head = readFileSync(path).subarray(0, 4);
  } catch (error) {
    throw new Error(`could not read checkpoint ${path}: ${(error as Error).message}`);
  }
  if (looksLikeZip(head) || (head.length >= 2 && head[0] === 0x80)) return loadTorchCheckpoint(path);
  try {
    return loadSafetensors(path).tensors;
  } catch (error) {
    throw new Error(
      `${path} is neither a torch.save checkpoint (.pth) nor a safetensors file: ${(error as Error).message}`,
    );
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
      loadIntoModel(model, state, from, path, classifierReset ? { skip: (key) => classifierKeys.has(key) } : {});
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.eval();
    return { model, checkpointClasses, classifierReset };
  } finally {
    disposeAll(state);
  }
}

/**
 * One training run as `effnet train` performs it: resolve the data spec, build the model (registered variant or
 * custom width/depth, with the small-image recipe below 64px), optionally start from pretrained weights and freeze
 * stages, train with the Trainer (checkpoints, metrics files, progress bar), and on completion write the final
 * model with saveModel (class names in its metadata) plus a summary.json; when the validation images are a seeded
 * hold-out, their names go to split.json (split-file.ts). Also the reverse: rebuilding a model from a saved model
 * file or a training checkpoint for `effnet eval`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader } from '../data/loader.js';
import type { ImageDataset } from '../data/dataset.js';
import { efficientNetB0Stages, type StageArgs } from '../efficientnet/block-spec.js';
import { createEfficientNet, EfficientNet } from '../efficientnet/model.js';
import { customConfig, getVariant, MIN_RESOLUTION, type EfficientNetConfig } from '../efficientnet/variants.js';
import { loadModel, loadIntoModel, METADATA_KEY, modelMetadata, parseModelMetadata, saveModel } from '../io/weights.js';
import { loadSafetensors } from '../io/safetensors.js';
import { manualSeed, setNumThreads, type Tensor } from '../torch/index.js';
import { CHECKPOINT_METADATA_KEY, loadCheckpoint, type JsonValue } from './checkpoint.js';
import { freeze, loadPretrained } from './finetune.js';
import type { ProgressStream } from './progress.js';
import { openData, resolveData, type ResolvedData } from '../data/spec.js';
import { isHoldOut, SPLIT_FILE, SPLIT_SEED, splitFileFor, writeSplitFile, type SplitFile } from './split-file.js';
import { evalTransform, isSmallImage, smallImageStages, trainTransform, type AugmentChoice } from './small-images.js';
import { formatSummary, readMetrics, summarizeRun, type RunSummary } from './summary.js';
import { CHECKPOINT_FILES, Trainer, type EpochMetrics, type Recipe } from './trainer.js';

/** Raised for options that cannot work together (the CLI turns it into exit code 2). */
export class RunOptionsError extends Error {
  override name = 'RunOptionsError';
}

/** File names a finished run writes besides checkpoints and metrics. */
export const RUN_FILES = { model: 'model.safetensors', emaModel: 'model_ema.safetensors', summary: 'summary.json' } as const;

/** Which network to build. */
export interface ModelChoice {
  /** 'b0'..'b8', 'l2' or 'custom'. */
  name: string;
  /** Width multiplier; required for 'custom', overrides the variant's otherwise. */
  width?: number;
  /** Depth multiplier; required for 'custom', overrides the variant's otherwise. */
  depth?: number;
  /** Training resolution; default the variant's (224 for custom). Must be >= 32. */
  imageSize?: number;
  /** Classifier dropout; default the variant's. */
  dropout?: number;
  /** Largest stochastic-depth rate; default 0.2. */
  stochasticDepth?: number;
  /**
   * Unscaled stages to build (e.g. a configuration file's); default B0's, with the small-image strides up to 64px.
   * When given they are used as they are (no small-image rule), apart from `strides`.
   */
  stages?: StageArgs[];
  /** The first-block stride of every stage (1 or 2, one per stage, after the stride-2 stem); overrides the small-image rule. */
  strides?: number[];
}

/** A model configuration resolved from a {@link ModelChoice}. */
export interface ResolvedModel {
  /** The configuration (resolution = the training size). */
  config: EfficientNetConfig;
  /** The unscaled stages (B0's, or the small-image version of them). */
  stages: StageArgs[];
}

/** Resolves the model choice; throws RunOptionsError for unknown names, missing multipliers or sizes below 32. */
export function resolveModel(choice: ModelChoice): ResolvedModel {
  let base: EfficientNetConfig;
  if (choice.name === 'custom') {
    if (choice.width === undefined || choice.depth === undefined) {
      throw new RunOptionsError('--model custom needs --width and --depth (e.g. --width 0.5 --depth 0.5)');
    }
    base = { name: 'custom', width: choice.width, depth: choice.depth, resolution: 224, dropout: 0.2, phi: null };
  } else {
    try {
      base = getVariant(choice.name);
    } catch (error) {
      throw new RunOptionsError((error as Error).message);
    }
  }
  const imageSize = choice.imageSize ?? base.resolution;
  if (!Number.isInteger(imageSize) || imageSize < MIN_RESOLUTION) {
    throw new RunOptionsError(`--image-size must be an integer >= ${MIN_RESOLUTION} (the network's total stride), got ${imageSize}; small images are up-sampled to it`);
  }
  let config: EfficientNetConfig;
  try {
    config = customConfig({ width: choice.width ?? base.width, depth: choice.depth ?? base.depth, resolution: imageSize, dropout: choice.dropout ?? base.dropout });
  } catch (error) {
    throw new RunOptionsError((error as Error).message);
  }
  const name = choice.name === 'custom' || choice.width !== undefined || choice.depth !== undefined ? 'custom' : base.name;
  let stages: StageArgs[];
  if (choice.strides !== undefined) stages = withStrides(choice.stages ?? efficientNetB0Stages(), choice.strides);
  else if (choice.stages !== undefined) stages = choice.stages.map((stage) => ({ ...stage }));
  else stages = isSmallImage(imageSize) ? smallImageStages(imageSize) : efficientNetB0Stages();
  const totalStride = 2 * stages.reduce((product, stage) => product * stage.stride, 1);
  if (imageSize < totalStride) {
    throw new RunOptionsError(`--image-size ${imageSize} is smaller than the network's total stride ${totalStride} (stem 2 x strides ${stages.map((s) => s.stride).join(',')}); raise --image-size or set more strides to 1`);
  }
  return { config: { ...config, name }, stages };
}

/** Parses `--strides S1,...,Sn`: comma-separated stage strides, each 1 or 2 (the count is checked against the stages later). */
export function parseStrides(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const strides = parts.map(Number);
  const bad = parts.findIndex((part, i) => part === '' || (strides[i] !== 1 && strides[i] !== 2));
  if (bad >= 0) {
    throw new RunOptionsError(`--strides takes one stride per stage, each 1 or 2, e.g. 1,1,1,2,1,2,1 (after the stride-2 stem); got '${parts[bad]}' in '${text}'`);
  }
  return strides;
}

/** `stages` with the first-block strides replaced by `strides` (one per stage, each 1 or 2). */
export function withStrides(stages: readonly StageArgs[], strides: readonly number[]): StageArgs[] {
  if (strides.length !== stages.length) {
    throw new RunOptionsError(`--strides needs one stride per stage: ${stages.length} values (e.g. ${stages.map((s) => s.stride).join(',')}), got ${strides.length} ('${strides.join(',')}')`);
  }
  for (const stride of strides) {
    if (stride !== 1 && stride !== 2) throw new RunOptionsError(`--strides values must be 1 or 2, got ${stride} in '${strides.join(',')}'`);
  }
  return stages.map((stage, i) => ({ ...stage, stride: strides[i]! }));
}

/** Parses `--freeze`: comma-separated feature indices or ranges ('0-3,5'); feature 0 is the stem, 1..7 the stages. */
export function parseFreeze(text: string): string[] {
  const prefixes: string[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new RunOptionsError(`--freeze takes feature indices or ranges such as '0-3' or '0,1,2' (0 is the stem, 1..7 the stages), got '${part}'`);
    const lo = Number(match[1]);
    const hi = match[2] === undefined ? lo : Number(match[2]);
    if (hi < lo) throw new RunOptionsError(`--freeze range '${part}' is empty; write it low-high`);
    for (let i = lo; i <= hi; i++) prefixes.push(`features.${i}.`);
  }
  if (prefixes.length === 0) throw new RunOptionsError('--freeze needs at least one feature index, e.g. --freeze 0-3');
  return prefixes;
}

/** Everything `effnet train` needs. */
export interface TrainRunOptions {
  /** The network. */
  model: ModelChoice;
  /** The data spec (see src/data/spec.ts). */
  data: string;
  /** Fraction held out for validation when the data has no split; default 0.1. */
  valSplit?: number;
  /** Run directory. */
  out: string;
  /** Images per step. */
  batchSize: number;
  /** The recipe (epochs, optimizer, schedule, ...). */
  recipe: Recipe;
  /** Automatic augmentation; default none. */
  augment?: AugmentChoice;
  /** Random-resized-crop area range; default [0.08, 1], or [0.64, 1] for small images. */
  cropScale?: [number, number];
  /** Continue from out/last.safetensors. */
  resume?: boolean;
  /** Pretrained weights (an effnet safetensors model or weights file) to start from, with a fresh classifier. */
  from?: string;
  /** Feature indices to freeze, as parseFreeze prefixes. */
  freeze?: string[];
  /** libtorch threads; default libtorch's setting. */
  threads?: number;
  /** Loader worker threads; default 2. */
  workers?: number;
  /** Run seed (initialisation, data order, augmentation, dropout); default 0. */
  seed?: number;
  /** Feed channels_last batches; default true (faster on CPU). */
  channelsLast?: boolean;
  /** Progress bar output; default none. */
  progress?: ProgressStream | null;
  /** Messages (set-up lines, summary); default none. */
  log?: (line: string) => void;
  /** Aborting it stops training after the current step, with a checkpoint (SIGINT/SIGTERM handlers abort it). */
  signal?: AbortSignal;
  /** Called once the trainer exists and the first step is about to run (tests use it). */
  onStart?: () => void;
}

/** What runTraining returns. */
export interface TrainRunResult {
  /** True when the run was stopped through the signal (last.safetensors holds the position). */
  stopped: boolean;
  /** Metrics of the epochs this call ran. */
  epochs: EpochMetrics[];
  /** The summary (also written to summary.json when the run completed). */
  summary: RunSummary;
  /** Path of the final model (null when stopped). */
  modelPath: string | null;
  /** Path of the final EMA model (null when stopped or without EMA). */
  emaModelPath: string | null;
  /** Path of the last checkpoint. */
  checkpointPath: string;
}

function loaderFor(dataset: ImageDataset, options: { batchSize: number; train: boolean; imageSize: number; augment: AugmentChoice; cropScale?: [number, number] | undefined; seed: number; workers: number }): DataLoader {
  return new DataLoader(dataset, {
    batchSize: options.batchSize,
    transform: options.train ? trainTransform(options.imageSize, options.augment, options.cropScale) : evalTransform(options.imageSize),
    shuffle: options.train,
    seed: options.seed,
    // A last batch of one image breaks batch norm in training mode; validation keeps every image.
    dropLast: options.train && dataset.length > options.batchSize,
    workers: options.workers,
  });
}

function loadFromWeights(model: EfficientNet, path: string): string {
  if (!existsSync(path)) throw new RunOptionsError(`--from ${path} does not exist; pass weights written by effnet (saveModel or effnet import)`);
  const { tensors } = loadSafetensors(path);
  try {
    const report = loadPretrained(model, tensors);
    return `loaded ${report.loaded.length} tensors from ${path}` + (report.reinitialized.length > 0 ? `, new classifier (${report.reinitialized.join(', ')})` : '');
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Runs (or resumes) a training run; see the module comment. */
export async function runTraining(options: TrainRunOptions): Promise<TrainRunResult> {
  const started = performance.now();
  const log = options.log ?? ((): void => undefined);
  const seed = options.seed ?? 0;
  const lastPath = join(options.out, CHECKPOINT_FILES.last);
  if (options.resume && !existsSync(lastPath)) {
    throw new RunOptionsError(`--resume: ${lastPath} does not exist; start the run without --resume (or point --out at the run directory)`);
  }
  if (!options.resume && existsSync(lastPath)) {
    throw new RunOptionsError(`${options.out} already holds a run (${lastPath}); pass --resume to continue it or choose another --out`);
  }
  const resolved = resolveModel(options.model);
  const valSplit = options.valSplit ?? 0.1;
  const data: ResolvedData = await openData(options.data, { valSplit, splitSeed: SPLIT_SEED });
  if (options.threads !== undefined) setNumThreads(options.threads);
  manualSeed(seed);
  const model = createEfficientNet(resolved.config, {
    numClasses: data.classes.length,
    stages: resolved.stages,
    ...(options.model.stochasticDepth === undefined ? {} : { stochasticDepth: options.model.stochasticDepth }),
  });
  const imageSize = resolved.config.resolution;
  const workers = options.workers ?? 2;
  const train = loaderFor(data.train, { batchSize: options.batchSize, train: true, imageSize, augment: options.augment ?? null, cropScale: options.cropScale, seed, workers });
  const val = loaderFor(data.val, { batchSize: options.batchSize, train: false, imageSize, augment: null, seed, workers });
  let trainer: Trainer | null = null;
  const onAbort = (): void => trainer?.stop();
  try {
    if (options.from !== undefined && !options.resume) log(loadFromWeights(model, options.from));
    if (options.freeze !== undefined && options.freeze.length > 0) {
      const frozen = freeze(model, options.freeze);
      log(`froze ${frozen.length} parameter tensors under ${options.freeze.join(', ')}`);
    }
    const config: { [key: string]: JsonValue } = {
      model: modelMetadata(model, data.classes) as unknown as JsonValue,
      data: options.data,
      validation: data.validation,
      imageSize,
      augment: (options.augment ?? null) as unknown as JsonValue,
      cropScale: options.cropScale ?? null,
    };
    trainer = new Trainer({ model, train, val, runDir: options.out, recipe: options.recipe, channelsLast: options.channelsLast ?? true, config, progress: options.progress ?? null });
    if (options.resume) {
      trainer.resume();
      log(`resuming ${lastPath} after epoch ${trainer.progress.epoch} (step ${trainer.progress.step}, next batch ${trainer.progress.position.batch} of epoch ${trainer.progress.position.epoch + 1})`);
    }
    const params = model.parameters().reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    log(
      `training ${resolved.config.name} (width ${resolved.config.width}, depth ${resolved.config.depth}, ${params.toLocaleString('en-US')} parameters, ` +
        `total stride ${model.spec.totalStride}) at ${imageSize}px on ${data.train.length} images of ${data.classes.length} classes; validation: ${data.validation}`,
    );
    log(`recipe: ${JSON.stringify({ ...options.recipe, lr: trainer.lr, batchSize: options.batchSize })}`);
    if (isHoldOut(data)) {
      const splitPath = join(options.out, SPLIT_FILE);
      writeSplitFile(splitPath, splitFileFor(options.data, data));
      log(`validation images listed in ${splitPath}`);
    }
    options.signal?.addEventListener('abort', onAbort);
    options.onStart?.();
    // A signal that arrived during set-up: fit() then saves the position and returns without a step.
    if (options.signal?.aborted) trainer.stop();
    const epochs = await trainer.fit();
    const summary = summarizeRun(readMetrics(options.out), epochs, (performance.now() - started) / 1000, trainer.earlierSeconds);
    if (trainer.stopped) {
      return { stopped: true, epochs, summary, modelPath: null, emaModelPath: null, checkpointPath: lastPath };
    }
    const modelPath = join(options.out, RUN_FILES.model);
    saveModel(modelPath, model, { classNames: data.classes });
    let emaModelPath: string | null = null;
    if (trainer.ema !== null) {
      emaModelPath = join(options.out, RUN_FILES.emaModel);
      trainer.ema.copyTo(model);
      saveModel(emaModelPath, model, { classNames: data.classes });
    }
    writeFileSync(join(options.out, RUN_FILES.summary), `${JSON.stringify({ ...summary, model: modelPath, emaModel: emaModelPath }, null, 2)}\n`);
    log(formatSummary(summary));
    return { stopped: false, epochs, summary, modelPath, emaModelPath, checkpointPath: lastPath };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    trainer?.dispose();
    model.dispose();
    await train.close();
    await val.close();
  }
}

/**
 * Writes the split file of `spec` with `valSplit` (default 0.1) to `path` without training (nor decoding any image):
 * the same hold-out a run with these options makes. Returns what was written; throws SplitFileError when the data have their own split.
 */
export function writeSplitForSpec(spec: string, path: string, valSplit = 0.1): SplitFile {
  const data = resolveData(spec, { valSplit, splitSeed: SPLIT_SEED });
  const split = splitFileFor(spec, data);
  writeSplitFile(path, split);
  return split;
}

/** A model rebuilt for evaluation, with the class names it was trained on. */
export interface EvalModel {
  /** The model, in eval mode. */
  model: EfficientNet;
  /** Class names, or null when the file has none. */
  classNames: string[] | null;
  /** 'model' for a saveModel file, 'checkpoint' for a training checkpoint. */
  kind: 'model' | 'checkpoint';
}

/**
 * Opens a model for evaluation: a saveModel file (`model.safetensors`), or a training checkpoint
 * (`last.safetensors`, `best.safetensors`) whose raw or, with `ema`, EMA weights are used.
 */
export function openEvalModel(path: string, ema = false): EvalModel {
  if (!existsSync(path)) throw new RunOptionsError(`--checkpoint ${path} does not exist; pass a model.safetensors or a last/best.safetensors checkpoint of a run`);
  const { metadata, tensors } = loadSafetensors(path);
  for (const t of tensors.values()) t.dispose();
  if (metadata[CHECKPOINT_METADATA_KEY] === undefined) {
    if (ema) throw new RunOptionsError(`--ema needs a training checkpoint (last.safetensors or best.safetensors); ${path} is a model file (its EMA weights, when the run had an EMA, are in ${RUN_FILES.emaModel})`);
    const loaded = loadModel(path);
    return { model: loaded.model, classNames: loaded.classNames, kind: 'model' };
  }
  const checkpoint = loadCheckpoint(path);
  try {
    const description = checkpoint.config.model;
    if (description === undefined) throw new RunOptionsError(`${path}: the checkpoint has no model description (config.model); it was not written by effnet train`);
    const meta = parseModelMetadata({ [METADATA_KEY]: JSON.stringify(description) }, path);
    const { numClasses, dropout, stochasticDepth, padding, batchNorm, inChannels } = meta.options;
    const model = createEfficientNet(meta.config, { numClasses, dropout, stochasticDepth, padding, batchNorm, inChannels, stages: meta.stages });
    let weights: Map<string, Tensor> = checkpoint.model;
    if (ema) {
      if (checkpoint.ema === null) {
        model.dispose();
        throw new RunOptionsError(`${path}: the run had no EMA (--no-ema); evaluate without --ema`);
      }
      weights = checkpoint.ema.tensors;
    }
    try {
      loadIntoModel(model, weights, 'effnet', path);
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.eval();
    return { model, classNames: meta.classNames, kind: 'checkpoint' };
  } finally {
    checkpoint.dispose();
  }
}

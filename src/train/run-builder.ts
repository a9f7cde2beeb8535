/**
 * The one way a run is put together from a model card: the seeded model, the training loader (augmentation at the
 * card's resolution with the card's normalisation, shuffled, the last partial batch dropped) and the validation
 * loader (the card's eval transform, every image, in order). `effnet train`, the search trials and `effnet demo`
 * build their runs here, so a model is validated exactly as its card says it is served.
 */
import type { ModelCard } from '../card/model-card.js';
import { evalTransformOf } from '../card/model-card.js';
import { createModelFromCard } from '../card/build.js';
import type { ImageDataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import type { ShardSpec } from '../data/shard.js';
import type { EfficientNet } from '../efficientnet/model.js';
import { manualSeed } from '../torch/index.js';
import { trainTransform, type AugmentChoice } from './small-images.js';
import { allStages, stageOfEpoch, type ProgressiveSchedule } from './progressive.js';
import type { TransformSpec } from '../data/transforms/pipeline.js';

/** What {@link buildRun} needs; each default is stated. */
export interface RunBuildOptions {
  /** The model card: network, classes, eval transform. */
  card: ModelCard;
  /** Training and validation images. */
  data: { train: ImageDataset; val: ImageDataset };
  /** Training images per step (per rank with `shard`). */
  batchSize: number;
  /** Data-parallel rank: the training loader yields this rank's share of each epoch (DataLoader's shard), the validation loader its exact share; default none. */
  shard?: ShardSpec | null;
  /** Validation images per batch; default batchSize (evaluation results do not depend on it). */
  evalBatchSize?: number;
  /** Automatic augmentation; default none. */
  augment?: AugmentChoice;
  /** Random-resized-crop area range; default [0.08, 1], or [0.64, 1] up to 64px (train/small-images.ts). */
  cropScale?: readonly [number, number];
  /** Seed of the initial weights (libtorch's generator is seeded with it first), data order and augmentation. */
  seed: number;
  /** Loader worker threads (0: batches assembled on the training thread). */
  workers: number;
  /**
   * Progressive learning: the training loader gets one transform per stage (the stage's image size and RandAugment
   * magnitude), stage of epoch e = stageOfEpoch(e, epochs, stages); its final size must be the card's resolution.
   * Default none: the card's resolution throughout.
   */
  progressive?: { schedule: ProgressiveSchedule; epochs: number } | null;
}

/** A run's model and loaders; close() ends the loaders (the model is the caller's to dispose). */
export interface BuiltRun {
  /** The freshly initialised model of the card, in training mode. */
  model: EfficientNet;
  /** Training batches. */
  train: DataLoader;
  /** Validation batches with the card's eval transform. */
  val: DataLoader;
  /** Stops both loaders' workers. */
  close(): Promise<void>;
}

/**
 * Whether the training loader drops its last partial batch: yes whenever there is at least one full batch, since a
 * last batch of one image breaks batch norm in training mode; with fewer images than one batch, the one batch is kept.
 */
export function dropsLastBatch(trainImages: number, batchSize: number): boolean {
  return trainImages > batchSize;
}

/** A run's loaders; close() ends their workers. */
export interface RunLoaders {
  /** Training batches (with the progressive stages' transforms when given). */
  train: DataLoader;
  /** Validation batches with the card's eval transform. */
  val: DataLoader;
  /** Stops both loaders' workers. */
  close(): Promise<void>;
}

/**
 * The training and validation loaders of a run (what {@link buildRun} builds beside the model): for models that are
 * not built from the card, such as a one-shot supernet whose card is that of its reference candidate.
 */
export function buildLoaders(options: RunBuildOptions): RunLoaders {
  const { card, data, batchSize, seed, workers } = options;
  const size = card.architecture.resolution;
  const cropScale: [number, number] | undefined = options.cropScale === undefined ? undefined : [options.cropScale[0], options.cropScale[1]];
  // The crop range follows the final size (the small-image rule), whatever size a progressive stage trains at.
  const finalTransform = trainTransform(size, options.augment ?? null, cropScale);
  const transformAt = (side: number, magnitude: number | null): TransformSpec => {
    let augment = options.augment ?? null;
    if (augment !== null && augment.kind === 'randaugment' && magnitude !== null) augment = { ...augment, m: magnitude };
    return { ...finalTransform, size: side, augment, mean: [...card.eval.mean], std: [...card.eval.std] };
  };
  const progressive = options.progressive ?? null;
  if (progressive !== null && progressive.schedule.size[1] !== size) {
    throw new Error(`buildRun: the progressive schedule ends at ${progressive.schedule.size[1]}px but the card trains at ${size}px`);
  }
  const stages = progressive === null ? null : allStages(progressive.schedule);
  const train = new DataLoader(data.train, {
    batchSize,
    transform: transformAt(size, null),
    stages:
      stages === null
        ? null
        : { transforms: stages.map((s) => transformAt(s.size, s.magnitude)), stageOf: (epoch) => stageOfEpoch(epoch, progressive!.epochs, progressive!.schedule.stages) },
    shuffle: true,
    seed,
    dropLast: dropsLastBatch(data.train.length, batchSize),
    workers,
    shard: options.shard ?? null,
  });
  // A rank evaluates its exact share (every worldSize-th image, no padding); the Trainer adds the ranks' sums.
  const valShard = options.shard ? { rank: options.shard.rank, worldSize: options.shard.worldSize, exact: true } : null;
  const val = new DataLoader(data.val, { batchSize: options.evalBatchSize ?? batchSize, transform: evalTransformOf(card), shuffle: false, seed, workers, shard: valShard });
  return {
    train,
    val,
    close: async () => {
      await train.close();
      await val.close();
    },
  };
}

/** Builds the model and loaders of a run (see the module comment). */
export function buildRun(options: RunBuildOptions): BuiltRun {
  // The initial weights follow the run's seed, not whatever the process's generator drew before.
  manualSeed(options.seed);
  const model = createModelFromCard(options.card);
  return { model, ...buildLoaders(options) };
}

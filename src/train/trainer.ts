/**
 * The Trainer: runs the EfficientNet recipe (by default the paper's: RMSprop-TF, lr 0.016 per 256 images,
 * warm-up then x0.97 every 2.4 epochs, weight decay 1e-5 without BN/bias, label smoothing 0.1, EMA of weights) over
 * a model and data loaders, evaluates raw and EMA weights each epoch, logs metrics to the run directory and writes
 * checkpoints (last.safetensors every epoch, best.safetensors at the best validation top-1). A run resumed from
 * last.safetensors continues bit for bit: every random draw is derived from (seed, epoch, step).
 */
import { cardDifferences, type ModelCard } from '../card/model-card.js';
import { ttaViews, type Tta, type TtaView } from '../card/tta.js';
import { UserError } from '../errors.js';
import { existsSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { updateMetricsChart } from './metrics-chart.js';
import { appendProfile, EpochTimer, type EpochProfile } from './profile.js';
import { stageOfEpoch, stageSettings, type ProgressiveSchedule } from './progressive.js';
import { mixupPlan } from './mixup.js';
import { join } from 'node:path';
import {
  add,
  autocast,
  clone,
  contiguous,
  crossEntropy,
  flip,
  indexSelect,
  isCuda,
  keep,
  manualSeed,
  mul,
  narrow,
  noGrad,
  reflectionPad2d,
  tensor,
  tidy,
  type AutocastOptions,
  type ProcessGroup,
  type Tensor,
} from '../torch/index.js';
import { averageGradients, batchNormStatisticNames, broadcastModule, checkSameModule, distributeBatchNormStatistics, distributeTensors, gradientBuckets, useSyncBatchNorm, type DistributedBatchNormMode } from '../distributed/index.js';
import type { Module } from '../nn/index.js';
import { AdamW, GradScaler, RMSpropTF, SGD, paramGroupsWithWeightDecay, type GradScalerState, type Optimizer } from '../optim/index.js';
import { ModelEma, type EmaBufferMode } from '../optim/ema.js';
import { annealedSchedule, cosineSchedule, scaleLearningRate, stepDecaySchedule, type LearningRateSchedule } from '../optim/schedule.js';
import type { Batch, DataLoader } from '../data/loader.js';
import { deriveSeed } from '../data/rng.js';
import { toChannelsLast } from '../nn/index.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { loadCheckpoint, saveCheckpoint, type JsonValue, type TrainingProgressState } from '../model-file/checkpoint.js';
import { appendMetrics, countCorrect, type MetricsRecord } from './metrics.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** A tag mixed into the per-step libtorch seed so it differs from the loader's seeds. */
export const TORCH_SEED_TAG = 0x70726e67;

/** The training recipe; every field is optional and defaults to the paper's value (documented per field). */
export interface Recipe {
  /** Epochs to train in total. Required. */
  epochs: number;
  /** Optimizer: 'rmsproptf' (default; decay 0.9, momentum 0.9, eps 1e-3), 'sgd' (momentum 0.9, Nesterov) or 'adamw'. */
  optimizer?: 'rmsproptf' | 'sgd' | 'adamw';
  /** Learning rate per 256 images, scaled linearly to the batch size; default 0.016. Ignored when `lr` is set. */
  lrPer256?: number;
  /** Absolute learning rate (overrides lrPer256). */
  lr?: number;
  /** 'step' (default: x decayRate every decayEpochs, the paper) or 'cosine'. */
  schedule?: 'step' | 'cosine';
  /** Linear warm-up epochs; default 0 (the paper's ImageNet runs use 5 in timm's recipe; short runs want fewer). */
  warmupEpochs?: number;
  /** Warm-up start learning rate; default 1e-6. */
  warmupLr?: number;
  /** Epochs between decays of the step schedule; default 2.4. */
  decayEpochs?: number;
  /** Factor of each decay of the step schedule; default 0.97. */
  decayRate?: number;
  /** Weight decay, not applied to BN parameters and biases; default 1e-5. */
  weightDecay?: number;
  /** Label smoothing of the cross entropy; default 0.1. */
  labelSmoothing?: number;
  /** EMA decay bound (adapted to short runs); default 0.9999; null disables the EMA. */
  emaDecay?: number | null;
  /** EMA of BN running statistics: 'copy' them from the model (default, as the reference) or 'average' them (timm). */
  emaBuffers?: EmaBufferMode;
  /**
   * Validate every N epochs (and always after the last): each validation pass (raw and EMA weights over the whole
   * hold-out) costs about a tenth of a small-image epoch, which a short recipe may rather spend training. Epochs in
   * between record null validation metrics. Default 1.
   */
  evalEvery?: number;
  /** Mixup α (src/train/mixup.ts); default 0: no mixup. With `progressive`, the final stage's α. */
  mixup?: number;
  /**
   * Progressive learning (src/train/progressive.ts): image size and regularization grown over equal stages of the run.
   * The Trainer applies each stage's dropout, drop-path and mixup at the stage's first epoch; the training loader
   * must carry the stages' transforms (run-builder.ts builds both from the same schedule). Default none.
   */
  progressive?: ProgressiveSchedule | null;
}

/** Options of Trainer. */
export interface TrainerOptions {
  /** The model (trained in place). */
  model: Module;
  /** Training batches (its batch size sets the learning-rate scaling and its seed the run's randomness). */
  train: DataLoader;
  /** Validation batches, or null to skip evaluation (best.safetensors is then never written). */
  val: DataLoader | null;
  /** Run directory for checkpoints and metrics; created when missing. */
  runDir: string;
  /** The recipe. */
  recipe: Recipe;
  /**
   * Train in channels_last memory format (faster convolutions on CPU): the model's conv kernels are re-laid out as
   * NHWC in place when the Trainer is built (as PyTorch's `model.to(memory_format=torch.channels_last)`; values and
   * parameter objects unchanged) and images are fed as NHWC. Default false. With NHWC images but NCHW kernels
   * libtorch converts between the layouts at every convolution (measured: a b0 32px batch-32 step 27% slower).
   */
  channelsLast?: boolean;
  /** Further configuration saved in checkpoints (model name, data spec), as JSON; default {}. */
  config?: { [key: string]: JsonValue };
  /** Progress bar output; default null (none). */
  progress?: ProgressStream | null;
  /**
   * Time the phases of every epoch (data wait, forward, backward, all-reduce, optimizer, EMA, evaluation,
   * checkpoints; src/train/profile.ts), written to runDir/profile.jsonl and passed to onProfile. Default false.
   */
  profile?: boolean;
  /** Called with each epoch's profile when `profile` is on. */
  onProfile?: (profile: EpochProfile) => void;
  /** Called after every optimizer step with the number of steps taken (e.g. to call stop() from a test). */
  onStep?: (step: number) => void;
  /**
   * Called before every training step's forward with the number of steps taken so far: a weight-sharing supernet
   * picks the step's path here (src/search/oneshot). Make what it does a function of the step, so that a resumed run
   * does exactly what the uninterrupted one did. Default none.
   */
  beforeStep?: (step: number) => void;
  /**
   * Called in every training step right after the model's forward: a loss to add to the objective (a supernet's
   * in-place distillation of other paths, src/search/oneshot), or null. Default none.
   */
  auxiliaryLoss?: () => Tensor | null;
  /** Called before each evaluation of the model and of its EMA (a supernet activates the path to report). Default none. */
  beforeEvaluate?: () => void;
  /** Called after each finished epoch with its metrics and its wall time in seconds (training and evaluation). */
  onEpoch?: (metrics: EpochMetrics, seconds: number) => void;
  /**
   * The model card of `model`, stored in every checkpoint so that a checkpoint can be evaluated, exported and
   * resumed as the model it is; default none (a bare Module).
   */
  card?: ModelCard | null;
  /**
   * Data-parallel training over a c10d process group (docs/distributed.md): `train` must be this rank's sharded
   * loader (DataLoader's `shard` option) with the per-rank batch size; the learning rate scales with the global
   * batch (per-rank batch × world size). At the first fit() every rank checks that all built the same model, takes
   * rank 0's weights (and starts the EMA from them), and with `syncBatchNorm` normalises with the global batch's
   * statistics; after each backward the gradients are averaged over the ranks. A validation loader sharded for the
   * rank with exact shares (`shard: { rank, worldSize, exact: true }`) is evaluated share by share and the sums added
   * over the ranks; an unsharded one is evaluated whole on every rank. Either way the metrics are the whole set's.
   * Only rank 0 writes
   * checkpoints and metrics, and the others wait for it at a barrier. Training loss and accuracy in the metrics are
   * rank 0's shard's. Without `syncBatchNorm`, each rank's running statistics come from its own shard; at each
   * epoch's end `batchNormStatistics` makes them agree, the model's and the EMA's (timm's --dist-bn: 'reduce'
   * averages them over the ranks, the default; 'broadcast' takes rank 0's; null leaves them), so that the EMA scored
   * in the metrics is the one rank 0 saves. A stop() on any rank stops every rank after the same
   * step (the ranks agree through a one-value allreduce after each step). Checkpoints record the global batch, so
   * a run resumes at any world size that divides it. `partialGradients`: parameters may have no gradient in a step
   * (a weight-sharing supernet trains one path per step), the same ones on every rank (averageGradients checks it).
   * Default null: one process.
   */
  distributed?: { group: ProcessGroup; syncBatchNorm?: boolean; batchNormStatistics?: DistributedBatchNormMode | null; partialGradients?: boolean } | null;
  /**
   * Where to train: 'cpu' or 'cuda:N' (resolveDevice turns a `--device` flag into one). The model is moved there in
   * place when the Trainer is built, batches follow it (from pinned memory, without blocking, on CUDA), and the
   * optimizer state and EMA live beside the parameters; checkpoints are written from the host and load onto any
   * device. Default: where the model already is.
   */
  device?: string;
  /**
   * Mixed precision of the forward pass and the loss: 'bf16' or 'fp16' autocast (src/torch/autocast.ts; the
   * parameters, the optimizer and the EMA stay float32), with dynamic loss scaling for 'fp16' (GradScaler: steps with
   * inf/NaN gradients skipped, counted in the metrics as ampSkippedSteps). Evaluation runs in float32. Default null.
   */
  amp?: AmpMode | null;
}

/** Mixed-precision modes of the Trainer. */
export type AmpMode = 'bf16' | 'fp16';

/** Metrics of one epoch (also the line appended to metrics.jsonl). */
export interface EpochMetrics {
  /** Epoch number, from 1. */
  epoch: number;
  /** Optimizer steps taken so far. */
  step: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Mean training loss over the epoch's batches. */
  trainLoss: number;
  /** Training-batch top-1 accuracy (with augmentation, in train mode). */
  trainTop1: number;
  /** Validation loss, top-1, top-5 of the raw weights (null without a validation loader). */
  valLoss: number | null;
  /** Validation top-1 of the raw weights. */
  valTop1: number | null;
  /** Validation top-5 of the raw weights. */
  valTop5: number | null;
  /** The same for the EMA weights (null without EMA or validation loader). */
  emaLoss: number | null;
  /** EMA validation top-1. */
  emaTop1: number | null;
  /** EMA validation top-5. */
  emaTop5: number | null;
  /** Training images per second over the epoch (loader included). */
  imagesPerSecond: number;
  /** Samples skipped as undecodable during the epoch. */
  skipped: number;
  /** With float16 mixed precision: optimizer steps skipped in the epoch because of inf/NaN gradients (absent otherwise). */
  ampSkippedSteps?: number;
  /** Validation samples skipped as undecodable (null without a validation loader); the scores are over the others. */
  valSkipped: number | null;
}

/** A sample the loader could not use: where it came from and why. */
export interface SkippedSample {
  source: string;
  error: string;
}

/** Validation results. */
export interface EvalResult {
  /** Mean cross entropy (no smoothing). */
  loss: number;
  /** Top-1 accuracy. */
  top1: number;
  /** Top-5 accuracy (top-k with k = min(5, classes)). */
  top5: number;
  /** Images evaluated. */
  images: number;
  /** Images of the loader that could not be decoded and were left out of the scores. */
  skipped: number;
}

/** Thrown by resume when the checkpoint was written for another model card (a user error: other flags). */
export class CheckpointMismatchError extends UserError {
  override name = 'CheckpointMismatchError';
}

/**
 * Thrown when the training or validation loss is not finite (the recipe diverged: a learning rate or batch size far
 * too large, or broken data); the last checkpoint on disk is left as it was. A user error (exit code 2).
 */
export class NonFiniteLossError extends UserError {
  override name = 'NonFiniteLossError';
}

/**
 * The progress state as the Trainer keeps it: checkpoint.ts's, plus the wall seconds fit() has spent on the run
 * over all invocations (stored with it in the checkpoint's JSON; absent in checkpoints written before it existed).
 */
interface RunProgressState extends TrainingProgressState {
  /** Seconds spent in fit() (training, evaluation, checkpoints) up to the last checkpoint, over all invocations. */
  seconds?: number;
  /** The float16 loss scaler's state (mixed-precision runs with 'fp16'). */
  gradScaler?: GradScalerState;
}

/** Names of the checkpoint files in a run directory. */

/**
 * Turns a loader batch into tensors on `device` (images float32 NCHW, optionally channels_last; labels int64). To a
 * CUDA device they go through page-locked memory with non-blocking copies, which overlap with the GPU's work.
 */
export function batchTensors(batch: Batch, channelsLast = false, device = 'cpu'): { images: Tensor; labels: Tensor } {
  let images = tensor(batch.images, batch.shape);
  let labels = tensor(batch.labels, [batch.labels.length]);
  if (isCuda(device)) {
    images = images.pinMemory().toDevice(device, { nonBlocking: true });
    labels = labels.pinMemory().toDevice(device, { nonBlocking: true });
  } else if (device !== 'cpu') {
    images = images.toDevice(device);
    labels = labels.toDevice(device);
  }
  return { images: channelsLast ? contiguous(images, 'channels_last') : images, labels };
}

/**
 * Lets the event loop run once. Training and evaluation await only promises that are already settled when the loader
 * has no worker threads, which never yields to the event loop: signal handlers (Ctrl-C's checkpoint) and timers (a
 * search worker's heartbeats) would wait for the end of the run. One turn per step or batch costs microseconds.
 */
function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Called for every batch with the data set indices of its images and their logits (row-major [n, classes]), for
   * per-image predictions (`effnet eval --predictions`); default none.
   */
  onLogits?: (indices: Int32Array, logits: Float32Array, classes: number) => void;
  /** Return zeros (images: 0) for a loader without images instead of throwing (a rank's empty share); default false. */
  allowEmpty?: boolean;
  /** Called with each sample that could not be decoded (it is left out of the scores); default none. */
  onSkipped?: (sample: SkippedSample) => void;
  /** Test-time augmentation of the model card (src/card/tta.ts: the views whose logits are averaged); default none. */
  tta?: Tta;
}

/** One view of a batch [N, C, H, W] (src/card/tta.ts): mirrored along the width, then moved with reflected borders. */
export function ttaView(x: Tensor, view: TtaView): Tensor {
  const mirrored = view.mirror ? flip(x, [3]) : x;
  const s = Math.max(Math.abs(view.dy), Math.abs(view.dx));
  if (s === 0) return mirrored;
  const [height, width] = [x.shape[2]!, x.shape[3]!];
  // Padded pixel p is source pixel p − s, so view pixel i (source i − dy) is padded pixel i − dy + s.
  const padded = reflectionPad2d(mirrored, [s, s, s, s]);
  return narrow(narrow(padded, 2, s - view.dy, height), 3, s - view.dx, width);
}

/**
 * The model's logits for `x` under the card's test-time augmentation: the views' logits summed in the views'
 * order, times 1 / their count ('hflip': (f(x) + f(mirror x)) × 0.5) — the same sum in the same order as the
 * exported ONNX graph computes.
 */
export function ttaLogits(model: Module, x: Tensor, tta: Tta | undefined): Tensor {
  if (tta === undefined) return model.forward(x);
  const views = ttaViews(tta, x.shape[2]!);
  let sum = model.forward(ttaView(x, views[0]!));
  for (const view of views.slice(1)) sum = add(sum, model.forward(ttaView(x, view)));
  return mul(sum, 1 / views.length);
}

/**
 * The evaluation loop shared by {@link evaluate} and evaluations that score several variants of each batch at once
 * (src/train/tta-compare.ts): every batch of `loader` in epoch-0 order, the model in eval mode under noGrad on its
 * device; `score` turns a batch into one row of sums per variant (summed cross-entropy, top-1 and top-5 counts), the
 * same variants in the same order for every batch. Returns each variant's means over the images, with the count of
 * images that could not be decoded.
 * @throws when no image was scored, unless `allowEmpty` (then zeros)
 */
export async function evaluateVariants(
  model: Module,
  loader: DataLoader,
  channelsLast: boolean,
  options: Pick<EvaluateOptions, 'onSkipped' | 'allowEmpty'>,
  score: (x: Tensor, labels: Tensor, batch: Batch) => { loss: number; top1: number; topk: number }[],
): Promise<EvalResult[]> {
  const device = model.device;
  const wasTraining = model.training;
  model.eval();
  const sums: { loss: number; top1: number; top5: number }[] = [];
  let images = 0;
  let skipped = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      skipped += batch.skipped.length;
      for (const sample of batch.skipped) options.onSkipped?.({ source: sample.source, error: sample.error });
      if (batch.labels.length === 0) continue;
      const rows = noGrad(() =>
        tidy(() => {
          const { images: x, labels } = batchTensors(batch, channelsLast, device);
          return score(x, labels, batch);
        }),
      );
      rows.forEach((row, i) => {
        const sum = (sums[i] ??= { loss: 0, top1: 0, top5: 0 });
        sum.loss += row.loss;
        sum.top1 += row.top1;
        sum.top5 += row.topk;
      });
      images += batch.labels.length;
      await turnEventLoop();
    }
  } finally {
    model.train(wasTraining);
  }
  if (images === 0) {
    if (options.allowEmpty ?? false) return [{ loss: 0, top1: 0, top5: 0, images: 0, skipped }];
    throw new Error(`evaluate: the validation loader produced no images${skipped > 0 ? ` (all ${skipped} could not be decoded)` : ''}; check the validation data set`);
  }
  return sums.map((sum) => ({ loss: sum.loss / images, top1: sum.top1 / images, top5: sum.top5 / images, images, skipped }));
}

/** Evaluates `model` on every batch of `loader` (epoch 0 order) in eval mode under noGrad, on the model's device. */
export async function evaluate(model: Module, loader: DataLoader, channelsLast = false, options: EvaluateOptions = {}): Promise<EvalResult> {
  const [result] = await evaluateVariants(model, loader, channelsLast, options, (x, labels, batch) => {
    const logits = ttaLogits(model, x, options.tta);
    const loss = crossEntropy(logits, labels, { reduction: 'sum' }).item();
    options.onLogits?.(batch.indices, logits.toFloat32Array(), logits.shape[1]!);
    return [{ loss, ...countCorrect(logits, labels, 5) }];
  });
  return result!;
}

function buildOptimizer(model: Module, recipe: Recipe, lr: number): Optimizer {
  const groups = paramGroupsWithWeightDecay(model, recipe.weightDecay ?? 1e-5);
  switch (recipe.optimizer ?? 'rmsproptf') {
    case 'rmsproptf':
      return new RMSpropTF(groups, { lr, alpha: 0.9, momentum: 0.9, eps: 1e-3 });
    case 'sgd':
      return new SGD(groups, { lr, momentum: 0.9, nesterov: true });
    case 'adamw':
      return new AdamW(groups, { lr });
    default:
      throw new Error(`Trainer: unknown optimizer '${String(recipe.optimizer)}'; expected rmsproptf, sgd or adamw`);
  }
}

/** Trains one model; create it, then `await trainer.fit()` (resumes from runDir/last.safetensors with resume: true). */
export class Trainer {
  /** The model. */
  readonly model: Module;
  /** The optimizer built from the recipe. */
  readonly optimizer: Optimizer;
  /** The EMA of the weights, or null. */
  readonly ema: ModelEma | null;
  /** The learning rate as a function of the step. */
  /** The learning rate of each optimizer step (the recipe's; {@link Trainer.annealFrom} replaces its tail). */
  private schedule: LearningRateSchedule;
  /** The peak learning rate after batch-size scaling. */
  readonly lr: number;
  private readonly options: TrainerOptions;
  private state: RunProgressState;
  private stopRequested = false;
  private stoppedLast = false;
  private readonly skippedSeen: SkippedSample[] = [];
  /** The epoch's phase timer while profiling, else null. */
  private timer: EpochTimer | null = null;

  /**
   * Sets the model's regularization for `epoch`'s progressive stage (dropout, drop-path) and returns the epoch's
   * mixup α. A pure function of the epoch, so a resumed run and every rank apply the same.
   */
  private applyStage(epoch: number): number {
    const { recipe } = this.options;
    const schedule = recipe.progressive ?? null;
    if (schedule === null) return recipe.mixup ?? 0;
    const settings = stageSettings(schedule, stageOfEpoch(epoch, recipe.epochs, schedule.stages));
    const model = this.model as Module & { setRegularization?: (s: { dropout?: number; stochasticDepth?: number }) => void };
    if (model.setRegularization !== undefined) {
      model.setRegularization({
        ...(settings.dropout === null ? {} : { dropout: settings.dropout }),
        ...(settings.dropPath === null ? {} : { stochasticDepth: settings.dropPath }),
      });
    }
    return schedule.mixup === undefined ? (recipe.mixup ?? 0) : settings.mixup;
  }

  /** Runs `fn` as a profiled phase (just runs it when not profiling). */
  private phase<T>(name: Parameters<EpochTimer['time']>[0], fn: () => T): T {
    return this.timer === null ? fn() : this.timer.time(name, fn);
  }

  /**
   * The first samples (up to 5) that could not be decoded, in training or validation, with why: the counts are in
   * each epoch's metrics, these say which files to fix.
   */
  get skippedSamples(): readonly SkippedSample[] {
    return this.skippedSeen;
  }

  private noteSkipped(sample: SkippedSample): void {
    if (this.skippedSeen.length < 5 && !this.skippedSeen.some((s) => s.source === sample.source)) this.skippedSeen.push(sample);
  }
  private secondsAtStart = 0;
  private readonly group: ProcessGroup | null;
  private joined = false;
  private buckets: Tensor[][] = [];
  /** Where the model trains. */
  readonly device: string;
  /** The float16 loss scaler, or null (float32 or bfloat16 training). */
  readonly gradScaler: GradScaler | null;
  private readonly autocastOptions: AutocastOptions;

  /** Builds optimizer, schedule and EMA from the recipe; checks the options. */
  constructor(options: TrainerOptions) {
    const { recipe } = options;
    if (!(Number.isInteger(recipe.epochs) && recipe.epochs > 0)) throw new Error(`Trainer: recipe.epochs must be a positive integer, got ${recipe.epochs}`);
    this.options = options;
    this.model = options.model;
    // Before the optimizer and the EMA exist, so that their state lives beside the parameters, in their layout.
    if (options.device !== undefined) this.model.to({ device: options.device });
    this.device = this.model.device;
    if (options.amp !== undefined && options.amp !== null && options.amp !== 'bf16' && options.amp !== 'fp16') {
      throw new Error(`Trainer: amp must be 'bf16', 'fp16' or null, got '${String(options.amp)}'`);
    }
    this.gradScaler = options.amp === 'fp16' ? new GradScaler() : null;
    const amp = options.amp ?? null;
    this.autocastOptions = { device: isCuda(this.device) ? 'cuda' : 'cpu', dtype: amp === 'fp16' ? 'float16' : 'bfloat16', enabled: amp !== null };
    if (options.channelsLast ?? false) toChannelsLast(this.model);
    this.group = options.distributed?.group ?? null;
    if (this.group !== null) {
      const shard = options.train.options.shard;
      if (shard === null || shard.rank !== this.group.rank || shard.worldSize !== this.group.worldSize) {
        throw new Error(
          `Trainer: data-parallel rank ${this.group.rank} of ${this.group.worldSize} needs a training loader sharded for it (DataLoader option shard: { rank: ${this.group.rank}, worldSize: ${this.group.worldSize} }), got ${shard === null ? 'an unsharded loader' : `shard ${shard.rank} of ${shard.worldSize}`}`,
        );
      }
      const valShard = options.val?.options.shard ?? null;
      if (valShard !== null && (valShard.rank !== this.group.rank || valShard.worldSize !== this.group.worldSize || !(valShard.exact ?? false))) {
        throw new Error(
          `Trainer: a sharded validation loader must hold exactly this rank's share (shard: { rank: ${this.group.rank}, worldSize: ${this.group.worldSize}, exact: true }), got shard ${valShard.rank} of ${valShard.worldSize}${valShard.exact ? '' : ' with padding'}; ` +
            'padding would count some images twice (or give an unsharded loader: every rank then evaluates the whole set)',
        );
      }
    }
    // The learning rate follows the global batch: every rank's batch together.
    this.lr = recipe.lr ?? scaleLearningRate(recipe.lrPer256 ?? 0.016, this.globalBatchSize);
    const stepsPerEpoch = options.train.batchesPerEpoch;
    const warmup = { warmupEpochs: recipe.warmupEpochs ?? 0, warmupLr: recipe.warmupLr ?? 1e-6 };
    this.schedule =
      (recipe.schedule ?? 'step') === 'cosine'
        ? cosineSchedule({ lr: this.lr, stepsPerEpoch, epochs: recipe.epochs, ...warmup })
        : stepDecaySchedule({ lr: this.lr, stepsPerEpoch, decayEpochs: recipe.decayEpochs ?? 2.4, decayRate: recipe.decayRate ?? 0.97, ...warmup });
    this.optimizer = buildOptimizer(this.model, recipe, this.lr);
    const emaDecay = recipe.emaDecay === undefined ? 0.9999 : recipe.emaDecay;
    this.ema = emaDecay === null ? null : new ModelEma(this.model, { decay: emaDecay, buffers: recipe.emaBuffers ?? 'copy' });
    const seed = options.train.options.seed;
    this.state = {
      epoch: 0,
      step: 0,
      position: { epoch: 0, batch: 0 },
      best: { top1: -1, epoch: -1 },
      rng: { seed, torchSeeding: `manualSeed(deriveSeed(seed, ${TORCH_SEED_TAG}, step)) before each step` },
    };
  }

  /** Where the run stands (epochs done, steps, loader position, best result). */
  get progress(): Readonly<TrainingProgressState> {
    return this.state;
  }

  private get lastPath(): string {
    return join(this.options.runDir, RUN_FILES.last);
  }

  private config(): { [key: string]: JsonValue } {
    const { recipe } = this.options;
    const recipeJson: { [key: string]: JsonValue } = {};
    for (const [key, value] of Object.entries(recipe)) if (value !== undefined) recipeJson[key] = value as JsonValue;
    // The global batch: what the schedule and the data order depend on, whatever the world size.
    return {
      ...(this.options.config ?? {}),
      recipe: recipeJson,
      batchSize: this.globalBatchSize,
      channelsLast: this.options.channelsLast ?? false,
      device: this.device,
      amp: this.options.amp ?? null,
    };
  }

  /** Images per optimizer step over all ranks (the loader's batch size times the world size). */
  get globalBatchSize(): number {
    return this.options.train.options.batchSize * (this.group?.worldSize ?? 1);
  }

  /** Writes the current state to `path` (atomically). */
  saveCheckpoint(path: string): void {
    if (this.gradScaler !== null) this.state.gradScaler = this.gradScaler.stateDict();
    saveCheckpoint(path, {
      model: this.model.stateDict(),
      optimizer: this.optimizer.stateDict(),
      ema: this.ema === null ? null : this.ema.stateDict(),
      progress: this.state,
      config: this.config(),
      card: this.options.card ?? null,
    });
  }

  /** Restores model, optimizer, EMA and progress from a checkpoint written by this class. */
  loadCheckpoint(path: string): void {
    const loaded = loadCheckpoint(path);
    try {
      if ((loaded.ema === null) !== (this.ema === null)) {
        throw new Error(`${path}: the checkpoint ${loaded.ema === null ? 'has no' : 'has an'} EMA but this recipe ${this.ema === null ? 'disables' : 'enables'} it; resume with the recipe the run started with`);
      }
      if (loaded.progress.rng.seed !== this.state.rng.seed) {
        throw new Error(`${path}: the run used seed ${loaded.progress.rng.seed} but the loader has seed ${this.state.rng.seed}; resume with the same seed to continue the same run`);
      }
      const own = this.options.card ?? null;
      if (own !== null && loaded.card !== null) {
        const differences = cardDifferences(loaded.card, own);
        if (differences.length > 0) {
          throw new CheckpointMismatchError(`${path}: the run's model card differs in ${differences.join(', ')}; resume with the model flags the run started with`);
        }
      }
      const savedBatch = loaded.config.batchSize;
      const batchSize = this.globalBatchSize;
      if (typeof savedBatch === 'number' && savedBatch !== batchSize) {
        throw new Error(
          `${path}: the run trained with batch size ${savedBatch} but this one has ${batchSize}` +
            (this.group === null ? '' : ` (${this.options.train.options.batchSize} per rank x ${this.group.worldSize} ranks)`) +
            '; resume with the same (global) batch size (the schedule and the data order depend on it)',
        );
      }
      this.model.loadStateDict(loaded.model);
      this.optimizer.loadStateDict(loaded.optimizer);
      if (this.ema !== null && loaded.ema !== null) this.ema.loadStateDict(loaded.ema);
      this.state = structuredClone(loaded.progress);
      const scaler = (loaded.progress as RunProgressState).gradScaler;
      if (this.gradScaler !== null && scaler !== undefined) this.gradScaler.loadStateDict(scaler);
      this.secondsAtStart = this.runSeconds;
    } finally {
      loaded.dispose();
    }
  }

  /**
   * From the current step on, anneal: the learning rate follows a cosine from its present value down to 0 over the
   * next `steps` optimizer steps. For runs whose length is decided while they train (a search trial "until
   * converged" anneals once its hold-out stops gaining). Not recorded in checkpoints: a resumed run follows its
   * recipe's schedule again unless its owner calls this again with the step the annealing began at, `from`
   * (default the current step), as a resumed search trial does after replaying its stop rule.
   */
  annealFrom(steps: number, from = this.state.step): void {
    this.schedule = annealedSchedule(this.schedule, from, steps);
  }

  /**
   * Asks a running fit() to stop after the current step: it writes last.safetensors at that position (mid-epoch;
   * resume continues from the next batch, bit for bit) and returns. Meant for SIGINT/SIGTERM handlers:
   * `process.once('SIGINT', () => trainer.stop())`. Called while no fit() runs (e.g. a signal during set-up), the
   * request holds for the next fit(), which then writes last.safetensors at the current position and returns at
   * once, before any step. Each fit() consumes the request when it returns. The interrupted epoch's metrics line,
   * written when the epoch ends after resuming, averages the training loss over the batches run after the resume
   * only.
   */
  stop(): void {
    this.stopRequested = true;
  }

  /** Whether the last fit() returned because stop() was called. */
  get stopped(): boolean {
    return this.stoppedLast;
  }

  /**
   * Wall seconds fit() has spent on this run (training, evaluation, checkpoints) over all invocations: what the
   * checkpoint it resumed from recorded (0 for a new run or a checkpoint that predates the record), plus this
   * process's fit() calls up to their last checkpoint.
   */
  get runSeconds(): number {
    return this.state.seconds ?? 0;
  }

  /** Of {@link runSeconds}, the part spent before this Trainer (by the invocations before a resume). */
  get earlierSeconds(): number {
    return this.secondsAtStart;
  }

  /** Resumes from runDir/last.safetensors; returns false when there is none. */
  resume(): boolean {
    if (!existsSync(this.lastPath)) return false;
    this.loadCheckpoint(this.lastPath);
    return true;
  }

  private async trainStep(batch: Batch, smoothing: number, channelsLast: boolean, mixupAlpha: number): Promise<{ loss: number; correct: number; stepped: boolean }> {
    manualSeed(deriveSeed(this.state.rng.seed, TORCH_SEED_TAG, this.state.step));
    this.options.beforeStep?.(this.state.step);
    const lr = this.schedule(this.state.step);
    const plan = mixupPlan(mixupAlpha, batch.labels.length, this.state.rng.seed, this.state.step);
    const result = tidy(() => {
      const { labels, logits, loss, value } = this.phase('forward', () => {
        const inputs = batchTensors(batch, channelsLast, this.device);
        let images = inputs.images;
        let mixedLabels: Tensor | null = null;
        if (plan !== null) {
          // x' = λ·x + (1 − λ)·x[π]; the loss blends the two labels' losses the same way.
          const order = tensor(Array.from(plan.permutation), [plan.permutation.length], { dtype: 'int64', device: this.device });
          images = add(mul(images, plan.lambda), mul(indexSelect(images, 0, order), 1 - plan.lambda));
          if (channelsLast) images = contiguous(images, 'channels_last');
          mixedLabels = indexSelect(inputs.labels, 0, order);
        }
        const out = autocast(this.autocastOptions, () => {
          const forward = this.model.forward(images);
          let objective = crossEntropy(forward, inputs.labels, { labelSmoothing: smoothing });
          if (plan !== null) objective = add(mul(objective, plan.lambda), mul(crossEntropy(forward, mixedLabels!, { labelSmoothing: smoothing }), 1 - plan.lambda));
          const auxiliary = this.options.auxiliaryLoss?.() ?? null;
          if (auxiliary !== null) objective = add(objective, auxiliary);
          return { logits: forward, loss: objective };
        });
        return { ...inputs, ...out, value: out.loss.item() };
      });
      if (!Number.isFinite(value)) {
        throw new NonFiniteLossError(
          `training stopped: the loss is ${value} at epoch ${batch.epoch + 1}, batch ${batch.index} (step ${this.state.step}, lr ${lr}). ` +
            `The last good checkpoint is ${this.lastPath} (if one was written); lower the learning rate or check the data, then resume from it.`,
        );
      }
      this.phase('backward', () => {
        this.optimizer.zeroGrad();
        (this.gradScaler === null ? loss : this.gradScaler.scale(loss)).backward();
      });
      return { loss: value, correct: countCorrect(logits.detach(), labels, 1).top1 };
    });
    if (this.group !== null) {
      const reduceStarted = performance.now();
      await averageGradients(this.group, this.buckets, { partial: this.options.distributed?.partialGradients ?? false });
      this.timer?.add('allreduce', reduceStarted);
    }
    const stepped = tidy(() => {
      const took = this.phase('optimizer', () => {
        this.optimizer.lr = lr;
        let ok = true;
        if (this.gradScaler === null) this.optimizer.step();
        else {
          // Every rank holds the same averaged gradients, so every rank makes the same skip decision.
          ok = this.gradScaler.step(this.optimizer);
          this.gradScaler.update();
        }
        this.optimizer.zeroGrad();
        return ok;
      });
      if (this.ema !== null) this.phase('ema', () => this.ema!.update(this.model));
      return took;
    });
    return { ...result, stepped };
  }

  /**
   * Evaluates the model on `loader`; when it is sharded for this rank (exact shares), each rank evaluates its share
   * and the sums of loss, correct counts and images are added over the ranks: the whole set's metrics, in 1/N of
   * the time. An unsharded loader is evaluated whole on every rank.
   */
  private async evaluateShares(loader: DataLoader, channelsLast: boolean): Promise<EvalResult> {
    this.options.beforeEvaluate?.();
    const onSkipped = (sample: SkippedSample): void => this.noteSkipped(sample);
    const tta = this.options.card?.eval.tta;
    const options: EvaluateOptions = { onSkipped, ...(tta === undefined ? {} : { tta }) };
    if (this.group === null || loader.options.shard === null) return evaluate(this.model, loader, channelsLast, options);
    const local = await evaluate(this.model, loader, channelsLast, { ...options, allowEmpty: true });
    const sums = tensor([local.loss * local.images, local.top1 * local.images, local.top5 * local.images, local.images, local.skipped], [5], { dtype: 'float64' });
    try {
      await this.group.allreduce(sums, 'sum');
      const [loss, top1, top5, images, skipped] = sums.toArray() as [number, number, number, number, number];
      if (images === 0) throw new Error('evaluate: the validation loaders of all ranks produced no images; check the validation data set');
      return { loss: loss / images, top1: top1 / images, top5: top5 / images, images, skipped };
    } finally {
      sums.dispose();
    }
  }

  /**
   * Whether to stop here: this process's stop() request, or in a data-parallel run any rank's. Every rank asks at the
   * same points (each epoch's start, after each step) and gets the same answer. A request that arrives while the
   * ranks agree is not lost: it stays pending and is carried by the next agreement, so the ranks stop together one
   * step later.
   */
  private async shouldStop(): Promise<boolean> {
    return this.group === null ? this.stopRequested : this.anyRankStops();
  }

  /** Whether any rank has a stop request pending (a one-value allreduce of the requests). */
  private async anyRankStops(): Promise<boolean> {
    const flag = tensor([this.stopRequested ? 1 : 0], [1]);
    try {
      await this.group!.allreduce(flag, 'max');
      return flag.item() > 0;
    } finally {
      flag.dispose();
    }
  }

  /** How the ranks' running BN statistics are made equal at an epoch's end; null when they need not be (one process, sync BN, or left per rank). */
  private batchNormAgreement(): DistributedBatchNormMode | null {
    const mode = this.options.distributed?.batchNormStatistics === undefined ? 'reduce' : this.options.distributed.batchNormStatistics;
    return this.group === null || (this.options.distributed?.syncBatchNorm ?? false) ? null : mode;
  }

  /**
   * At an epoch's end: the ranks' running BN statistics made equal, the model's and the EMA's (whose buffers, copied
   * or averaged from each rank's own, differ by rank too). Without the EMA's, each rank would score its share of the
   * hold-out with its own statistics and the EMA metric would belong to no saved model: rank 0 writes the files.
   */
  private async agreeOnBatchNorm(): Promise<void> {
    const mode = this.batchNormAgreement();
    if (mode === null) return;
    await distributeBatchNormStatistics(this.group!, this.model, mode);
    if (this.ema !== null) {
      const averaged = this.ema.stateDict().tensors;
      await distributeTensors(this.group!, batchNormStatisticNames(this.model).map((name) => averaged.get(name)!), mode);
    }
  }

  /** A data-parallel run's start: the same model everywhere, rank 0's weights, the EMA from them, sync BN. */
  private async joinGroup(): Promise<void> {
    const group = this.group;
    if (group === null || this.joined) return;
    await checkSameModule(group, this.model);
    await broadcastModule(group, this.model);
    if (this.ema !== null && this.ema.updates === 0) this.ema.loadStateDict({ updates: 0, tensors: this.model.stateDict() });
    if (this.options.distributed?.syncBatchNorm ?? false) useSyncBatchNorm(this.model, group);
    this.buckets = gradientBuckets(this.model.parameters());
    this.joined = true;
  }

  private async evaluateEma(loader: DataLoader, channelsLast: boolean): Promise<EvalResult> {
    const backup = noGrad(() => new Map([...this.model.stateDict()].map(([name, t]) => [name, keep(clone(t))])));
    try {
      this.ema!.copyTo(this.model);
      return await this.evaluateShares(loader, channelsLast);
    } finally {
      this.model.loadStateDict(backup);
      for (const t of backup.values()) t.dispose();
    }
  }

  /**
   * Trains until recipe.epochs epochs are done (from the current progress, e.g. after resume()), evaluating,
   * logging and checkpointing after each epoch. `stopAfter` ends this call after that many epochs (the run can be
   * resumed later, as after an interruption). Returns the metrics of the epochs it ran. A stop() request, made
   * before or during the call, ends it early with a checkpoint (see {@link stop}).
   */
  async fit(options: { stopAfter?: number } = {}): Promise<EpochMetrics[]> {
    this.stoppedLast = false;
    try {
      return await this.fitEpochs(options.stopAfter ?? Infinity);
    } catch (error) {
      // A collective that failed inside a forward or backward pass (sync batch norm's) names the lost ranks too.
      throw this.group === null ? error : this.group.withLostRanks(error);
    } finally {
      this.stopRequested = false;
    }
  }

  /** Whether this process writes the run's files (always, unless it is a data-parallel rank other than 0). */
  private get writes(): boolean {
    return this.group === null || this.group.rank === 0;
  }

  /** Saves last.safetensors with the run's time so far (seconds before this fit() call plus its own); rank 0 only. */
  private checkpointLast(secondsBefore: number, fitStarted: number): void {
    this.state.seconds = secondsBefore + (performance.now() - fitStarted) / 1000;
    if (this.writes) this.saveCheckpoint(this.lastPath);
  }

  private async fitEpochs(stopAfter: number): Promise<EpochMetrics[]> {
    const fitStarted = performance.now();
    const secondsBefore = this.runSeconds;
    const { recipe, runDir, val } = this.options;
    const channelsLast = this.options.channelsLast ?? false;
    const smoothing = recipe.labelSmoothing ?? 0.1;
    makeDirectory(runDir);
    await this.joinGroup();
    this.model.train();
    const results: EpochMetrics[] = [];
    const perEpoch = this.options.train.batchesPerEpoch;
    const stopAt = Math.min(recipe.epochs, this.state.epoch + stopAfter);
    while (this.state.epoch < stopAt) {
      if (await this.shouldStop()) {
        // Requested before this call or during the last epoch's evaluation: no step taken, position unchanged.
        this.checkpointLast(secondsBefore, fitStarted);
        this.stoppedLast = true;
        return results;
      }
      const epoch = this.state.epoch;
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      let images = 0;
      let batches = 0;
      let skipped = 0;
      let ampSkippedSteps = 0;
      let stopping = false;
      const startBatch = this.state.position.epoch === epoch ? this.state.position.batch : 0;
      const bar = this.options.progress ? new ProgressBar({ total: perEpoch, start: startBatch, stream: this.options.progress, label: `epoch ${epoch + 1}/${recipe.epochs}` }) : null;
      this.timer = this.options.profile === true ? new EpochTimer() : null;
      const mixupAlpha = this.applyStage(epoch);
      let waitStarted = performance.now();
      for await (const batch of this.options.train.epoch(epoch, startBatch)) {
        this.timer?.add('data', waitStarted);
        skipped += batch.skipped.length;
        for (const sample of batch.skipped) this.noteSkipped({ source: sample.source, error: sample.error });
        if (batch.labels.length > 0) {
          const step = await this.trainStep(batch, smoothing, channelsLast, mixupAlpha);
          if (!step.stepped) ampSkippedSteps += 1;
          this.state.step += 1;
          lossSum += step.loss;
          correct += step.correct;
          images += batch.labels.length;
          batches += 1;
          bar?.update({ step: batch.index + 1, items: batch.labels.length, metrics: { loss: step.loss, acc: step.correct / batch.labels.length } });
          this.options.onStep?.(this.state.step);
        }
        await turnEventLoop();
        this.state.position = batch.next;
        if (await this.shouldStop()) {
          stopping = true;
          break;
        }
        waitStarted = performance.now();
      }
      bar?.done();
      if (stopping) {
        // Interrupted: keep the position within the epoch (at an epoch's last batch, position already names the next epoch).
        if (this.state.position.epoch > epoch) {
          this.state.position = { epoch, batch: perEpoch };
        }
        this.checkpointLast(secondsBefore, fitStarted);
        this.stoppedLast = true;
        return results;
      }
      const seconds = (performance.now() - started) / 1000;
      await this.agreeOnBatchNorm();
      const evalStarted = performance.now();
      const every = recipe.evalEvery ?? 1;
      const validates = val !== null && ((epoch + 1) % every === 0 || epoch + 1 >= recipe.epochs);
      const raw = !validates ? null : await this.evaluateShares(val!, channelsLast);
      const emaResult = !validates || this.ema === null ? null : await this.evaluateEma(val!, channelsLast);
      this.timer?.add('eval', evalStarted);
      if (raw !== null && !Number.isFinite(raw.loss)) {
        // Weights that went to NaN/inf in the epoch's last steps score NaN here; a run must not end "done" with them.
        throw new NonFiniteLossError(
          `training stopped: the validation loss is ${raw.loss} after epoch ${epoch + 1} (step ${this.state.step}): the weights diverged. ` +
            `The last good checkpoint is ${this.lastPath} (if one was written); lower the learning rate or the batch size, or check the data, then resume from it.`,
        );
      }
      this.state.epoch = epoch + 1;
      this.state.position = { epoch: epoch + 1, batch: 0 };
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        step: this.state.step,
        lr: this.schedule(Math.max(0, this.state.step - 1)),
        trainLoss: batches > 0 ? lossSum / batches : NaN,
        trainTop1: images > 0 ? correct / images : NaN,
        valLoss: raw?.loss ?? null,
        valTop1: raw?.top1 ?? null,
        valTop5: raw?.top5 ?? null,
        emaLoss: emaResult?.loss ?? null,
        emaTop1: emaResult?.top1 ?? null,
        emaTop5: emaResult?.top5 ?? null,
        imagesPerSecond: images / seconds,
        skipped,
        ...(this.gradScaler === null ? {} : { ampSkippedSteps }),
        valSkipped: raw?.skipped ?? null,
      };
      // The best model is judged by the EMA weights when there are some (as timm's train.py), else the raw ones.
      const judged = emaResult?.top1 ?? raw?.top1 ?? null;
      const isBest = judged !== null && judged > this.state.best.top1;
      if (isBest) this.state.best = { top1: judged, epoch: epoch + 1 };
      this.phase('checkpoint', () => {
        this.checkpointLast(secondsBefore, fitStarted);
        if (isBest && this.writes) this.saveCheckpoint(join(runDir, RUN_FILES.best));
        if (this.writes) {
          appendMetrics(runDir, metrics as unknown as MetricsRecord);
          updateMetricsChart(runDir);
        }
      });
      let profile: EpochProfile | null = null;
      if (this.timer !== null) {
        profile = this.timer.finish(epoch + 1);
        if (this.writes) appendProfile(runDir, profile);
        this.timer = null;
      }
      // The other ranks go on once rank 0's files of the epoch are complete.
      if (this.group !== null) await this.group.barrier();
      results.push(metrics);
      this.options.onEpoch?.(metrics, (performance.now() - started) / 1000);
      if (profile !== null) this.options.onProfile?.(profile);
    }
    return results;
  }

  /** Frees the optimizer state and the EMA (not the model). */
  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

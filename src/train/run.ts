/**
 * One training run as `effnet train` performs it: resolve the data spec, resolve the model card (a registered
 * variant, custom width/depth, a configuration file, or the card of the weights given with --from; the small-image
 * rule below 64px), build the run from it (run-builder.ts: seeded model, loaders with the card's transforms),
 * optionally start from pretrained weights and freeze stages, train with the Trainer (checkpoints that carry the
 * card, metrics files, progress bar, one line per epoch), and on completion write the final model with its card
 * plus a summary.json; when the validation images are a seeded hold-out, their names go to split.json
 * (split-file.ts).
 */
import { existsSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeCard, totalStrideOf, type ModelCard } from '../card/model-card.js';
import { resolveModelCard, stagesOfCard, type CardRequest } from '../card/resolve.js';
import { saveModel } from '../model-file/weights.js';
import { ProcessGroup, backendFlags, deviceForWorker, isCuda, resolveDevice, setBackendFlags, setNumThreads } from '../torch/index.js';
import type { DistributedBatchNormMode, WorkerEnvironment } from '../distributed/index.js';
import { UserError } from '../errors.js';
import type { JsonValue } from '../model-file/checkpoint.js';
import type { EfficientNet } from '../efficientnet/model.js';
import { freeze, loadPretrained } from './finetune.js';
import { openModel, readModelCard } from '../model-file/open.js';
import type { ProgressStream } from './progress.js';
import { openData, resolveData, type ResolvedData } from '../data/spec.js';
import { buildRun } from './run-builder.js';
import { acquireRunLock } from './run-lock.js';
import { formatProfile } from './profile.js';
import { allStages, checkProgressive, completeSchedule, type ProgressiveStart } from './progressive.js';
import { FIX_RES_SEED_TAG, fineTuneAtTestSize } from './fix-res.js';
import { DataLoader } from '../data/loader.js';
import { deriveSeed } from '../data/rng.js';
import { RUN_DESCRIPTION_VERSION, writeRunDescription, type FlagValue } from './run-description.js';
import { printable } from '../printable.js';
import { describeFastRecipe, FAST_RECIPE_BATCH_SIZE, fastRecipeApplies, PAPER_BATCH_SIZE, withFastRecipe } from './fast-recipe.js';
import { isHoldOut, SPLIT_SEED, splitFileFor, writeSplitFile, type SplitFile } from './split-file.js';
import type { AugmentChoice } from './small-images.js';
import { formatSummary, readMetrics, summarizeRun, type RunSummary } from './summary.js';
import { evaluate, Trainer, type AmpMode, type EpochMetrics, type Recipe } from './trainer.js';
import { RUN_FILES } from '../model-file/run-files.js';

/** Raised for options that cannot work together (a user error: exit code 2). */
export class RunOptionsError extends UserError {
  override name = 'RunOptionsError';
}

/** File names a finished run writes besides checkpoints and metrics. */

/** Which network to train: a card request without the classes (they come from the data). */
export type ModelRequest = Omit<CardRequest, 'classes'>;

/** The architecture fields a fine-tuned model must share with the weights it starts from. */
const SHARED_WITH_PRETRAINED = ['width', 'depth', 'padding', 'batchNorm', 'inChannels'] as const;

/**
 * The card of a run: the request resolved with the data's classes. With `pretrained` (the card of --from's
 * weights) and no network named, the network is the pretrained one's (resolution, dropout, drop-path and strides
 * may be overridden); a network named as well must agree with it, or the weights would load into another network
 * (e.g. TF-trained weights need 'same' padding).
 * @throws RunOptionsError / ModelCardError naming what disagrees
 */
export function resolveRunCard(request: ModelRequest | undefined, classes: readonly string[], pretrained: ModelCard | null = null): ModelCard {
  if (request === undefined) {
    return resolveModelCard(pretrained === null ? { source: { kind: 'variant', name: 'b0' }, classes } : { source: { kind: 'card', card: pretrained }, classes });
  }
  const card = resolveModelCard({ ...request, classes });
  if (pretrained !== null) {
    // Strides change no weight's shape, so they may differ; everything else decides what the weights mean.
    const shared = (of: ModelCard): Record<string, unknown> => ({
      ...Object.fromEntries(SHARED_WITH_PRETRAINED.map((key) => [key, of.architecture[key]])),
      stages: stagesOfCard(of).map(({ stride: _stride, ...stage }) => stage),
    });
    const asked = shared(card);
    const theirs = shared(pretrained);
    const differing = Object.keys(asked).filter((key) => JSON.stringify(asked[key]) !== JSON.stringify(theirs[key]));
    if (differing.length > 0) {
      throw new RunOptionsError(
        `the model asked for differs from the weights of --from in ${differing.map((key) => `${key} (${JSON.stringify(asked[key])} vs ${JSON.stringify(theirs[key])})`).join(', ')}; ` +
          'drop --model/--config/--width/--depth to train the network of --from (its card), or pass weights of the network you name',
      );
    }
  }
  return card;
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
  /** The network; default b0, or the network of `from` when that is given. */
  model?: ModelRequest;
  /** The data spec (see src/data/spec.ts). */
  data: string;
  /** Fraction held out for validation when the data has no split; default 0.1. */
  valSplit?: number;
  /** Run directory. */
  out: string;
  /**
   * Images per step (with data-parallel ranks, the global batch); default 128 under the fast recipe
   * (src/train/fast-recipe.ts), else 32 (the paper's).
   */
  batchSize?: number;
  /**
   * Refuse a batch larger than the training set (the learning rate is scaled by the batch, so an absurd one only
   * diverges); `effnet train` sets it when --batch-size is given. Default false: the batch is then at most the set.
   */
  strictBatchSize?: boolean;
  /**
   * What started the run, for DIR/run.json (written by rank 0 when a run starts, never on resume): the command and
   * its defining flags; the resolved run is added here. Default: no run.json.
   */
  description?: { command: string[]; flags: Record<string, FlagValue> };
  /**
   * Progressive learning: the start values (stages, image size, regularization); the final values are the run's
   * (its resolution, dropout, drop-path, RandAugment magnitude, recipe.mixup). Default none.
   */
  progressive?: ProgressiveStart | null;
  /**
   * FixRes after training (src/train/fix-res.ts): `steps` steps at the card's eval size adapting only the batch
   * norms and the classifier, at `lr` (default a tenth of the run's peak learning rate); the final model is the
   * fine-tuned one, and DIR/fixres.json records validation before and after. One process only. Default none.
   */
  fixRes?: { steps: number; lr?: number } | null;
  /** Time each epoch's phases and log the split (src/train/profile.ts; DIR/profile.jsonl). Default false. */
  profile?: boolean;
  /** The recipe (epochs, optimizer, schedule, ...). */
  recipe: Recipe;
  /** Automatic augmentation; default none. */
  augment?: AugmentChoice;
  /** Random-resized-crop area range; default [0.08, 1], or [0.64, 1] for small images. */
  cropScale?: [number, number];
  /** Continue from out/last.safetensors. */
  resume?: boolean;
  /** Pretrained weights to start from (an effnet model file, checkpoint or run directory), with a fresh classifier when the classes differ. */
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
  /**
   * Where to train: 'auto' (the first CUDA device when the linked libtorch has one, else the CPU), 'cpu', 'cuda' or
   * 'cuda:N'; a data-parallel rank on CUDA takes device LOCAL_RANK. Default 'auto'.
   */
  device?: string;
  /** Mixed precision: 'bf16' or 'fp16' (with loss scaling), or null for float32 (default). */
  amp?: AmpMode | null;
  /** Progress bar output; default none. */
  progress?: ProgressStream | null;
  /** Messages (set-up lines, summary); default none. */
  log?: (line: string) => void;
  /** Aborting it stops training after the current step, with a checkpoint (SIGINT/SIGTERM handlers abort it). */
  signal?: AbortSignal;
  /** Called once the trainer exists and the first step is about to run (tests use it). */
  onStart?: () => void;
  /**
   * Run as one rank of a data-parallel group (docs/distributed.md): `batchSize` is the global batch, split evenly
   * over the ranks; rank 0 writes the run's files and prints, the others only train. Default: one process.
   */
  distributed?: DistributedRunOptions | null;
}

/** One rank's part in a data-parallel run. */
export interface DistributedRunOptions {
  /** Where this rank stands (torchrun's environment: src/distributed/environment.ts). */
  worker: WorkerEnvironment;
  /** Normalise with the global batch's statistics (sync batch norm); default false. */
  syncBatchNorm?: boolean;
  /** Without sync BN, how the ranks' running statistics are made equal before each evaluation (default 'reduce'); null: not at all. */
  batchNormStatistics?: DistributedBatchNormMode | null;
  /** How long the rendezvous and each collective may wait for the other ranks; default 60 s (as ProcessGroup). */
  timeoutMs?: number;
  /** The network interface Gloo binds to (GLOO_SOCKET_IFNAME); default the host name's address. */
  iface?: string;
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

function loadFromWeights(model: EfficientNet, path: string): string {
  const pretrained = openModel(path);
  try {
    const report = loadPretrained(model, pretrained.model.stateDict());
    return `loaded ${report.loaded.length} tensors from ${pretrained.location.file}` + (report.replaced.length > 0 ? `, new classifier (${report.replaced.join(', ')})` : '');
  } finally {
    pretrained.model.dispose();
  }
}

function percent(value: number | null): string {
  return value === null ? '-' : `${(value * 100).toFixed(2)}%`;
}

/** The line `effnet train` prints after each epoch (as timm's train.py): losses, top-1/top-5 of raw and EMA weights, time. */
export function formatEpochLine(metrics: EpochMetrics, epochs: number, seconds: number): string {
  const width = String(epochs).length;
  const parts = [`epoch ${String(metrics.epoch).padStart(width)}/${epochs}`, `train loss ${metrics.trainLoss.toFixed(4)} top-1 ${percent(metrics.trainTop1)}`];
  if (metrics.valLoss !== null) parts.push(`val loss ${metrics.valLoss.toFixed(4)} top-1 ${percent(metrics.valTop1)} top-5 ${percent(metrics.valTop5)}`);
  if (metrics.emaLoss !== null) parts.push(`EMA loss ${metrics.emaLoss.toFixed(4)} top-1 ${percent(metrics.emaTop1)} top-5 ${percent(metrics.emaTop5)}`);
  parts.push(`lr ${metrics.lr.toPrecision(3)}`, `${seconds.toFixed(1)} s (${Math.round(metrics.imagesPerSecond)} img/s)`);
  const valSkipped = metrics.valSkipped ?? 0;
  if (metrics.skipped > 0 || valSkipped > 0) {
    // Scores are over the images that decoded: say so on the console, not only in metrics.jsonl.
    parts.push(`SKIPPED ${metrics.skipped} training and ${valSkipped} validation images that cannot be decoded`);
  }
  return parts.join(' | ');
}

/** Runs (or resumes) a training run; see the module comment. */
export async function runTraining(options: TrainRunOptions): Promise<TrainRunResult> {
  const started = performance.now();
  const seed = options.seed ?? 0;
  const lastPath = join(options.out, RUN_FILES.last);
  const worker = options.distributed?.worker ?? null;
  // Only rank 0 writes the run directory, so only rank 0 holds its lock; another run into it is refused.
  const existed = existsSync(options.out);
  const lock = worker === null || worker.rank === 0 ? acquireRunLock(options.out) : null;
  try {
    return await trainLocked(options, started, seed, lastPath);
  } finally {
    lock?.release();
    // A run refused before it wrote anything leaves no empty run directory behind.
    if (lock !== null && !existed) removeIfEmpty(options.out);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // already gone, or not ours to remove
  }
}

async function trainLocked(options: TrainRunOptions, started: number, seed: number, lastPath: string): Promise<TrainRunResult> {
  if (options.resume && !existsSync(lastPath)) {
    throw new RunOptionsError(`--resume: ${lastPath} does not exist; start the run without --resume (or point --out at the run directory)`);
  }
  if (!options.resume && existsSync(lastPath)) {
    throw new RunOptionsError(`${options.out} already holds a run (${lastPath}); pass --resume to continue it or choose another --out`);
  }
  const worker = options.distributed?.worker ?? null;
  // Without sync BN, the running statistics are made equal before each evaluation: 'reduce' unless told otherwise.
  const batchNormStatistics = options.distributed?.batchNormStatistics === undefined ? 'reduce' : options.distributed.batchNormStatistics;
  // Only rank 0 prints and writes; the other ranks train silently (their errors still reach stderr).
  const writes = worker === null || worker.rank === 0;
  if (!writes) options = { ...options, log: () => undefined, progress: null };
  const pretrained = options.from === undefined ? null : readModelCard(options.from).card;
  const valSplit = options.valSplit ?? 0.1;
  const data: ResolvedData = await openData(options.data, { valSplit, splitSeed: SPLIT_SEED });
  if (data.classes.length < 2) {
    throw new RunOptionsError(`${options.data} holds ${data.classes.length} class (${JSON.stringify(data.classes[0] ?? '')}); a classifier needs at least 2 (training on one class reaches "100%" at loss 0 and learns nothing)`);
  }
  if (options.fixRes != null && worker !== null) throw new RunOptionsError('--fix-res runs in one process: drop it from the data-parallel run and fine-tune the finished run with --resume --fix-res in one process');
  if (data.ignored.length > 0) {
    const log = options.log ?? ((): void => undefined);
    const shown = data.ignored.slice(0, 3).join(', ');
    log(printable(`warning: ${data.ignored.length} files in the class folders are in image formats effnet cannot decode and are left out (${shown}${data.ignored.length > 3 ? ', ...' : ''}); convert them to PNG or JPEG to train on them`));
  }
  const card = resolveRunCard(options.model, data.classes, pretrained);
  // The fast recipe fills what the user left unset when the images are small or the set is (fast-recipe.ts).
  const fast = fastRecipeApplies({ imageSize: card.architecture.resolution, trainImages: data.train.length, fineTune: options.from !== undefined });
  const batchSize = options.batchSize ?? (fast ? FAST_RECIPE_BATCH_SIZE : PAPER_BATCH_SIZE);
  if (worker !== null && batchSize % worker.worldSize !== 0) {
    throw new RunOptionsError(`--batch-size ${batchSize} is the global batch and must divide evenly over ${worker.worldSize} ranks; choose a multiple of ${worker.worldSize}`);
  }
  if (options.strictBatchSize === true && batchSize > data.train.length) {
    throw new RunOptionsError(`--batch-size ${batchSize} is larger than the ${data.train.length} training images; choose at most ${data.train.length} (typically 32..256)`);
  }
  if (options.threads !== undefined) setNumThreads(options.threads);
  // On CUDA a data-parallel rank takes its own GPU (LOCAL_RANK), as torchrun users expect.
  const device = worker === null ? resolveDevice(options.device ?? 'auto') : deviceForWorker(options.device ?? 'auto', worker.localRank);
  if (options.amp === 'fp16' && !isCuda(device)) {
    throw new RunOptionsError(`--amp fp16 needs a CUDA device (libtorch's CPU autocast runs bfloat16 only; the run's device is ${device}); use --amp bf16 on the CPU`);
  }
  // Fixed-shape batches: let cuDNN pick the fastest convolution algorithms once per shape (no effect on the CPU).
  if (isCuda(device)) setBackendFlags({ cudnnBenchmark: true, allowTF32: backendFlags().allowTF32CuDNN });
  const workers = options.workers ?? 2;
  // The rendezvous comes after every check that can refuse the run, so a refused rank fails alone and at once.
  const group = worker === null ? null : await joinDataParallelGroup(worker, options.distributed!);
  const log = options.log ?? ((): void => undefined);
  let recipe = fast ? withFastRecipe(options.recipe) : options.recipe;
  if (options.progressive != null) {
    const a = card.architecture;
    const augment = options.augment ?? null;
    const schedule = completeSchedule(options.progressive, {
      size: a.resolution,
      dropout: a.dropout,
      dropPath: a.stochasticDepth,
      magnitude: augment !== null && augment.kind === 'randaugment' ? augment.m : null,
      mixup: recipe.mixup ?? 0,
    });
    checkProgressive(schedule, recipe.epochs, totalStrideOf(stagesOfCard(card)));
    recipe = { ...recipe, progressive: schedule };
  }
  const run = buildRun({
    card,
    data,
    ...(recipe.progressive == null ? {} : { progressive: { schedule: recipe.progressive, epochs: recipe.epochs } }),
    batchSize: worker === null ? batchSize : batchSize / worker.worldSize,
    shard: worker === null ? null : { rank: worker.rank, worldSize: worker.worldSize },
    augment: options.augment ?? null,
    ...(options.cropScale === undefined ? {} : { cropScale: options.cropScale }),
    seed,
    workers,
  });
  const { model } = run;
  let trainer: Trainer | null = null;
  let reportedSkips = 0;
  const onAbort = (): void => trainer?.stop();
  try {
    if (options.from !== undefined && !options.resume) log(loadFromWeights(model, options.from));
    if (options.freeze !== undefined && options.freeze.length > 0) {
      const frozen = freeze(model, options.freeze);
      log(`froze ${frozen.length} parameter tensors under ${options.freeze.join(', ')}`);
    }
    const config: { [key: string]: JsonValue } = {
      data: options.data,
      validation: data.validation,
      imageSize: card.architecture.resolution,
      augment: (options.augment ?? null) as unknown as JsonValue,
      cropScale: options.cropScale ?? null,
      ...(options.from === undefined ? {} : { from: options.from }),
    };
    const epochs = options.recipe.epochs;
    trainer = new Trainer({
      model,
      train: run.train,
      val: run.val,
      runDir: options.out,
      recipe,
      channelsLast: options.channelsLast ?? true,
      device,
      amp: options.amp ?? null,
      config,
      card,
      progress: options.progress ?? null,
      profile: options.profile ?? false,
      onProfile: (profile) => log(formatProfile(profile)),
      onEpoch: (metrics, seconds) => {
        log(formatEpochLine(metrics, epochs, seconds));
        for (const sample of trainer!.skippedSamples.slice(reportedSkips)) log(printable(`  skipped ${sample.source}: ${sample.error}`));
        reportedSkips = trainer!.skippedSamples.length;
      },
      distributed:
        group === null
          ? null
          : { group, syncBatchNorm: options.distributed?.syncBatchNorm ?? false, batchNormStatistics },
    });
    if (writes && !options.resume && options.description !== undefined) {
      writeRunDescription(options.out, {
        version: RUN_DESCRIPTION_VERSION,
        command: options.description.command,
        flags: options.description.flags,
        resolved: {
          card: card as unknown as JsonValue,
          recipe: { ...recipe, lr: trainer.lr } as unknown as JsonValue,
          batchSize,
          seed,
          data: options.data,
          valSplit: options.valSplit ?? null,
          validation: data.validation,
          augment: (options.augment ?? null) as unknown as JsonValue,
          cropScale: (options.cropScale ?? null) as unknown as JsonValue,
          channelsLast: options.channelsLast ?? true,
          amp: options.amp ?? null,
        },
      });
    }
    if (options.resume) {
      trainer.resume();
      log(`resuming ${lastPath} after epoch ${trainer.progress.epoch} (step ${trainer.progress.step}, next batch ${trainer.progress.position.batch} of epoch ${trainer.progress.position.epoch + 1})`);
    }
    const params = model.parameters().reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const a = card.architecture;
    log(
      `training ${a.name} (width ${a.width}, depth ${a.depth}, ${params.toLocaleString('en-US')} parameters, ` +
        `total stride ${model.spec.totalStride}) at ${a.resolution}px on ${data.train.length} images of ${data.classes.length} classes; validation: ${data.validation}`,
    );
    log(`model card: ${describeCard(card)}`);
    if (device !== 'cpu' || (options.amp ?? null) !== null) {
      const precision = options.amp === 'fp16' ? 'float16 autocast with dynamic loss scaling' : options.amp === 'bf16' ? 'bfloat16 autocast' : 'float32';
      log(`device: ${device}, ${precision}`);
    }
    if (fast) log(describeFastRecipe({ imageSize: card.architecture.resolution, trainImages: data.train.length, fineTune: false }));
    log(`recipe: ${JSON.stringify({ ...recipe, lr: trainer.lr, batchSize })}`);
    if (recipe.progressive != null) {
      const stages = allStages(recipe.progressive);
      log(`progressive learning: ${stages.map((st) => `${st.size}px${st.dropout === null ? '' : ` dropout ${st.dropout.toFixed(3)}`}${st.dropPath === null ? '' : ` drop-path ${st.dropPath.toFixed(3)}`}${st.magnitude === null ? '' : ` magnitude ${st.magnitude.toFixed(1)}`}${st.mixup > 0 ? ` mixup ${st.mixup.toFixed(2)}` : ''}`).join(' -> ')} over ${recipe.progressive.stages} stages of ${recipe.epochs} epochs; evaluation at ${card.eval.size}px`);
    }
    if (worker !== null) {
      log(
        `data-parallel: ${worker.worldSize} ranks (${worker.localWorldSize} on this host), ${batchSize / worker.worldSize} images per rank per step, ` +
          `rendezvous ${worker.masterAddr}:${worker.masterPort}, ${options.distributed?.syncBatchNorm ? 'sync batch norm' : `batch norm per rank (running statistics: ${batchNormStatistics ?? 'left per rank'})`}`,
      );
    }
    if (writes && isHoldOut(data)) {
      const splitPath = join(options.out, RUN_FILES.split);
      writeSplitFile(splitPath, splitFileFor(options.data, data));
      log(`validation images listed in ${splitPath}`);
    }
    options.signal?.addEventListener('abort', onAbort);
    options.onStart?.();
    // A signal that arrived during set-up: fit() then saves the position and returns without a step.
    if (options.signal?.aborted) trainer.stop();
    const ran = await trainer.fit();
    const summary = summarizeRun(writes ? readMetrics(options.out) : ran, ran, (performance.now() - started) / 1000, trainer.earlierSeconds);
    if (trainer.stopped) {
      return { stopped: true, epochs: ran, summary, modelPath: null, emaModelPath: null, checkpointPath: lastPath };
    }
    if (options.fixRes != null) await fixResAfterTraining(options.fixRes, { model, data, card, trainer, run, options, batchSize, seed, workers, log });
    const modelPath = join(options.out, RUN_FILES.model);
    if (!writes) return { stopped: false, epochs: ran, summary, modelPath, emaModelPath: trainer.ema === null ? null : join(options.out, RUN_FILES.emaModel), checkpointPath: lastPath };
    saveModel(modelPath, model, { card });
    let emaModelPath: string | null = null;
    if (trainer.ema !== null) {
      emaModelPath = join(options.out, RUN_FILES.emaModel);
      trainer.ema.copyTo(model);
      saveModel(emaModelPath, model, { card });
    }
    writeFileSync(join(options.out, RUN_FILES.summary), `${JSON.stringify({ ...summary, model: modelPath, emaModel: emaModelPath }, null, 2)}\n`);
    log(formatSummary(summary));
    return { stopped: false, epochs: ran, summary, modelPath, emaModelPath, checkpointPath: lastPath };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    trainer?.dispose();
    model.dispose();
    await run.close();
    group?.destroy();
  }
}

/** The FixRes fine-tune of a finished run, with validation before and after (logged and in DIR/fixres.json). */
async function fixResAfterTraining(
  fixRes: { steps: number; lr?: number },
  context: { model: EfficientNet; data: ResolvedData; card: ModelCard; trainer: Trainer; run: { val: DataLoader }; options: TrainRunOptions; batchSize: number; seed: number; workers: number; log: (line: string) => void },
): Promise<void> {
  const { model, data, card, trainer, run, options, batchSize, seed, workers, log } = context;
  const channelsLast = options.channelsLast ?? true;
  const size = card.eval.size;
  const loader = new DataLoader(data.train, {
    batchSize,
    // The test-time view of each image (resized whole, as small images are evaluated), flipped half the time.
    transform: { kind: 'train', size, scale: [1, 1], ratio: [1, 1], hflip: 0.5, augment: null, mean: [...card.eval.mean], std: [...card.eval.std] },
    shuffle: true,
    seed: deriveSeed(seed, FIX_RES_SEED_TAG),
    dropLast: data.train.length > batchSize,
    workers,
  });
  try {
    const evalOptions = card.eval.tta === undefined ? {} : { tta: card.eval.tta };
    const before = await evaluate(model, run.val, channelsLast, evalOptions);
    const lr = fixRes.lr ?? trainer.lr / 10;
    const started = performance.now();
    const loss = await fineTuneAtTestSize(model, { steps: fixRes.steps, lr, train: loader, channelsLast, seed, labelSmoothing: options.recipe.labelSmoothing ?? 0.1 });
    const seconds = (performance.now() - started) / 1000;
    const after = await evaluate(model, run.val, channelsLast, evalOptions);
    log(`fix-res: ${fixRes.steps} steps at ${size}px (batch norms and classifier, lr ${lr.toPrecision(3)}, mean loss ${loss.toFixed(4)}, ${seconds.toFixed(1)} s): val top-1 ${(before.top1 * 100).toFixed(2)}% -> ${(after.top1 * 100).toFixed(2)}%, loss ${before.loss.toFixed(4)} -> ${after.loss.toFixed(4)}`);
    writeFileSync(join(options.out, 'fixres.json'), `${JSON.stringify({ steps: fixRes.steps, lr, size, seconds, before, after }, null, 2)}\n`);
  } finally {
    await loader.close();
  }
}

/**
 * Joins the data-parallel group of `worker` (torchrun's environment), with the rendezvous hints of ProcessGroup;
 * every data-parallel command (effnet train, effnet oneshot train) joins through it.
 * @throws RendezvousError (exit 2) when the others do not come in time or the address cannot be used
 */
export async function joinDataParallelGroup(worker: WorkerEnvironment, options: DistributedRunOptions): Promise<ProcessGroup> {
  // All ranks on loopback: Gloo binds there too (the host name may resolve to an address the others cannot use).
  const loopback = /^(127\.|localhost$|::1$)/.test(worker.masterAddr);
  try {
    return await ProcessGroup.create({
      host: worker.masterAddr,
      port: worker.masterPort,
      rank: worker.rank,
      worldSize: worker.worldSize,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      // Under torchrun the agent serves the store; every rank is its client, under the attempt's prefix (as torch's own env:// rendezvous).
      ...(worker.agentStore ? { serveStore: false, prefix: `/worker/attempt_${worker.restartCount}/default_pg` } : {}),
      ...(options.iface !== undefined ? { iface: options.iface } : loopback ? { hostname: '127.0.0.1' } : {}),
    });
  } catch (error) {
    throw new RendezvousError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** The rendezvous failed: the others did not come in time, the address cannot be reached, the port is taken (a user error: exit 2). */
export class RendezvousError extends UserError {
  override name = 'RendezvousError';
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

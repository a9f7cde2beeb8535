/**
 * Training a supernet with uniform single-path sampling (SPOS, Guo et al. 2020: at every step one candidate is drawn
 * uniformly from the space and only its path runs forward and backward, so a step costs about what the candidate's
 * own step costs), or with progressive or sandwich sampling (src/search/oneshot/sampling.ts), or with TuNAS's
 * controller (controller-training.ts). The draws are functions of (seed, step) and of the controller's state, which
 * the checkpoints carry, so a resumed run draws exactly the paths the uninterrupted one drew, and the run goes
 * through the ordinary Trainer: checkpoints, Ctrl-C/SIGKILL and `--resume`, progress with ETA, the recipe (the fast recipe's defaults for small images), metrics.jsonl. Validation reports the reference
 * candidate's path (the space's base, when it is a point of the space), its BN statistics recalibrated first.
 *
 * The run directory holds `supernet.json` (what the supernet was built from: space, proxy size, classes, options,
 * seed, reference candidate) beside the Trainer's checkpoints; {@link openSupernet} rebuilds the trained supernet
 * from it for ranking and extraction. One process only: data-parallel supernet training needs every rank to draw
 * the same path and the gradient averaging to skip off-path parameters (not built yet).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveModelCard } from '../../card/resolve.js';
import type { ModelCard } from '../../card/model-card.js';
import { encodeArchitecture } from '../../efficientnet/block-spec.js';
import { makeDirectory } from '../../directories.js';
import { openData } from '../../data/spec.js';
import { deriveSeed } from '../../data/rng.js';
import { writeFileAtomic } from '../../io/safetensors.js';
import { cat, keep, manualSeed, narrow, setNumThreads, tidy, type Tensor } from '../../torch/index.js';
import { loadCheckpoint } from '../../model-file/checkpoint.js';
import { FAST_RECIPE_BATCH_SIZE, PAPER_BATCH_SIZE, fastRecipeApplies, withFastRecipe } from '../../train/fast-recipe.js';
import { buildLoaders } from '../../train/run-builder.js';
import { joinDataParallelGroup, type DistributedRunOptions } from '../../train/run.js';
import { useSyncBatchNorm } from '../../distributed/index.js';
import { SPLIT_SEED } from '../../train/split-file.js';
import { batchTensors, Trainer, type EpochMetrics, type Recipe } from '../../train/trainer.js';
import type { ProgressStream } from '../../train/progress.js';
import { CANDIDATE_DROPOUT, candidateConfig, derivedMacsTarget } from '../nas/search.js';
import { candidateOf, flatSearchSpace, resolveSearchSpace, type ResolvedSearchSpace, type SearchSpaceDocument } from '../nas/space.js';
import type { Candidate } from '../nas/strategy.js';
import { recalibrateBatchNorm, type LabelledBatch } from './rank.js';
import { ControllerTraining, MOST_LIKELY_FILE, resolveReinforce, type ReinforceOptions, type ReinforceSettings, type RewardImages } from './controller-training.js';
import { PATH_SAMPLINGS, PROGRESSIVE_GROUPS, progressivePath, sandwichStudents, uniformPath, type PathSampling } from './sampling.js';
import { PathPolicy, PolicyStateModule } from './reinforce.js';
import { Supernet, SupernetError, type KernelSharing } from './supernet.js';
import { RUN_FILES } from '../../model-file/run-files.js';

/** The description file of a supernet run directory. */
export const SUPERNET_FILE = 'supernet.json';

/** The version of {@link SUPERNET_FILE}'s format. */
export const SUPERNET_FILE_VERSION = 1;

/** Training batches that recalibrate the reference path's BN statistics before each validation. */
const VALIDATION_CALIBRATION_BATCHES = 4;

/** A tag mixed into the calibration loader's seed so that its batches differ from the training loader's. */
const CALIBRATION_SEED_TAG = 0x5a7e;

/** What a supernet run directory describes (supernet.json). */
export interface SupernetDescription {
  version: number;
  /** The space document. */
  space: SearchSpaceDocument;
  /** The proxy training size. */
  resolution: number;
  /** Class names of the training data, in label order. */
  classes: string[];
  kernelSharing: KernelSharing;
  dropPath: number;
  /** The classifier dropout along paths in training; absent in files of runs before it was an option (0.2). */
  dropout?: number;
  /** The seed of the weights, the data order and the path draws. */
  seed: number;
  /** The candidate whose path validation reports. */
  reference: Candidate;
  /** The data spec the supernet was trained on. */
  data: string;
  /** How paths were sampled; absent in files of runs before sampling choices existed (they were uniform). */
  sampling?: PathSampling;
  /** Students per step of sandwich sampling. */
  students?: number;
  /** The hold-out fraction the data was split with when it has no validation split (absent: 0.1, the default). */
  valSplit?: number;
  /** The controller's settings of `reinforce` sampling (its state is the supernet's `policy.state` buffer). */
  reinforce?: ReinforceSettings;
}

export { uniformPath } from './sampling.js';

/** The space's base as a point of the space when it is one (B0 in the b0 space), else the first choice of every dimension. */
export function referenceCandidate(space: ResolvedSearchSpace): Candidate {
  try {
    return candidateOf(space, encodeArchitecture(space.base));
  } catch {
    const flat = flatSearchSpace(space);
    return Object.fromEntries(Object.entries(flat).map(([dimension, choices]) => [dimension, choices[0]!]));
  }
}

/** Options of {@link trainSupernet}; each default is stated. */
export interface SupernetTrainOptions {
  /** The space document. */
  space: SearchSpaceDocument;
  /** A data spec (`effnet train --data`). */
  data: string;
  /** Hold-out fraction when the data has no validation split; default 0.1. */
  valSplit?: number;
  /** The proxy training size in pixels. */
  resolution: number;
  /** The run directory. */
  out: string;
  /** The recipe (epochs required); unset fields follow the fast recipe for small images, as `effnet train`. */
  recipe: Recipe;
  /** Images per step; default the fast recipe's 128 (small images) or 32. */
  batchSize?: number;
  /** Seed of weights, data order and path draws; default 0. */
  seed?: number;
  /** libtorch threads; default libtorch's. */
  threads?: number;
  /** Loader worker threads; default 1. */
  workers?: number;
  /** Kernel sharing; default 'centre'. */
  kernelSharing?: KernelSharing;
  /** Which paths each step trains (src/search/oneshot/sampling.ts); default 'uniform'. */
  sampling?: PathSampling;
  /** Students per step of 'sandwich' sampling (paths distilled from the reference); default 2. */
  students?: number;
  /** The controller of 'reinforce' sampling (controller-training.ts); defaults TuNAS's. */
  reinforce?: ReinforceOptions;
  /** Largest drop-path rate along a path; default 0. */
  dropPath?: number;
  /** Classifier dropout along every path in training; default the candidates' 0.2 (CANDIDATE_DROPOUT). */
  dropout?: number;
  /** Continue the run in `out`; default false. */
  resume?: boolean;
  /** Progress bar output; default none. */
  progress?: ProgressStream | null;
  /** Log lines; default none. */
  log?: (line: string) => void;
  /** Called after each optimizer step (e.g. to stop a test run). */
  onStep?: (step: number, trainer: Trainer) => void;
  /** Aborting it stops the run after the current step with a checkpoint (Ctrl-C); default none. */
  signal?: AbortSignal;
  /**
   * Run as one rank of a data-parallel group (effnet oneshot train --nproc-per-node N): `batchSize` is the global
   * batch, split evenly over the ranks, and every rank trains the same path in a step (paths are drawn from (seed,
   * step), and REINFORCE's controller, updated from the same reward batch on every rank, stays the same everywhere),
   * so gradients are averaged over the parameters of that path only. Rank 0 writes the run's files and logs.
   * Default: one process.
   */
  distributed?: DistributedRunOptions | null;
}

/** What {@link trainSupernet} returns. */
export interface SupernetTrainResult {
  /** Per-epoch metrics of this invocation (validation of the reference path). */
  epochs: EpochMetrics[];
  /** Whether the run stopped early (stop request); resume it with `resume: true`. */
  stopped: boolean;
  /** Wall time of the whole run so far, all invocations, in seconds. */
  seconds: number;
}

/**
 * The description (supernet.json) of the supernet run directory `dir`, without loading its weights.
 * @throws SupernetError when `dir` holds no supernet or a file of another format
 */
export function readSupernetDescription(dir: string): SupernetDescription {
  const path = join(dir, SUPERNET_FILE);
  if (!existsSync(path)) throw new SupernetError(`${dir} is not a supernet run directory: ${SUPERNET_FILE} is missing (train one with effnet oneshot train)`);
  let value: SupernetDescription;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as SupernetDescription;
  } catch (error) {
    throw new SupernetError(`${path} is not valid JSON (${error instanceof Error ? error.message : String(error)}); it was written by effnet oneshot train`);
  }
  if (value.version !== SUPERNET_FILE_VERSION) throw new SupernetError(`${path} has format version ${String(value.version)}; this effnet reads version ${SUPERNET_FILE_VERSION}`);
  return value;
}

/** The reference candidate's card: the transforms (size, mean, std) every path trains and validates with. */
function referenceCard(space: ResolvedSearchSpace, reference: Candidate, resolution: number, classes: readonly string[]): ModelCard {
  return resolveModelCard({
    source: { kind: 'search-trial', config: candidateConfig(space, reference, resolution), detail: `the reference candidate of space '${space.document.name}'` },
    classes,
  });
}

/**
 * Trains (or resumes) a supernet with the chosen path sampling into `options.out` (see the module comment).
 * @throws SupernetError / RunOptionsError-like user errors for a bad space, size, data or run directory
 */
export async function trainSupernet(options: SupernetTrainOptions): Promise<SupernetTrainResult> {
  const lastPath = join(options.out, RUN_FILES.last);
  const resume = options.resume ?? false;
  if (resume && !existsSync(lastPath)) throw new SupernetError(`--resume: ${lastPath} does not exist; start the run without --resume`);
  if (!resume && existsSync(lastPath)) throw new SupernetError(`${options.out} already holds a supernet run (${lastPath}); pass --resume to continue it or choose another --out`);
  const log = options.log ?? ((): void => undefined);
  const space = resolveSearchSpace(options.space, 'the search space');
  const seed = options.seed ?? 0;
  const kernelSharing = options.kernelSharing ?? 'centre';
  const dropPath = options.dropPath ?? 0;
  const dropout = options.dropout ?? CANDIDATE_DROPOUT;
  const sampling = options.sampling ?? 'uniform';
  if (!PATH_SAMPLINGS.includes(sampling)) throw new SupernetError(`unknown path sampling '${String(sampling)}'; choose one of ${PATH_SAMPLINGS.join(', ')}`);
  const students = sampling === 'sandwich' ? (options.students ?? 2) : 0;
  if (!Number.isInteger(students) || students < 0 || students > 8) throw new SupernetError(`sandwich sampling takes 0 to 8 students per step, got ${String(options.students)}`);
  if (resume) {
    const saved = readSupernetDescription(options.out);
    const differs: string[] = [];
    if (JSON.stringify(saved.space) !== JSON.stringify(space.document)) differs.push('the space');
    if (saved.resolution !== options.resolution) differs.push(`the size (${saved.resolution} vs ${options.resolution})`);
    if (saved.seed !== seed) differs.push(`the seed (${saved.seed} vs ${seed})`);
    if ((saved.dropout ?? CANDIDATE_DROPOUT) !== dropout) differs.push(`the dropout (${saved.dropout ?? CANDIDATE_DROPOUT} vs ${dropout})`);
    if (saved.kernelSharing !== kernelSharing) differs.push(`the kernel sharing (${saved.kernelSharing} vs ${kernelSharing})`);
    if (saved.data !== options.data) differs.push(`the data (${saved.data} vs ${options.data})`);
    if ((saved.valSplit ?? 0.1) !== (options.valSplit ?? 0.1)) differs.push(`the hold-out fraction (${saved.valSplit ?? 0.1} vs ${options.valSplit ?? 0.1})`);
    if ((saved.sampling ?? 'uniform') !== sampling) differs.push(`the path sampling (${saved.sampling ?? 'uniform'} vs ${sampling})`);
    if ((saved.students ?? 0) !== students) differs.push(`the students per step (${saved.students ?? 0} vs ${students})`);
    if (differs.length > 0) throw new SupernetError(`--resume: ${differs.join(', ')} differ from the run in ${options.out}; give the flags the run was started with`);
  }
  const worker = options.distributed?.worker ?? null;
  // Only rank 0 prints and writes; the other ranks train silently (their errors still reach stderr).
  const writes = worker === null || worker.rank === 0;
  const say = writes ? log : (): void => undefined;
  const data = await openData(options.data, { valSplit: options.valSplit ?? 0.1, splitSeed: SPLIT_SEED });
  if (data.classes.length < 2) throw new SupernetError(`${options.data} holds ${data.classes.length} class; a classifier needs at least 2`);
  const reference = referenceCandidate(space);
  const card = referenceCard(space, reference, options.resolution, data.classes);
  const fast = fastRecipeApplies({ imageSize: options.resolution, trainImages: data.train.length, fineTune: false });
  // No EMA unless asked for: averaging every shared weight each step would cost more than the path's own step.
  const given: Recipe = { ...options.recipe, emaDecay: options.recipe.emaDecay === undefined ? null : options.recipe.emaDecay };
  const recipe = fast ? withFastRecipe(given) : given;
  const batchSize = options.batchSize ?? (fast ? FAST_RECIPE_BATCH_SIZE : PAPER_BATCH_SIZE);
  if (worker !== null && batchSize % worker.worldSize !== 0) {
    throw new SupernetError(`--batch-size ${batchSize} is the global batch and must divide evenly over ${worker.worldSize} ranks; choose a multiple of ${worker.worldSize}`);
  }
  if (options.threads !== undefined) setNumThreads(options.threads);
  // The rendezvous comes after every check that can refuse the run, so a refused rank fails alone and at once.
  const group = worker === null ? null : await joinDataParallelGroup(worker, options.distributed!);
  manualSeed(seed);
  const supernet = new Supernet(space, { numClasses: data.classes.length, resolution: options.resolution, kernelSharing, dropPath, dropout });
  const loaders = buildLoaders({
    card,
    data,
    batchSize: worker === null ? batchSize : batchSize / worker.worldSize,
    shard: worker === null ? null : { rank: worker.rank, worldSize: worker.worldSize },
    seed,
    workers: options.workers ?? 1,
  });
  // Validation reports the reference path with its own BN statistics, recomputed from these training batches before
  // each evaluation (the shared running statistics mix every path's and say nothing about one).
  // Unsharded: every rank recalibrates on the same batches (and REINFORCE measures rewards on the same images).
  const calibration: LabelledBatch[] = [];
  const calibrationLoaders = buildLoaders({ card, data, batchSize, seed: deriveSeed(seed, CALIBRATION_SEED_TAG), workers: 0 });
  const referencePath = supernet.pathOf(reference);
  const totalSteps = recipe.epochs * loaders.train.batchesPerEpoch;
  let controller: ControllerTraining | null = null;
  let rewardImages: RewardImages | null = null;
  let reinforce: ReinforceSettings | undefined;
  /** Frees what the run holds (after it ends, or when its set-up fails). */
  const release = async (): Promise<void> => {
    await loaders.close();
    for (const b of calibration) {
      b.images.dispose();
      b.labels.dispose();
    }
    rewardImages?.images.dispose();
    rewardImages?.labels.dispose();
    supernet.dispose();
    group?.destroy();
  };
  try {
    for await (const batch of calibrationLoaders.train.epoch(0, 0)) {
      if (calibration.length >= VALIDATION_CALIBRATION_BATCHES) break;
      const t = batchTensors(batch);
      calibration.push({ images: keep(t.images), labels: keep(t.labels) });
    }
    if (sampling === 'reinforce') {
      reinforce = resolveReinforce(options.reinforce ?? {}, totalSteps, batchSize, derivedMacsTarget(space, options.resolution, data.classes.length));
      if (resume) {
        const saved = readSupernetDescription(options.out).reinforce;
        if (JSON.stringify(saved) !== JSON.stringify(reinforce)) {
          throw new SupernetError(`--resume: the controller's settings differ from the run in ${options.out} (${JSON.stringify(saved)} vs ${JSON.stringify(reinforce)}); give the flags the run was started with`);
        }
      }
      rewardImages = await heldOutImages(calibrationLoaders.val, reinforce.rewardImages);
      if (rewardImages.labels.shape[0]! < reinforce.rewardBatch) {
        throw new SupernetError(`the hold-out has ${rewardImages.labels.shape[0]} images, fewer than the reward batch of ${reinforce.rewardBatch}; lower --reward-batch`);
      }
      controller = new ControllerTraining(supernet, reinforce, seed, totalSteps, options.resolution, data.classes.length, rewardImages, reference);
    } else if (options.reinforce !== undefined) {
      throw new SupernetError(`the controller's settings apply to --sampling reinforce only, not ${sampling}`);
    }
  } catch (error) {
    await release();
    throw error;
  } finally {
    await calibrationLoaders.close();
  }
  let trainer: Trainer | null = null;
  const onAbort = (): void => trainer?.stop();
  try {
    trainer = new Trainer({
      model: supernet,
      train: loaders.train,
      val: loaders.val,
      runDir: options.out,
      recipe,
      // The shared weights are raw tensors, not Conv2d modules the Trainer could re-lay out: NCHW throughout.
      channelsLast: false,
      config: { data: options.data, validation: data.validation, imageSize: options.resolution, supernet: true },
      card: null,
      progress: options.progress ?? null,
      beforeStep: (step) => {
        if (sampling === 'progressive') supernet.activate(progressivePath(space, reference, seed, step, totalSteps));
        else if (sampling === 'sandwich') {
          supernet.activate(reference);
          supernet.setStudents(sandwichStudents(space, seed, step, students));
        } else if (controller !== null) controller.draw(step);
        else supernet.activate(uniformPath(space, seed, step));
      },
      auxiliaryLoss: () => supernet.takeAuxiliaryLoss(),
      beforeEvaluate: () => {
        supernet.activate(reference);
        // Every rank recalibrates on the same batches by itself (sync batch norm off meanwhile: no collectives, and
        // the statistics of one process); evaluation itself runs on the running statistics.
        const synced = group !== null && (options.distributed?.syncBatchNorm ?? false);
        if (synced) useSyncBatchNorm(supernet, null);
        recalibrateBatchNorm(supernet, referencePath, calibration);
        if (synced) useSyncBatchNorm(supernet, group);
      },
      onStep: (step) => {
        controller?.learn(step - 1);
        options.onStep?.(step, trainer!);
      },
      onEpoch: (metrics, seconds) => {
        say(
          `epoch ${metrics.epoch}/${recipe.epochs}: train loss ${metrics.trainLoss.toFixed(4)} top-1 ${(metrics.trainTop1 * 100).toFixed(2)}% (sampled paths)` +
            (metrics.valTop1 === null ? '' : ` | reference path val top-1 ${(metrics.valTop1 * 100).toFixed(2)}%`) +
            ` | ${seconds.toFixed(1)} s`,
        );
        if (controller !== null) {
          const note = controller.takeEpochNote();
          say(`  ${note}`);
          if (writes) controller.writePolicy(options.out);
        }
      },
      distributed:
        group === null
          ? null
          : { group, syncBatchNorm: options.distributed?.syncBatchNorm ?? false, batchNormStatistics: options.distributed?.batchNormStatistics === undefined ? 'reduce' : options.distributed.batchNormStatistics, partialGradients: true },
    });
    if (!resume) {
      const description: SupernetDescription = {
        version: SUPERNET_FILE_VERSION,
        space: space.document,
        resolution: options.resolution,
        classes: [...data.classes],
        kernelSharing,
        dropPath,
        dropout,
        seed,
        reference,
        data: options.data,
        sampling,
        students,
        valSplit: options.valSplit ?? 0.1,
        ...(reinforce === undefined ? {} : { reinforce }),
      };
      if (writes) {
        makeDirectory(options.out);
        writeFileAtomic(join(options.out, SUPERNET_FILE), Buffer.from(JSON.stringify(description, null, 2) + '\n'));
      }
    } else {
      trainer.resume();
      controller?.restore();
      say(`resuming ${lastPath} at step ${trainer.progress.step} (epoch ${trainer.progress.epoch})`);
    }
    say(
      `supernet of space '${space.document.name}' at ${options.resolution}px: ${supernet.parameterCount().toLocaleString('en-US')} parameters (${kernelSharing} kernels), ` +
        `${samplingNote(sampling, students)}, ${data.train.length} training images of ${data.classes.length} classes, batch ${batchSize}; validation: the reference path on ${data.validation}`,
    );
    say(`recipe: ${JSON.stringify({ ...recipe, lr: trainer.lr, batchSize })}`);
    if (worker !== null) {
      say(
        `data-parallel: ${worker.worldSize} ranks (${worker.localWorldSize} on this host), ${batchSize / worker.worldSize} images per rank per step, the same path on every rank, ` +
          `${options.distributed?.syncBatchNorm ? 'sync batch norm' : 'batch norm per rank'}; gradients averaged over the path's parameters`,
      );
    }
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) trainer.stop();
    const epochs = await trainer.fit();
    if (controller !== null && writes) {
      controller.writePolicy(options.out);
      if (!trainer.stopped) say(`the controller's most likely candidate (TuNAS's answer): ${join(options.out, MOST_LIKELY_FILE)}`);
    }
    return { epochs, stopped: trainer.stopped, seconds: trainer.runSeconds };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    trainer?.dispose();
    await release();
  }
}

/** The first `count` images of the hold-out (eval transform), as two kept tensors. */
async function heldOutImages(val: ReturnType<typeof buildLoaders>['val'], count: number): Promise<RewardImages> {
  const images: Tensor[] = [];
  const labels: Tensor[] = [];
  let n = 0;
  for await (const batch of val.epoch(0, 0)) {
    if (n >= count) break;
    const t = batchTensors(batch);
    images.push(t.images);
    labels.push(t.labels);
    n += batch.labels.length;
  }
  if (n === 0) throw new SupernetError('the hold-out is empty: REINFORCE measures its rewards on held-out images; give the data a validation split');
  const kept = Math.min(n, count);
  const result = tidy(() => ({ images: keep(narrow(cat(images, 0), 0, 0, kept).contiguous()), labels: keep(narrow(cat(labels, 0), 0, 0, kept).contiguous()) }));
  for (const t of [...images, ...labels]) t.dispose();
  return result;
}

function samplingNote(sampling: PathSampling, students: number): string {
  if (sampling === 'reinforce') return `REINFORCE sampling (TuNAS: paths drawn from a learned per-dimension policy, frozen for the first part of training)`;
  if (sampling === 'progressive') return `progressive sampling (the reference, then ${PROGRESSIVE_GROUPS.map((g) => g.join('+')).join(', ')} freed in turn)`;
  if (sampling === 'sandwich') return `sandwich sampling (the reference on the labels, ${students} uniform paths distilled from it per step)`;
  return 'uniform single-path sampling';
}

/** A trained supernet reopened from its run directory. */
export interface OpenedSupernet {
  supernet: Supernet;
  description: SupernetDescription;
}

/**
 * Rebuilds the supernet of a run directory and loads its weights from `last.safetensors` (the latest state, also of
 * a stopped run).
 * @throws SupernetError when the directory holds no supernet run
 */
export function openSupernet(dir: string): OpenedSupernet {
  const description = readSupernetDescription(dir);
  const last = join(dir, RUN_FILES.last);
  if (!existsSync(last)) throw new SupernetError(`${dir} holds no checkpoint yet (${RUN_FILES.last}); train the supernet first`);
  const space = resolveSearchSpace(description.space, join(dir, SUPERNET_FILE));
  const supernet = new Supernet(space, { numClasses: description.classes.length, resolution: description.resolution, kernelSharing: description.kernelSharing, dropPath: description.dropPath, dropout: description.dropout ?? CANDIDATE_DROPOUT });
  // A REINFORCE run's checkpoints hold the controller's state beside the shared weights.
  if (description.sampling === 'reinforce') supernet.registerModule('policy', new PolicyStateModule(new PathPolicy(flatSearchSpace(space)).stateLength));
  const checkpoint = loadCheckpoint(last);
  try {
    supernet.loadStateDict(checkpoint.model, { source: last });
  } finally {
    checkpoint.dispose();
  }
  supernet.eval();
  return { supernet, description };
}

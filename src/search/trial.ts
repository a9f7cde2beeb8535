/**
 * One trial: build the scaled model, train it with the search's fixed recipe and budget through the Trainer on the
 * search's data, and measure validation accuracy, params, MACs and wall time. A trial whose earlier attempt was
 * interrupted (its worker killed, its machine gone) continues from that attempt's last checkpoint.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectory } from '../directories.js';
import { RUN_FILES } from '../model-file/run-files.js';
import { loadCheckpoint } from '../model-file/checkpoint.js';
import { appendMetrics, type MetricsRecord } from '../train/metrics.js';
import { totalStrideOf, type ModelCard } from '../card/model-card.js';
import { resolveModelCard, stagesOfCard } from '../card/resolve.js';
import { buildRun } from '../train/run-builder.js';
import { Trainer, evaluate, type EpochMetrics, type Recipe } from '../train/trainer.js';
import { annealEpochs, CONVERGENCE_MIN_WINDOW, hasConverged, type Budget } from './budget.js';
import { validateScaledConfig, type ScaledConfigJson } from '../card/config-file.js';
import type { ResolvedData } from '../data/spec.js';
import { profileConfig } from './match.js';
import type { Json, TrialResult } from './store.js';
import { checkProgressive, ProgressiveError, type ProgressiveSchedule } from '../train/progressive.js';

/**
 * A search's recipe: the Trainer's recipe fields (epochs come from the budget) plus the model's stochastic-depth
 * rate, which is a training-time regulariser and so part of the recipe rather than of the scaled configuration.
 */
export interface TrialRecipe extends Omit<Recipe, 'epochs' | 'progressive'> {
  /**
   * Largest stochastic-depth (drop-path) rate, the last block's (createEfficientNet's `stochasticDepth`).
   * Absent: 0.2, the model's default (what searches stored before this field existed trained with).
   */
  dropPath?: number;
  /**
   * Progressive learning for every trial (src/train/progressive.ts), its start size relative to each trial's own
   * resolution, since a scaling search's trials train at different sizes. Epoch budgets only. Default none.
   */
  progressive?: TrialProgressive | null;
}

/**
 * A search's progressive learning: `stages` equal stages from `startFraction` of a trial's resolution (rounded, at
 * least the network's total stride) to its resolution, dropout and drop-path growing from the start values given here
 * (default: the final value throughout) to the trial's own.
 */
export interface TrialProgressive {
  stages: number;
  /** Start size as a fraction of the trial's resolution, in (0, 1]. */
  startFraction: number;
  /** Start classifier dropout. */
  dropout?: number;
  /** Start drop-path rate. */
  dropPath?: number;
}

/**
 * Checks the shape of a recipe's `progressive` field (from --recipe or a store) and returns it typed.
 * @throws ProgressiveError naming the field and what it takes
 */
export function checkTrialProgressive(value: unknown, where: string): TrialProgressive {
  const example = '{"stages":4,"startFraction":0.67,"dropout":0}';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ProgressiveError(`${where}: progressive is an object such as ${example}, got ${JSON.stringify(value)}`);
  const allowed = ['stages', 'startFraction', 'dropout', 'dropPath'];
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw new ProgressiveError(`${where}: progressive has no field '${key}'; allowed: ${allowed.join(', ')} (e.g. ${example})`);
  const { stages, startFraction, dropout, dropPath } = value as Record<string, unknown>;
  if (!(typeof stages === 'number' && Number.isInteger(stages) && stages >= 1)) throw new ProgressiveError(`${where}: progressive.stages must be a whole number >= 1, got ${JSON.stringify(stages)}`);
  if (!(typeof startFraction === 'number' && startFraction > 0 && startFraction <= 1)) {
    throw new ProgressiveError(`${where}: progressive.startFraction is the start size over the trial's resolution, a number in (0, 1], got ${JSON.stringify(startFraction)}`);
  }
  for (const [name, rate] of [['dropout', dropout], ['dropPath', dropPath]] as const) {
    if (rate !== undefined && !(typeof rate === 'number' && rate >= 0 && rate < 1)) throw new ProgressiveError(`${where}: progressive.${name} is a start rate in [0, 1), got ${JSON.stringify(rate)}`);
  }
  return value as TrialProgressive;
}

/**
 * The progressive schedule of one trial: from round(startFraction × resolution) (at least the total stride) to the
 * card's resolution over `epochs` epochs.
 * @throws ProgressiveError when the schedule does not fit (more stages than epochs)
 */
export function trialSchedule(progressive: TrialProgressive, card: ModelCard, epochs: number): ProgressiveSchedule {
  const a = card.architecture;
  const stride = totalStrideOf(stagesOfCard(card));
  const start = Math.min(a.resolution, Math.max(stride, Math.round(progressive.startFraction * a.resolution)));
  const schedule: ProgressiveSchedule = {
    stages: progressive.stages,
    size: [start, a.resolution],
    ...(progressive.dropout === undefined ? {} : { dropout: [progressive.dropout, a.dropout] as const }),
    ...(progressive.dropPath === undefined ? {} : { dropPath: [progressive.dropPath, a.stochasticDepth] as const }),
  };
  checkProgressive(schedule, epochs, stride);
  return schedule;
}

/**
 * A recipe's progressive learning with the epochs of `budget`, or null without it; refuses one that `budget` cannot
 * carry: its stages are fractions of a run whose epochs are known in advance, so only epoch budgets, and at most one
 * stage per epoch.
 */
export function checkTrialRecipeBudget(recipe: { [key: string]: unknown }, budget: Budget): { progressive: TrialProgressive; epochs: number } | null {
  if (recipe['progressive'] == null) return null;
  const progressive = checkTrialProgressive(recipe['progressive'], '--recipe');
  if (budget.kind !== 'epochs') {
    throw new ProgressiveError(
      `--recipe progressive needs an epoch budget (its stages are fractions of the trial's epochs, known in advance), got a ${budget.kind} budget; use e.g. --budget 8ep` +
        (budget.kind === 'converge' ? ', or drop progressive to train until converged' : ''),
    );
  }
  // Refused here, when the search is defined, rather than by every trial once it is stored.
  if (progressive.stages > budget.value) {
    throw new ProgressiveError(`--recipe progressive: ${progressive.stages} stages do not fit in the ${budget.value}-epoch budget; use at most ${budget.value} stages or a longer --budget`);
  }
  return { progressive, epochs: budget.value };
}

/**
 * The recipe of a search's trials unless the search sets its own: SGD with Nesterov momentum 0.9, lr 0.1 with a
 * linear warm-up over the first 0.2 epochs and a cosine decay over the budget, weight decay 1e-5 (not on BN/bias),
 * label smoothing 0.1, no EMA, no stochastic depth (the model's dropout stays as configured). Chosen for short
 * budgets (docs/scaling.md, "Choosing the recipe"): on the proxy (CIFAR-10, 10,000 training images, 2 epochs) it
 * reached 32% top-1 where the earlier AdamW lr 0.002 recipe with drop-path 0.2 reached 22%.
 */
export const DEFAULT_TRIAL_RECIPE: TrialRecipe = Object.freeze({
  optimizer: 'sgd',
  lr: 0.1,
  schedule: 'cosine',
  warmupEpochs: 0.2,
  weightDecay: 1e-5,
  labelSmoothing: 0.1,
  emaDecay: null,
  dropPath: 0,
});

/** The training batch size of a search's trials unless the search sets its own (more steps per epoch than 64). */
export const DEFAULT_TRIAL_BATCH_SIZE = 32;

/** Batch size of the validation passes (evaluation only: larger batches are cheaper per image and change nothing). */
export const EVAL_BATCH_SIZE = 256;

/** The stochastic-depth rate of a stored recipe without the field (searches created before it existed). */
export const LEGACY_DROP_PATH = 0.2;

/**
 * The random-resized-crop area range of every trial: effnet train's small-image range (the searches run on small
 * images). One range for the whole search, whatever a trial's resolution, so that the recipe stays fixed.
 */
export const DEFAULT_CROP_SCALE: readonly [number, number] = Object.freeze([0.64, 1]) as unknown as readonly [number, number];

/** Everything that is the same for every trial of a search. */
export interface TrialSettings {
  /** The budget. */
  budget: Budget;
  /** Recipe fields (epochs comes from the budget) and the drop-path rate. */
  recipe: TrialRecipe;
  /** Training batch size. */
  batchSize: number;
  /** Seed of the loader and the trainer (the same for every trial). */
  seed: number;
  /** Loader worker threads (0: batches assembled on the training thread). */
  loaderWorkers: number;
  /** RRC area range of the train transform; default {@link DEFAULT_CROP_SCALE}. */
  cropScale?: [number, number];
  /** Epoch cap of a minutes budget (the cosine schedule spans it); default 1000. */
  maxEpochs?: number;
  /**
   * Evaluate on the validation set after every epoch (per-epoch validation curves in the store) instead of only once
   * at the end of the budget; default false (each evaluation of 5,000 images costs about a tenth of an epoch of
   * 10,000 training images).
   */
  evalEveryEpoch?: boolean;
  /**
   * The stop rule's smallest window in epochs with a converge budget (see hasConverged); default
   * {@link CONVERGENCE_MIN_WINDOW}. A stored search passes its own, so its trials keep the rule they started with.
   */
  convergeMinWindow?: number;
}

/**
 * The model card of a trial: the scaled configuration as it is (its stages, or B0's), the search's drop-path rate,
 * and whole-image evaluation (crop_pct 1) at every resolution, since the searches run on small-image proxies whose
 * pictures have no margin to crop, whatever resolution a trial scales to.
 */
export function trialCard(config: ScaledConfigJson, classes: readonly string[], stochasticDepth: number, detail: string): ModelCard {
  return resolveModelCard({ source: { kind: 'search-trial', config, detail }, classes, stochasticDepth, eval: { cropPct: 1 } });
}

/** Callbacks of {@link runTrial}, and where this worker trains. */
export interface TrialHooks {
  /** The device to train on ('cpu', 'cuda:N'); default the CPU. Not part of the trial: a worker's own placement. */
  device?: string;
  /** Names the trial in its model card (search and trial), e.g. 'scale-search grid, trial 12'; default 'a search trial'. */
  detail?: string;
  /** After every optimizer step (e.g. a throttled heartbeat). */
  onStep?: (step: number) => void;
  /** After each finished epoch. */
  onEpoch?: (metrics: EpochMetrics) => void;
  /**
   * The run directory of an earlier attempt of this trial that was interrupted: the trial continues from its
   * last.safetensors (bit for bit as if never interrupted, on the same machine) instead of training again; its
   * epochs so far are copied into this attempt's metrics and passed to onEpoch again, the stop rule of a converge
   * budget is replayed over them, and the wall time (and a minutes budget) counts the earlier attempt's training.
   * Ignored (the trial trains afresh) when the directory has no checkpoint or its metrics miss an epoch of it.
   */
  resumeFrom?: string;
}

/**
 * The first epoch after which the stop rule of a converge budget (smallest window `minWindow` epochs) fires over
 * `valTop1` (the hold-out top-1 after each epoch), or null: what the epoch loop of {@link runTrial} decides as it
 * goes, replayed over a resumed history.
 */
export function convergedEpoch(valTop1: readonly number[], minWindow = CONVERGENCE_MIN_WINDOW): number | null {
  for (let epoch = 1; epoch <= valTop1.length; epoch += 1) if (hasConverged(valTop1.slice(0, epoch), minWindow)) return epoch;
  return null;
}

/**
 * What an interrupted attempt in `dir` leaves to continue from: its checkpoint's completed epochs and the metrics of
 * exactly those epochs (metrics.jsonl, read line by line; a line cut short by a kill or not an epoch record is
 * skipped). Null when there is no readable checkpoint, or when the metrics do not cover epochs 1..E of a checkpoint at epoch E
 * (the Trainer writes the checkpoint before the epoch's metrics line, so a kill between them loses that line): the
 * stop rule could not be replayed, so the trial trains afresh.
 */
function interruptedAttempt(dir: string): { dir: string; epochs: EpochMetrics[] } | null {
  const checkpointPath = join(dir, RUN_FILES.last);
  if (!existsSync(checkpointPath)) return null;
  let completed: number;
  try {
    const loaded = loadCheckpoint(checkpointPath);
    completed = loaded.progress.epoch;
    loaded.dispose();
  } catch {
    return null; // an unreadable checkpoint: train afresh rather than fail the trial
  }
  const path = join(dir, RUN_FILES.metricsJsonl);
  const byEpoch = new Map<number, EpochMetrics>();
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        continue;
      }
      const epoch = (record as { epoch?: unknown } | null)?.epoch;
      if (typeof epoch === 'number' && Number.isInteger(epoch) && epoch >= 1 && epoch <= completed) byEpoch.set(epoch, record as EpochMetrics);
    }
  }
  if (byEpoch.size !== completed) return null;
  return { dir, epochs: Array.from({ length: completed }, (_, i) => byEpoch.get(i + 1)!) };
}

/**
 * Trains and evaluates one configuration; throws on any failure (the caller records it).
 * @param configValue the trial's scaled configuration (validated here)
 * @param runDir where the Trainer writes checkpoints and metrics.jsonl
 */
export async function runTrial(configValue: unknown, data: Pick<ResolvedData, 'train' | 'val' | 'classes'>, settings: TrialSettings, runDir: string, hooks: TrialHooks = {}): Promise<TrialResult> {
  const started = performance.now();
  const config: ScaledConfigJson = validateScaledConfig(configValue, 'trial configuration');
  const numClasses = data.classes.length;
  const cost = profileConfig(config, { numClasses });
  const { dropPath, progressive: _progressive, ...recipe } = settings.recipe;
  const card = trialCard(config, data.classes, dropPath ?? LEGACY_DROP_PATH, hooks.detail ?? 'a search trial');
  const { budget } = settings;
  const start = checkTrialRecipeBudget(settings.recipe as unknown as { [key: string]: unknown }, budget);
  const progressive = start === null ? null : { schedule: trialSchedule(start.progressive, card, start.epochs), epochs: start.epochs };
  const { model, train, val, close } = buildRun({
    ...(progressive === null ? {} : { progressive }),
    card,
    data,
    batchSize: settings.batchSize,
    evalBatchSize: Math.max(settings.batchSize, EVAL_BATCH_SIZE),
    cropScale: settings.cropScale ?? DEFAULT_CROP_SCALE,
    seed: settings.seed,
    workers: settings.loaderWorkers,
  });
  // A converge budget judges the hold-out after every epoch; its cap is the run's length (the cosine spans it).
  const converge = budget.kind === 'converge';
  const minWindow = settings.convergeMinWindow ?? CONVERGENCE_MIN_WINDOW;
  const evalEveryEpoch = (settings.evalEveryEpoch ?? false) || converge;
  const epochs =
    budget.kind === 'epochs' || budget.kind === 'converge' ? budget.value : budget.kind === 'steps' ? Math.ceil(budget.value / train.batchesPerEpoch) : settings.maxEpochs ?? 1000;
  let deadline = budget.kind === 'minutes' ? started + budget.value * 60_000 : Infinity;
  // An interrupted attempt's checkpoints seed this attempt's run directory; the Trainer resumes from them below.
  const resumable = hooks.resumeFrom === undefined ? null : interruptedAttempt(hooks.resumeFrom);
  if (resumable !== null) {
    makeDirectory(runDir);
    for (const file of [RUN_FILES.last, RUN_FILES.best]) if (existsSync(join(resumable.dir, file))) copyFileSync(join(resumable.dir, file), join(runDir, file));
  }
  let trainer: Trainer | null = null;
  try {
    trainer = new Trainer({
      model,
      train,
      val: evalEveryEpoch ? val : null,
      runDir,
      recipe: { ...recipe, epochs, ...(progressive === null ? {} : { progressive: progressive.schedule }) },
      channelsLast: true,
      device: hooks.device ?? 'cpu',
      config: { scaledConfig: config as unknown as Json & { [key: string]: Json }, dropPath: card.architecture.stochasticDepth },
      card,
      onStep: (step) => {
        hooks.onStep?.(step);
        if ((budget.kind === 'steps' && step >= budget.value) || performance.now() >= deadline) trainer!.stop();
      },
    });
    const history: EpochMetrics[] = [];
    let convergedAtEpoch: number | null = null;
    let lastEpoch = epochs;
    let resumedAtEpoch: number | null = null;
    if (resumable !== null && trainer.resume()) {
      resumedAtEpoch = trainer.progress.epoch;
      // A time budget counts the interrupted attempt's training too.
      deadline -= trainer.earlierSeconds * 1000;
      for (const metrics of resumable.epochs) {
        appendMetrics(runDir, metrics as unknown as MetricsRecord);
        history.push(metrics);
        hooks.onEpoch?.(metrics);
      }
      const fired = converge ? convergedEpoch(history.map((m) => m.valTop1 ?? 0), minWindow) : null;
      if (fired !== null) {
        convergedAtEpoch = fired;
        const anneal = Math.min(annealEpochs(fired), epochs - fired);
        lastEpoch = fired + anneal;
        if (anneal > 0) trainer.annealFrom(anneal * train.batchesPerEpoch, history[fired - 1]!.step);
      }
    }
    while (trainer.progress.epoch < lastEpoch) {
      const ran = await trainer.fit({ stopAfter: 1 });
      for (const metrics of ran) {
        history.push(metrics);
        hooks.onEpoch?.(metrics);
      }
      if (trainer.stopped) break;
      if (converge && convergedAtEpoch === null && hasConverged(history.map((m) => m.valTop1 ?? 0), minWindow)) {
        // Converged at a learning rate the cosine over the cap has barely lowered: anneal it to 0 over a fifth of
        // the epochs so far (within the cap), as a run of that length would end, then stop.
        convergedAtEpoch = trainer.progress.epoch;
        const anneal = Math.min(annealEpochs(convergedAtEpoch), epochs - convergedAtEpoch);
        lastEpoch = convergedAtEpoch + anneal;
        if (anneal > 0) trainer.annealFrom(anneal * train.batchesPerEpoch);
      }
    }
    // Without per-epoch evaluation, or when the budget ended inside an epoch, evaluate the weights as they are now.
    const last = history[history.length - 1];
    const lastEval = !trainer.stopped && last !== undefined && last.valTop1 !== null ? { loss: last.valLoss!, top1: last.valTop1, top5: last.valTop5!, images: data.val.length } : null;
    const final = lastEval ?? (await evaluate(model, val, true));
    // A resumed trial's time includes the interrupted attempt's training up to its checkpoint.
    const wallSeconds = (performance.now() - started) / 1000 + trainer.earlierSeconds;
    return {
      params: cost.params,
      macs: cost.macs,
      wallSeconds,
      valTop1: final.top1,
      metrics: {
        valTop1: final.top1,
        valTop5: final.top5,
        valLoss: final.loss,
        steps: trainer.progress.step,
        epochsCompleted: trainer.progress.epoch,
        trainLoss: last?.trainLoss ?? null,
        // Training-batch top-1 of the last epoch (augmented, train mode): beside the hold-out's, the fit gap.
        trainTop1: last?.trainTop1 ?? null,
        ...(converge ? { convergedAtEpoch, annealEpochs: convergedAtEpoch === null ? 0 : trainer.progress.epoch - convergedAtEpoch } : {}),
        trainImagesPerSecond: last?.imagesPerSecond ?? null,
        valImages: data.val.length,
        trainImages: data.train.length,
        ...(resumedAtEpoch === null ? {} : { resumedAtEpoch }),
      },
    };
  } finally {
    trainer?.dispose();
    model.dispose();
    await close();
  }
}

/**
 * Learning-rate schedules as pure functions of the optimizer step: the EfficientNet paper's staircase decay (as
 * timm's StepLRScheduler with decay_epochs 2.4, decay_rate 0.97 and a linear warm-up) and cosine with warm-up.
 * A schedule holds no state, so resuming a run only needs the step number.
 */

/** The EfficientNet paper's reference learning rate: 0.016 for a batch of 256 images. */
export const PAPER_LR_PER_256 = 0.016;

/** Scales a learning rate given per 256 images to `batchSize` images (linear scaling rule). */
export function scaleLearningRate(lrPer256: number, batchSize: number): number {
  if (!(Number.isFinite(lrPer256) && lrPer256 >= 0)) throw new Error(`scaleLearningRate: lrPer256 must be a finite number >= 0, got ${lrPer256}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`scaleLearningRate: batchSize must be a positive integer, got ${batchSize}`);
  return (lrPer256 * batchSize) / 256;
}

/** Warm-up shared by both schedules. */
export interface WarmupOptions {
  /** Epochs of linear warm-up from warmupLr to the schedule's value; default 0 (none). May be fractional. */
  warmupEpochs?: number;
  /** Learning rate at step 0 of the warm-up; default 1e-6 (timm's warmup_lr). */
  warmupLr?: number;
}

/** Options of stepDecaySchedule. */
export interface StepDecayOptions extends WarmupOptions {
  /** Base learning rate (already scaled to the batch size). */
  lr: number;
  /** Optimizer steps per epoch (> 0). */
  stepsPerEpoch: number;
  /** Epochs between decays; default 2.4 (the paper). */
  decayEpochs?: number;
  /** Factor applied at each decay; default 0.97 (the paper). */
  decayRate?: number;
}

/** Options of cosineSchedule. */
export interface CosineOptions extends WarmupOptions {
  /** Peak learning rate (already scaled to the batch size). */
  lr: number;
  /** Optimizer steps per epoch (> 0). */
  stepsPerEpoch: number;
  /** Total epochs of the run (> 0): the cosine reaches minLr at the end. */
  epochs: number;
  /** Learning rate at the end of the run; default 0. */
  minLr?: number;
}

/** A learning rate as a function of the 0-based optimizer step. */
export type LearningRateSchedule = (step: number) => number;

function requirePositive(where: string, name: string, value: number, integer = false): void {
  if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value)))) {
    throw new Error(`${where}: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
}

function requireNonNegative(where: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`${where}: ${name} must be a finite number >= 0, got ${value}`);
}

function checkStep(where: string, step: number): void {
  if (!(Number.isInteger(step) && step >= 0)) throw new Error(`${where}: step must be a non-negative integer, got ${step}`);
}

/**
 * The paper's schedule, per step, as timm's StepLRScheduler with t_in_epochs=False semantics evaluated at the
 * fractional epoch t = step / stepsPerEpoch:
 * - warm-up (t < warmupEpochs): warmupLr + t · (lr − warmupLr) / warmupEpochs;
 * - after: lr · decayRate^floor(t / decayEpochs) (staircase).
 * timm counts the decay from epoch 0, not from the end of the warm-up; so do we.
 */
export function stepDecaySchedule(options: StepDecayOptions): LearningRateSchedule {
  const where = 'stepDecaySchedule';
  const decayEpochs = options.decayEpochs ?? 2.4;
  const decayRate = options.decayRate ?? 0.97;
  const warmupEpochs = options.warmupEpochs ?? 0;
  const warmupLr = options.warmupLr ?? 1e-6;
  requireNonNegative(where, 'lr', options.lr);
  requirePositive(where, 'stepsPerEpoch', options.stepsPerEpoch, true);
  requirePositive(where, 'decayEpochs', decayEpochs);
  requirePositive(where, 'decayRate', decayRate);
  requireNonNegative(where, 'warmupEpochs', warmupEpochs);
  requireNonNegative(where, 'warmupLr', warmupLr);
  const { lr, stepsPerEpoch } = options;
  return (step: number): number => {
    checkStep(where, step);
    const t = step / stepsPerEpoch;
    if (t < warmupEpochs) return warmupLr + (t * (lr - warmupLr)) / warmupEpochs;
    return lr * decayRate ** Math.floor(t / decayEpochs);
  };
}

/**
 * Cosine decay with linear warm-up, per step, at the fractional epoch t = step / stepsPerEpoch:
 * - warm-up (t < warmupEpochs): warmupLr + t · (lr − warmupLr) / warmupEpochs;
 * - after: minLr + (lr − minLr) · (1 + cos(π · (t − warmupEpochs) / (epochs − warmupEpochs))) / 2, and minLr
 *   from the end of the run on.
 */
export function cosineSchedule(options: CosineOptions): LearningRateSchedule {
  const where = 'cosineSchedule';
  const warmupEpochs = options.warmupEpochs ?? 0;
  const warmupLr = options.warmupLr ?? 1e-6;
  const minLr = options.minLr ?? 0;
  requireNonNegative(where, 'lr', options.lr);
  requirePositive(where, 'stepsPerEpoch', options.stepsPerEpoch, true);
  requirePositive(where, 'epochs', options.epochs);
  requireNonNegative(where, 'warmupEpochs', warmupEpochs);
  requireNonNegative(where, 'warmupLr', warmupLr);
  requireNonNegative(where, 'minLr', minLr);
  if (warmupEpochs >= options.epochs) {
    throw new Error(`${where}: warmupEpochs (${warmupEpochs}) must be below epochs (${options.epochs}); shorten the warm-up`);
  }
  const { lr, stepsPerEpoch, epochs } = options;
  return (step: number): number => {
    checkStep(where, step);
    const t = step / stepsPerEpoch;
    if (t < warmupEpochs) return warmupLr + (t * (lr - warmupLr)) / warmupEpochs;
    if (t >= epochs) return minLr;
    const progress = (t - warmupEpochs) / (epochs - warmupEpochs);
    return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}

/**
 * `schedule` until step `from`, then a cosine from its value at `from` down to 0 over `steps` steps (0 after them):
 * the end of a run whose length was not known in advance ("train until converged", then anneal), so that it stops
 * at a decayed learning rate as a fixed-length cosine run does.
 */
export function annealedSchedule(schedule: LearningRateSchedule, from: number, steps: number): LearningRateSchedule {
  requireNonNegative('annealedSchedule', 'from', from);
  requirePositive('annealedSchedule', 'steps', steps, true);
  const start = schedule(from);
  return (step) => (step < from ? schedule(step) : step >= from + steps ? 0 : (start * (1 + Math.cos((Math.PI * (step - from)) / steps))) / 2);
}

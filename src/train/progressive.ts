/**
 * Progressive learning (EfficientNetV2, Tan & Le 2021, §4 and Algorithm 1): training is split into S stages of
 * equal length; stage i trains at image size S_i = S_0 + (S_e − S_0)·i/(S−1) and with regularization (dropout,
 * drop-path, RandAugment magnitude, mixup α) grown the same way from its start value to its final value, so early
 * epochs are cheap (small images) and lightly regularized, and the last stage trains at the final size with the
 * full regularization. Evaluation always uses the model card's eval transform (the final size, or --eval-size).
 *
 * Everything here is a pure function of (schedule, epoch, epochs): a resumed run, every data-parallel rank and the
 * loader's worker threads compute the same stage for the same epoch, so progressive runs resume bit for bit.
 */
import { UserError } from '../errors.js';

/** A start → final range of one quantity. */
export type Range = readonly [start: number, final: number];

/** The progressive schedule of a run (the final values are the run's own: its image size, dropout, ...). */
export interface ProgressiveSchedule {
  /** Stages S ≥ 1 (1 = no progression: the final values throughout). */
  stages: number;
  /** Training image size, start → final (final: the model's resolution). */
  size: Range;
  /** Classifier dropout, start → final; default: the final value throughout. */
  dropout?: Range;
  /** Largest stochastic-depth rate, start → final; default: the final value throughout. */
  dropPath?: Range;
  /** RandAugment magnitude, start → final (only with RandAugment); default: the final value throughout. */
  magnitude?: Range;
  /** Mixup α, start → final (0: no mixup); default: the final value throughout. */
  mixup?: Range;
}

/** What one stage trains with. */
export interface StageSettings {
  /** The stage, from 0. */
  stage: number;
  /** Training image size in pixels. */
  size: number;
  /** Classifier dropout, or null to keep the model's. */
  dropout: number | null;
  /** Largest stochastic-depth rate, or null to keep the model's. */
  dropPath: number | null;
  /** RandAugment magnitude, or null to keep the transform's. */
  magnitude: number | null;
  /** Mixup α (0: none). */
  mixup: number;
}

/** A schedule that cannot work (a user error: exit code 2). */
export class ProgressiveError extends UserError {
  override name = 'ProgressiveError';
}

/**
 * The stage of `epoch` (from 0) in a run of `epochs` epochs split into `stages` equal parts: floor(epoch·S/epochs),
 * at most S − 1 (epochs beyond the run, when a run is extended, stay in the last stage).
 */
export function stageOfEpoch(epoch: number, epochs: number, stages: number): number {
  return Math.min(stages - 1, Math.floor((epoch * stages) / epochs));
}

/** The value of a range at `stage` of `stages`: linear in the stage index, the start at stage 0, the final value at the last. */
export function stageValue(range: Range, stage: number, stages: number): number {
  return stages === 1 ? range[1] : range[0] + ((range[1] - range[0]) * stage) / (stages - 1);
}

/** The settings of `stage`: the size rounded to whole pixels, the rest as computed. */
export function stageSettings(schedule: ProgressiveSchedule, stage: number): StageSettings {
  const value = (range: Range | undefined): number | null => (range === undefined ? null : stageValue(range, stage, schedule.stages));
  return {
    stage,
    size: Math.round(stageValue(schedule.size, stage, schedule.stages)),
    dropout: value(schedule.dropout),
    dropPath: value(schedule.dropPath),
    magnitude: value(schedule.magnitude),
    mixup: value(schedule.mixup) ?? 0,
  };
}

/** Every stage's settings, in order. */
export function allStages(schedule: ProgressiveSchedule): StageSettings[] {
  return Array.from({ length: schedule.stages }, (_, stage) => stageSettings(schedule, stage));
}

/**
 * Checks a schedule against the run: whole stages, at most one per epoch, a start size between the network's total
 * stride and the final size, rates in [0, 1), magnitudes and α ≥ 0.
 * @throws ProgressiveError saying what is wrong and what would work
 */
export function checkProgressive(schedule: ProgressiveSchedule, epochs: number, totalStride: number): void {
  const { stages, size } = schedule;
  if (!Number.isInteger(stages) || stages < 1) throw new ProgressiveError(`progressive learning needs a whole number of stages >= 1, got ${stages}`);
  if (stages > epochs) throw new ProgressiveError(`${stages} progressive stages do not fit in ${epochs} epochs; use at most ${epochs} stages (one per epoch at least)`);
  const [start, final] = size;
  if (!Number.isInteger(start) || start < totalStride) {
    throw new ProgressiveError(`the progressive start size must be a whole number of pixels >= the network's total stride ${totalStride}, got ${start}`);
  }
  if (start > final) throw new ProgressiveError(`the progressive start size ${start} is larger than the final size ${final}; progressive learning grows the image size (give a start size <= ${final})`);
  for (const [name, range, max] of [['dropout', schedule.dropout, 1], ['drop-path', schedule.dropPath, 1], ['magnitude', schedule.magnitude, Infinity], ['mixup', schedule.mixup, Infinity]] as const) {
    if (range === undefined) continue;
    for (const v of range) {
      if (!(Number.isFinite(v) && v >= 0 && v < max)) throw new ProgressiveError(`progressive ${name} values must be in [0, ${max === 1 ? '1)' : 'inf)'}, got ${range.join(' -> ')}`);
    }
  }
}

/** The start values of a schedule as a user gives them (`--progressive stages=4,size=32,dropout=0.05`); the final values are the run's own. */
export interface ProgressiveStart {
  /** Stages S. */
  stages: number;
  /** Start image size; or, instead, {@link sizeFraction}. */
  size?: number;
  /** Start image size as a fraction of the final size (a preset's, which must fit any --image-size). */
  sizeFraction?: number;
  /** Start dropout; default the final value. */
  dropout?: number;
  /** Start largest drop-path rate; default the final value. */
  dropPath?: number;
  /** Start RandAugment magnitude; default the final value. */
  magnitude?: number;
  /** Start mixup α; default the final value. */
  mixup?: number;
}

const START_KEYS: Record<string, keyof ProgressiveStart> = { stages: 'stages', size: 'size', dropout: 'dropout', 'drop-path': 'dropPath', magnitude: 'magnitude', mixup: 'mixup' };

/** One of EfficientNetV2's progressive-learning settings, for its S, M and L networks. */
export interface ProgressivePreset {
  /** Stages. */
  stages: number;
  /** The start size over the final training size (128 px over the network's training size). */
  sizeFraction: number;
  /** Classifier dropout (fixed: the released code does not schedule it). */
  dropout: number;
  /** RandAugment's ops per image, and its magnitude at the first and the last stage. */
  randaugmentOps: number;
  magnitude: readonly [number, number];
  /** Mixup α at the first and the last stage. */
  mixup: readonly [number, number];
}

/**
 * `--progressive v2-s|v2-m|v2-l`: EfficientNetV2's progressive learning as its released code runs it (google/automl
 * efficientnetv2: `effnetv2_configs.py` gives each network its training size, dropout, RandAugment magnitude and
 * mixup α; `hparams.py` the start size `ibase` 128 and 4 stages; `main_tf2.py` grows the magnitude from 5 and mixup
 * from 0 linearly over the stages; read, not copied). Two deliberate differences: the first stage trains at the start
 * size (the paper's Algorithm 1; the released loop's first stage is already a quarter of the way up), and the start
 * size is the same fraction of whatever final size the run trains at (128/300 for S, 128/384 for M and L), so the
 * preset works on small images too. Cutmix, which the released code grows with mixup, is not in effnet.
 */
export const V2_PROGRESSIVE_PRESETS: Readonly<Record<'v2-s' | 'v2-m' | 'v2-l', ProgressivePreset>> = Object.freeze({
  'v2-s': { stages: 4, sizeFraction: 128 / 300, dropout: 0.2, randaugmentOps: 2, magnitude: [5, 10], mixup: [0, 0] },
  'v2-m': { stages: 4, sizeFraction: 128 / 384, dropout: 0.3, randaugmentOps: 2, magnitude: [5, 15], mixup: [0, 0.2] },
  'v2-l': { stages: 4, sizeFraction: 128 / 384, dropout: 0.4, randaugmentOps: 2, magnitude: [5, 20], mixup: [0, 0.5] },
});

/** The preset `text` names, or null when it is a `stages=...` schedule. */
export function progressivePreset(text: string): ProgressivePreset | null {
  return Object.hasOwn(V2_PROGRESSIVE_PRESETS, text.trim()) ? V2_PROGRESSIVE_PRESETS[text.trim() as keyof typeof V2_PROGRESSIVE_PRESETS] : null;
}

/**
 * Parses `stages=S,size=S0[,dropout=P0][,drop-path=P0][,magnitude=M0][,mixup=A0]`, or a preset's name (v2-s, v2-m,
 * v2-l: its stages, start size fraction, start magnitude and start mixup; its final values are flag defaults that
 * `effnet train` fills in).
 * @throws ProgressiveError naming the part that does not parse
 */
export function parseProgressive(text: string): ProgressiveStart {
  const preset = progressivePreset(text);
  if (preset !== null) {
    return { stages: preset.stages, sizeFraction: preset.sizeFraction, magnitude: preset.magnitude[0], ...(preset.mixup[1] > 0 ? { mixup: preset.mixup[0] } : {}) };
  }
  const values: Partial<Record<keyof ProgressiveStart, number>> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [key, raw] = part.split('=').map((p) => p.trim());
    const field = key === undefined ? undefined : START_KEYS[key];
    const value = Number(raw);
    if (field === undefined || raw === undefined || raw === '' || !Number.isFinite(value)) {
      throw new ProgressiveError(
        `--progressive takes stages=S,size=PIXELS[,dropout=P][,drop-path=P][,magnitude=M][,mixup=A] (the start values; the final ones are the run's) or a preset (${Object.keys(V2_PROGRESSIVE_PRESETS).join(', ')}), got '${part}' in '${text}'`,
      );
    }
    values[field] = value;
  }
  if (values.stages === undefined || values.size === undefined) throw new ProgressiveError(`--progressive needs stages=S and size=PIXELS (the start size), e.g. stages=4,size=32; got '${text}'`);
  return values as ProgressiveStart;
}

/** The run's final values that a {@link ProgressiveStart} grows towards. */
export interface ProgressiveFinals {
  size: number;
  dropout: number;
  dropPath: number;
  /** The RandAugment magnitude, or null without RandAugment. */
  magnitude: number | null;
  mixup: number;
}

/**
 * The full schedule: each start value paired with the run's final value.
 * @throws ProgressiveError for a magnitude without RandAugment
 */
export function completeSchedule(start: ProgressiveStart, finals: ProgressiveFinals): ProgressiveSchedule {
  if (start.magnitude !== undefined && finals.magnitude === null) throw new ProgressiveError('--progressive magnitude= grows RandAugment\'s magnitude: add --randaugment N,M (M is the final magnitude)');
  const size = start.size ?? Math.round((start.sizeFraction ?? 1) * finals.size);
  return {
    stages: start.stages,
    size: [size, finals.size],
    ...(start.dropout === undefined ? {} : { dropout: [start.dropout, finals.dropout] as const }),
    ...(start.dropPath === undefined ? {} : { dropPath: [start.dropPath, finals.dropPath] as const }),
    ...(start.magnitude === undefined ? {} : { magnitude: [start.magnitude, finals.magnitude!] as const }),
    ...(start.mixup === undefined ? {} : { mixup: [start.mixup, finals.mixup] as const }),
  };
}

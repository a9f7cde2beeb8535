/**
 * The two kinds of search and their trial lists: the grid search (every (α, β, γ) of the grid applied to the base
 * at φ = 1) and the scaling study (the base matched to each MAC factor by each strategy). Both are stored as a
 * search spec (everything a worker needs) plus one trial per configuration.
 */
import { UserError } from '../errors.js';
import { convergeWindowField, formatBudget, LEGACY_CONVERGENCE_MIN_WINDOW, parseBudget } from './budget.js';
import { networkSpec } from '../efficientnet/index.js';
import { stagesOf, type ScaledConfigJson } from '../card/config-file.js';
import { enumerateGrid } from './grid.js';
import { MatchError, SCALING_STRATEGIES, matchMacsFactor, profileConfig, scaleBase, type Coefficients, type ScalingStrategy } from './match.js';
import type { Json } from './store.js';
import { DEFAULT_CROP_SCALE, DEFAULT_TRIAL_BATCH_SIZE, DEFAULT_TRIAL_RECIPE, checkTrialRecipeBudget, type TrialSettings } from './trial.js';

/** Settings shared by both kinds. */
export interface CommonSearchOptions {
  /** The base configuration. */
  base: ScaledConfigJson;
  /** The data spec string (parseDataSpec). */
  data: string;
  /** Number of classes of the data (for the classifier's share of params and MACs). */
  numClasses: number;
  /** Budget string ('2ep', '10min', '20steps'). */
  budget: string;
  /** Training batch size; default {@link DEFAULT_TRIAL_BATCH_SIZE}. */
  batchSize?: number;
  /** Seed; default 0. */
  seed?: number;
  /**
   * Trainings per configuration, with seeds seed, seed + 1, ...; default 1. The reports rank configurations by the
   * mean of their repeats: short trials swing by several points with the seed.
   */
  repeats?: number;
  /** Loader worker threads per trial; default 0. */
  loaderWorkers?: number;
  /** Recipe fields overriding DEFAULT_TRIAL_RECIPE. */
  recipe?: { [key: string]: Json };
  /** Resolution rounding multiple; default 1. */
  resolutionMultiple?: number;
  /** Folder for the trials' run directories (checkpoints, metrics.jsonl). */
  runDir: string;
  /** Evaluate after every epoch instead of once at the end of each trial; default false. */
  evalEveryEpoch?: boolean;
}

/** A search ready to be stored. */
export interface SearchDefinition {
  /** 'grid' or 'study'. */
  kind: 'grid' | 'study';
  /** The spec stored with the search. */
  spec: { [key: string]: Json };
  /** The trials. */
  trials: { label: string; config: { [key: string]: Json } }[];
}

function commonSpec(options: CommonSearchOptions): { [key: string]: Json } {
  checkTrialRecipeBudget(options.recipe ?? {}, parseBudget(options.budget));
  return {
    base: options.base as unknown as { [key: string]: Json },
    data: options.data,
    numClasses: options.numClasses,
    budget: formatBudget(parseBudget(options.budget)),
    batchSize: options.batchSize ?? DEFAULT_TRIAL_BATCH_SIZE,
    seed: options.seed ?? 0,
    // Stored only when > 1, so searches stored before the option existed resume with the same spec.
    ...((options.repeats ?? 1) > 1 ? { repeats: options.repeats! } : {}),
    loaderWorkers: options.loaderWorkers ?? 0,
    recipe: { ...(DEFAULT_TRIAL_RECIPE as unknown as { [key: string]: Json }), ...(options.recipe ?? {}) },
    resolutionMultiple: options.resolutionMultiple ?? 1,
    cropScale: [...DEFAULT_CROP_SCALE],
    runDir: options.runDir,
    evalEveryEpoch: options.evalEveryEpoch ?? false,
    // A converge search stored before the field keeps the one-epoch minimum it ran with (trialSettingsFromSpec).
    ...convergeWindowField(options.budget),
  };
}

const fixed = (value: number): string => value.toFixed(2);

/** A trial of a definition before it is stored. */
type TrialDefinition = SearchDefinition['trials'][number];

/**
 * The trials of each configuration `repeats` times, seed-major (every configuration with the first seed, then every
 * one with the next), so an interrupted search has each configuration's first result before any repeat. Each repeat
 * records its configuration's label as `group` and its training seed as `seed`; one repeat leaves the trials as they
 * are.
 */
export function repeatTrials(trials: TrialDefinition[], seed: number, repeats: number): TrialDefinition[] {
  if (!Number.isInteger(repeats) || repeats < 1) throw new MatchError(`repeats must be an integer >= 1, got ${repeats}`);
  if (repeats === 1) return trials;
  const repeated: TrialDefinition[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const trial of trials) repeated.push({ label: `${trial.label} seed ${seed + r}`, config: { ...trial.config, group: trial.label, seed: seed + r } });
  }
  return repeated;
}

/**
 * The network a configuration builds, as a key: two configurations with the same key are the same model (same blocks,
 * channels, input size and dropout), so training both would only repeat the same run.
 */
export function networkKey(config: ScaledConfigJson): string {
  const spec = networkSpec(config, stagesOf(config));
  return JSON.stringify([config.resolution, config.dropout, spec.stemChannels, spec.headChannels, spec.stages.map((s) => [s.repeats, s.inChannels, s.outChannels, s.kernel, s.stride, s.expandRatio, s.seRatio, s.skip, s.fused])]);
}

/** The MACs a grid network may have under a MAC tolerance: target × the base's, ± the tolerance (relative). */
export interface GridMacWindow {
  /** The base's MACs (profiled with the search's classes). */
  baseMacs: number;
  /** The lowest MACs kept. */
  low: number;
  /** The highest MACs kept. */
  high: number;
}

/**
 * The window of {@link gridSearchDefinition}'s `macTolerance`. Why a second filter beside α·β²·γ² ≈ target: that
 * product is the paper's FLOPs model, exact only while depth, width and resolution scale smoothly. On small bases
 * (16-32 px images, a few channels and repeats) resolution rounds to whole pixels and feature maps change every
 * stride's worth of pixels, repeats round up and channels round to multiples of 8, so grid points that satisfy the
 * product can cost anywhere from 1.5x to 3x the base; ranking them by accuracy then mostly ranks them by cost.
 */
export function gridMacWindow(base: ScaledConfigJson, numClasses: number, target: number, macTolerance: number): GridMacWindow {
  if (!(Number.isFinite(macTolerance) && macTolerance > 0)) throw new MatchError(`macTolerance must be a number > 0 (e.g. 0.1: within 10% of ${target} x the base's MACs), got ${macTolerance}`);
  const baseMacs = profileConfig(base, { numClasses }).macs;
  return { baseMacs, low: target * baseMacs * (1 - macTolerance), high: target * baseMacs * (1 + macTolerance) };
}

/**
 * The grid search: one trial per distinct network among the grid points (the base scaled by depth α, width β,
 * resolution γ). Grid points whose rounded network is identical to an earlier point's (small bases: depth rounds
 * repeats up, width rounds channels to multiples of 8) are listed in that trial's `aliases` instead of being trained
 * again. With `macTolerance`, networks whose profiled MACs lie outside {@link gridMacWindow} are left out (their
 * count is stored as the spec's `grid.outsideMacWindow`).
 */
export function gridSearchDefinition(options: CommonSearchOptions & { step: number; tolerance: number; target?: number; macTolerance?: number }): SearchDefinition {
  const target = options.target ?? 2;
  const points = enumerateGrid({ step: options.step, tolerance: options.tolerance, target });
  const multiple = options.resolutionMultiple ?? 1;
  const macWindow = options.macTolerance === undefined ? undefined : gridMacWindow(options.base, options.numClasses, target, options.macTolerance);
  const byKey = new Map<string, { label: string; config: { [key: string]: Json } }>();
  let outsideMacWindow = 0;
  for (const point of points) {
    const config = scaleBase(options.base, point, multiple);
    const label = `a${fixed(point.alpha)}_b${fixed(point.beta)}_g${fixed(point.gamma)}`;
    const key = networkKey(config);
    const existing = byKey.get(key);
    if (existing !== undefined) {
      (existing.config.aliases as Json[]).push({ label, alpha: point.alpha, beta: point.beta, gamma: point.gamma });
      continue;
    }
    const cost = profileConfig(config, { numClasses: options.numClasses });
    if (macWindow !== undefined && (cost.macs < macWindow.low || cost.macs > macWindow.high)) {
      outsideMacWindow++;
      continue;
    }
    byKey.set(key, {
      label,
      config: {
        kind: 'grid', alpha: point.alpha, beta: point.beta, gamma: point.gamma, flopsGrowth: point.flopsGrowth, params: cost.params, macs: cost.macs,
        config: config as unknown as { [key: string]: Json }, aliases: [],
      },
    });
  }
  if (macWindow !== undefined && byKey.size === 0) {
    throw new MatchError(
      `no network of the grid has MACs within ${options.macTolerance} of ${target} x the base's ${macWindow.baseMacs} (${Math.round(macWindow.low)}-${Math.round(macWindow.high)}); ` +
        'raise --mac-tolerance, or use a smaller --grid-step or a larger --tolerance',
    );
  }
  // macTolerance is stored only when given, so grid searches stored before it existed resume with the same spec.
  const macFilter: { [key: string]: Json } = macWindow === undefined ? {} : { macTolerance: options.macTolerance!, outsideMacWindow };
  return {
    kind: 'grid',
    spec: { ...commonSpec(options), grid: { step: options.step, tolerance: options.tolerance, target, gridPoints: points.length, ...macFilter } },
    trials: repeatTrials([...byKey.values()], options.seed ?? 0, options.repeats ?? 1),
  };
}

/** A further compound-scaling series of a study: its name in tables and charts and its α, β, γ. */
export interface ExtraCompoundSeries {
  /** Strategy name shown in the report and chart, e.g. 'compound-paper'. */
  name: string;
  /** α, β, γ of this series. */
  coefficients: Coefficients;
}

/**
 * The scaling study: the base itself (factor 1) and, for each factor, the base matched to factor × its MACs by depth
 * only, width only, resolution only and compound scaling (within `macTolerance`, default 5%). Each of
 * `extraCompound` adds one more compound series with its own α, β, γ (e.g. the paper's beside the searched ones), so
 * both are compared against the same single-dimension trials. A series whose matched network is one an earlier
 * series already trains at that factor (searched coefficients that scale one dimension only, or rounding that
 * lands two series on the same network) is not trained again: it is listed in that trial's `aliases` (like the grid
 * search's), and the report shows it as the same network.
 */
export function scalingStudyDefinition(
  options: CommonSearchOptions & { factors: number[]; coefficients: Coefficients; macTolerance?: number; extraCompound?: ExtraCompoundSeries[] },
): SearchDefinition {
  const extra = options.extraCompound ?? [];
  const names = new Set<string>([...SCALING_STRATEGIES, 'base']);
  for (const series of extra) {
    if (names.has(series.name)) throw new MatchError(`extra compound series name '${series.name}' is already taken; choose another`);
    names.add(series.name);
  }
  const multiple = options.resolutionMultiple ?? 1;
  const baseCost = profileConfig(options.base, { numClasses: options.numClasses });
  const trials: SearchDefinition['trials'] = [
    { label: 'base x1', config: { kind: 'study', strategy: 'base', factor: 1, multiplier: 1, targetMacs: baseCost.macs, params: baseCost.params, macs: baseCost.macs, config: options.base as unknown as { [key: string]: Json } } },
  ];
  // One matched trial: `name` labels the series, `extra` (the stored α, β, γ of an extra series) is kept in its config.
  const byNetwork = new Map<string, TrialDefinition>();
  const matched = (name: string, strategy: ScalingStrategy, factor: number, coefficients: Coefficients, extra: { [key: string]: Json } = {}): void => {
    const match = matchMacsFactor(options.base, strategy, factor, {
      numClasses: options.numClasses,
      coefficients,
      maxRelativeError: options.macTolerance ?? 0.05,
      resolutionMultiple: multiple,
    });
    const key = `${factor} ${networkKey(match.config)}`;
    const same = byNetwork.get(key);
    if (same !== undefined) {
      // Stored only when there is one, so studies stored before aliases existed keep their trial configs.
      const aliases = (same.config.aliases ??= []) as Json[];
      aliases.push({ strategy: name, label: `${name} x${factor}`, ...extra, multiplier: match.multiplier, relativeError: match.relativeError });
      return;
    }
    trials.push({
      label: `${name} x${factor}`,
      config: {
        kind: 'study', strategy: name, ...extra, factor, multiplier: match.multiplier, targetMacs: match.target, params: match.params, macs: match.macs,
        relativeError: match.relativeError, config: match.config as unknown as { [key: string]: Json },
      },
    });
    byNetwork.set(key, trials[trials.length - 1]!);
  };
  for (const factor of options.factors) for (const strategy of SCALING_STRATEGIES) matched(strategy, strategy, factor, options.coefficients);
  for (const factor of options.factors) {
    for (const series of extra) matched(series.name, 'compound', factor, series.coefficients, { scaling: 'compound', coefficients: series.coefficients as unknown as { [key: string]: Json } });
  }
  return {
    kind: 'study',
    spec: { ...commonSpec(options), study: { factors: options.factors, coefficients: options.coefficients as unknown as { [key: string]: Json }, macTolerance: options.macTolerance ?? 0.05, ...(extra.length > 0 ? { extraCompound: extra as unknown as Json[] } : {}) } },
    trials: repeatTrials(trials, options.seed ?? 0, options.repeats ?? 1),
  };
}

/**
 * Thrown for a stored search spec a worker cannot train from (a field missing or of the wrong shape, as after a hand
 * edit of the store): the coordinator checks before it starts workers, so the run stops with this message instead of
 * failing every trial at its first epoch.
 */
export class SearchSpecError extends UserError {
  override name = 'SearchSpecError';
}

/**
 * The per-trial settings a worker derives from a stored spec; a repeated trial's own seed (`config.seed`, see
 * {@link repeatTrials}) replaces the search's, and a promoted trial's own budget (`config.budget`, successive
 * halving) the search's. Throws {@link SearchSpecError} (or the budget parser's error) for a malformed field.
 */
export function trialSettingsFromSpec(spec: { [key: string]: Json }, trialConfig: { [key: string]: Json } = {}): TrialSettings {
  const wholeNumber = (field: string, value: Json | undefined, min: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new SearchSpecError(
        `the search spec's ${field} must be a whole number >= ${min}, got ${JSON.stringify(value ?? null)}: if the store was edited by hand, restore the field in the searches table's spec, or start a new search under another --name`,
      );
    }
    return value;
  };
  return {
    budget: parseBudget(String(trialConfig.budget ?? spec.budget)),
    recipe: spec.recipe as unknown as TrialSettings['recipe'],
    batchSize: wholeNumber('batchSize', spec.batchSize, 1),
    seed: wholeNumber(trialConfig.seed === undefined ? 'seed' : "trial's seed", trialConfig.seed ?? spec.seed, 0),
    loaderWorkers: spec.loaderWorkers === undefined ? 0 : wholeNumber('loaderWorkers', spec.loaderWorkers, 0),
    cropScale: Array.isArray(spec.cropScale) ? [Number(spec.cropScale[0]), Number(spec.cropScale[1])] : [...DEFAULT_CROP_SCALE],
    // Searches stored before the field existed evaluated after every epoch.
    evalEveryEpoch: spec.evalEveryEpoch === undefined ? true : spec.evalEveryEpoch === true,
    // ... and measured the stop rule's gain over at least one epoch.
    convergeMinWindow: spec.convergeMinWindow === undefined ? LEGACY_CONVERGENCE_MIN_WINDOW : wholeNumber('convergeMinWindow', spec.convergeMinWindow, 1),
  };
}

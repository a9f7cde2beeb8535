/**
 * Scaling a base configuration along one dimension or compoundly, and matching a cost target with the exact
 * analytic profiler.
 *
 * Every strategy is a one-parameter family config(t) whose MACs and params never decrease with t:
 * depth only (d·e^t), width only (w·e^t), resolution only (round(r·e^t)), compound (d·α^t, w·β^t, round(r·γ^t),
 * t = φ). The profiled cost is a step function of t (repeats round up, channels round to multiples of 8, resolution
 * to whole pixels, feature-map sizes to whole cells), so t is found by bisection on the exact count: the bracket
 * keeps cost(below) ≤ target < cost(above) until the two ends are adjacent steps, and the closer end is taken.
 */
import { UserError } from '../errors.js';
import { MIN_RESOLUTION, networkSpec, profileNetwork, ScalingError, type PaddingMode } from '../efficientnet/index.js';
import { stagesOf, type ScaledConfigJson } from '../card/config-file.js';

/** The ways to spend a cost budget. */
export type ScalingStrategy = 'depth' | 'width' | 'resolution' | 'compound';

/** All strategies, in report order. */
export const SCALING_STRATEGIES: readonly ScalingStrategy[] = ['depth', 'width', 'resolution', 'compound'];

/** α, β, γ of compound scaling. */
export interface Coefficients {
  /** Depth base α. */
  alpha: number;
  /** Width base β. */
  beta: number;
  /** Resolution base γ. */
  gamma: number;
}

/** Thrown when no configuration of a strategy meets a target closely enough, or the inputs are invalid. */
export class MatchError extends UserError {
  override name = 'MatchError';
}

/** Options of profiling. */
export interface CostOptions {
  /** Classifier outputs counted; default 1000. */
  numClasses?: number;
  /** Padding convention; default 'symmetric'. */
  padding?: PaddingMode;
}

/** Parameters, MACs and activations of one configuration. */
export interface ConfigCost {
  /** Trainable parameters. */
  params: number;
  /** Multiply-adds per image. */
  macs: number;
  /** Elements of the convolution outputs per image (Dollár et al.'s activations; see efficientnet/profile.ts). */
  activations: number;
}

/** Profiles a configuration with the analytic profiler. */
export function profileConfig(config: ScaledConfigJson, options: CostOptions = {}): ConfigCost {
  const profile = profileNetwork(networkSpec(config, stagesOf(config)), {
    imageSize: config.resolution,
    numClasses: options.numClasses ?? 1000,
    padding: options.padding ?? 'symmetric',
  });
  return { params: profile.params, macs: profile.macs, activations: profile.activations };
}

/**
 * Rounds a real resolution to the nearest multiple of `multiple` (default 1 pixel), never below `floor` (default 32,
 * B0's total stride; a base below it passes its own size, so that its stages, not B0's, decide).
 */
export function roundSearchResolution(resolution: number, multiple = 1, floor = MIN_RESOLUTION): number {
  if (!(Number.isInteger(multiple) && multiple >= 1)) throw new MatchError(`resolution multiple must be an integer ≥ 1, got ${multiple}`);
  return Math.max(Math.min(floor, MIN_RESOLUTION), Math.round(resolution / multiple) * multiple);
}

/**
 * The base scaled by depth α, width β and resolution γ (the paper's φ = 1 point of a grid search):
 * depth·α, width·β, round(resolution·γ).
 */
export function scaleBase(base: ScaledConfigJson, coefficients: Coefficients, resolutionMultiple = 1): ScaledConfigJson {
  for (const name of ['alpha', 'beta', 'gamma'] as const) {
    const value = coefficients[name];
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new MatchError(`${name} must be a finite number > 0, got ${String(value)}`);
  }
  return {
    ...base,
    depth: base.depth * coefficients.alpha,
    width: base.width * coefficients.beta,
    resolution: roundSearchResolution(base.resolution * coefficients.gamma, resolutionMultiple, base.resolution),
  };
}

/** The configuration of `strategy` at parameter t (a log-multiplier, or φ for compound). */
export function strategyConfig(base: ScaledConfigJson, strategy: ScalingStrategy, t: number, coefficients: Coefficients, resolutionMultiple = 1): ScaledConfigJson {
  switch (strategy) {
    case 'depth':
      return { ...base, depth: base.depth * Math.exp(t) };
    case 'width':
      return { ...base, width: base.width * Math.exp(t) };
    case 'resolution':
      return { ...base, resolution: roundSearchResolution(base.resolution * Math.exp(t), resolutionMultiple, base.resolution) };
    case 'compound':
      return {
        ...base,
        depth: base.depth * coefficients.alpha ** t,
        width: base.width * coefficients.beta ** t,
        resolution: roundSearchResolution(base.resolution * coefficients.gamma ** t, resolutionMultiple, base.resolution),
      };
    default:
      throw new MatchError(`unknown scaling strategy '${String(strategy)}'; expected one of ${SCALING_STRATEGIES.join(', ')}`);
  }
}

/** Options of {@link matchTarget}. */
export interface MatchOptions extends CostOptions {
  /** The strategy. */
  strategy: ScalingStrategy;
  /** Which cost to match; default 'macs'. */
  metric?: 'macs' | 'params';
  /** The absolute target (> 0). */
  target: number;
  /** α, β, γ for 'compound' (ignored otherwise); default the paper's 1.2, 1.1, 1.15. */
  coefficients?: Coefficients;
  /** Largest accepted |cost − target| / target; default 0.05. Infinity accepts the closest step whatever it is. */
  maxRelativeError?: number;
  /** Resolution rounding multiple; default 1 pixel. */
  resolutionMultiple?: number;
  /** Bisection steps; default 80. */
  iterations?: number;
}

/** A matched configuration. */
export interface MatchResult extends ConfigCost {
  /** The strategy. */
  strategy: ScalingStrategy;
  /** The family parameter: φ for compound, else the multiplier e^t applied to the one dimension. */
  multiplier: number;
  /** The configuration. */
  config: ScaledConfigJson;
  /** (cost − target) / target for the matched metric. */
  relativeError: number;
  /** The target. */
  target: number;
  /** The metric matched. */
  metric: 'macs' | 'params';
}

/** The paper's coefficients. */
export const PAPER_COEFFICIENTS: Readonly<Coefficients> = Object.freeze({ alpha: 1.2, beta: 1.1, gamma: 1.15 });

/**
 * Finds the configuration of `strategy` whose cost is closest to `target`.
 * @throws MatchError when the closest step is further than maxRelativeError from the target, when the strategy
 * cannot reach the target (e.g. resolution only with a metric of params, which resolution does not change), or for
 * invalid coefficients.
 */
export function matchTarget(base: ScaledConfigJson, options: MatchOptions): MatchResult {
  const { strategy, target } = options;
  const metric = options.metric ?? 'macs';
  const coefficients = options.coefficients ?? PAPER_COEFFICIENTS;
  const multiple = options.resolutionMultiple ?? 1;
  const maxError = options.maxRelativeError ?? 0.05;
  if (!(typeof target === 'number' && Number.isFinite(target) && target > 0)) throw new MatchError(`target ${metric} must be a finite number > 0, got ${String(target)}`);
  if (!SCALING_STRATEGIES.includes(strategy)) throw new MatchError(`unknown scaling strategy '${String(strategy)}'; expected one of ${SCALING_STRATEGIES.join(', ')}`);
  if (strategy === 'compound') {
    for (const name of ['alpha', 'beta', 'gamma'] as const) {
      const value = coefficients[name];
      if (!(Number.isFinite(value) && value >= 1)) throw new MatchError(`compound scaling needs ${name} ≥ 1, got ${value}`);
    }
    if (coefficients.alpha * coefficients.beta * coefficients.gamma === 1) throw new MatchError('compound scaling needs at least one of α, β, γ above 1');
  }
  // The interval of t: multipliers from 1/64 to 64; for compound, φ up to where its largest base reaches 64 (at most
  // 24: the paper's 1.2^24 is 79), so that a steep coefficient (α = 2: 2^24 = 16.8 million times the repeats) is never
  // profiled, and down to where the resolution would fall below the floor.
  let low = -Math.log(64);
  let high = Math.log(64);
  const gammaForResolution = strategy === 'resolution' ? Math.E : strategy === 'compound' ? coefficients.gamma : 1;
  if (strategy === 'compound') {
    const steepest = Math.max(coefficients.alpha, coefficients.beta, coefficients.gamma);
    high = Math.min(24, Math.log(64) / Math.log(steepest));
    low = -high;
  }
  if (gammaForResolution > 1) low = Math.max(low, Math.log(Math.min(MIN_RESOLUTION, base.resolution) / base.resolution) / Math.log(gammaForResolution));
  const evaluate = (t: number): { config: ScaledConfigJson; cost: number } & ConfigCost => {
    const config = strategyConfig(base, strategy, t, coefficients, multiple);
    const cost = profileConfig(config, options);
    return { config, cost: cost[metric], ...cost };
  };
  const safeEvaluate = (t: number): ReturnType<typeof evaluate> | null => {
    try {
      return evaluate(t);
    } catch (error) {
      if (error instanceof ScalingError) return null;
      throw error;
    }
  };
  const atLow = safeEvaluate(low);
  const atHigh = safeEvaluate(high);
  if (atLow === null || atHigh === null) throw new MatchError(`${strategy} scaling of this base gives no valid configuration over its search range`);
  if (target < atLow.cost || target >= atHigh.cost) {
    throw new MatchError(
      `${strategy} scaling cannot reach ${target} ${metric}: it spans ${atLow.cost} to ${atHigh.cost} ${metric} over its range` +
        (atLow.cost === atHigh.cost ? ` (${strategy} scaling does not change ${metric})` : '') + '; choose another target or strategy',
    );
  }
  let below = { t: low, cost: atLow.cost };
  let above = { t: high, cost: atHigh.cost };
  const iterations = options.iterations ?? 80;
  for (let i = 0; i < iterations && above.t - below.t > 1e-12; i += 1) {
    const middle = (below.t + above.t) / 2;
    const cost = evaluate(middle).cost;
    if (cost <= target) below = { t: middle, cost };
    else above = { t: middle, cost };
  }
  const chosen = Math.abs(below.cost - target) <= Math.abs(above.cost - target) ? below : above;
  const result = evaluate(chosen.t);
  const relativeError = (result.cost - target) / target;
  if (!(Math.abs(relativeError) <= maxError)) {
    throw new MatchError(
      `${strategy} scaling cannot come within ${(maxError * 100).toFixed(1)}% of ${target} ${metric}: the nearest configurations have ` +
        `${below.cost} and ${above.cost} ${metric} (rounding steps); choose another target, another base or a larger tolerance`,
    );
  }
  return {
    strategy,
    multiplier: strategy === 'compound' ? chosen.t : Math.exp(chosen.t),
    config: result.config,
    macs: result.macs,
    params: result.params,
    activations: result.activations,
    relativeError,
    target,
    metric,
  };
}

/** The base's configuration matched to `factor` × its MACs by `strategy` (the scaling study's cell). */
export function matchMacsFactor(
  base: ScaledConfigJson,
  strategy: ScalingStrategy,
  factor: number,
  options: Omit<MatchOptions, 'strategy' | 'target' | 'metric'> = {},
): MatchResult {
  if (!(Number.isFinite(factor) && factor > 0)) throw new MatchError(`MAC factor must be a finite number > 0, got ${String(factor)}`);
  const baseMacs = profileConfig(base, options).macs;
  return matchTarget(base, { ...options, strategy, metric: 'macs', target: factor * baseMacs });
}

/**
 * Picks the compound coefficient φ that brings a network to a multiply-add budget, for given α, β, γ.
 *
 * MACs(φ) is a non-decreasing step function (channels round to multiples of 8, repeats round up, resolution
 * rounds to a multiple of 4), so φ is found by bisection on the exact profiled count: the search keeps a bracket
 * MACs(below) ≤ target < MACs(above) and returns whichever end lies closer to the target.
 */
import { efficientNetB0Stages, type StageArgs } from './block-spec.js';
import { profileNetwork, type PaddingMode } from './profile.js';
import { DEFAULT_COMPOUND_COEFFICIENTS, ScalingError, assertPositive, flopsGrowthPerPhi, scaleNetwork, type CompoundCoefficients } from './scaling.js';
import { MIN_RESOLUTION, compoundConfig, type EfficientNetConfig } from './variants.js';

/** Options of {@link solveForMacs}. */
export interface SolveOptions extends Partial<CompoundCoefficients> {
  /** The multiply-add budget per image (> 0). */
  targetMacs: number;
  /** Resolution at φ = 0; default 224. */
  baseResolution?: number;
  /** Resolution rounding multiple; default 4. */
  resolutionMultiple?: number;
  /** Classifier outputs counted; default 1000. */
  numClasses?: number;
  /** Padding convention; default 'symmetric'. */
  padding?: PaddingMode;
  /** Search interval for φ; default [-8, 12]. */
  phiRange?: [number, number];
  /** Bisection steps; default 60 (the bracket shrinks to 20 · 2^-60). */
  iterations?: number;
  /** Unscaled stages; default B0's. */
  stages?: readonly StageArgs[];
}

/** One evaluated point of the search. */
export interface SolvePoint {
  /** The compound coefficient. */
  phi: number;
  /** MACs of its configuration. */
  macs: number;
}

/** The solver's answer. */
export interface SolveResult {
  /** The chosen φ. */
  phi: number;
  /** The configuration at that φ (width, depth, resolution, dropout). */
  config: EfficientNetConfig;
  /** Its exact multiply-adds. */
  macs: number;
  /** Its parameters. */
  params: number;
  /** (macs − target) / target. */
  relativeError: number;
  /** The continuous estimate log(target / MACs(0)) / log(α·β²·γ²) the paper's ≈2^φ rule gives. */
  estimatedPhi: number;
  /** The last bracket: the largest φ found at or under the target and the smallest above it. */
  bracket: { below: SolvePoint; above: SolvePoint };
}

/**
 * Finds φ such that the compound-scaled network's MACs are as close as the rounding allows to `targetMacs`.
 * @throws ScalingError when the target is not reachable inside `phiRange` or the coefficients do not grow the network.
 */
export function solveForMacs(options: SolveOptions): SolveResult {
  assertPositive(options.targetMacs, 'target MACs');
  const coefficients: CompoundCoefficients = {
    alpha: options.alpha ?? DEFAULT_COMPOUND_COEFFICIENTS.alpha,
    beta: options.beta ?? DEFAULT_COMPOUND_COEFFICIENTS.beta,
    gamma: options.gamma ?? DEFAULT_COMPOUND_COEFFICIENTS.gamma,
  };
  let [low, high] = options.phiRange ?? [-8, 12];
  if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) throw new ScalingError(`phiRange must be two finite numbers [low, high] with low < high, got ${JSON.stringify(options.phiRange)}`);
  // Keep base · γ^φ ≥ the smaller of B0's total stride and the base size: a φ below it would need other stages.
  const baseResolution = options.baseResolution ?? 224;
  assertPositive(coefficients.gamma, 'γ (resolution base)');
  if (coefficients.gamma !== 1) {
    const limit = Math.log(Math.min(MIN_RESOLUTION, baseResolution) / baseResolution) / Math.log(coefficients.gamma);
    if (coefficients.gamma > 1) low = Math.max(low, limit);
    else high = Math.min(high, limit);
    if (!(low < high)) throw new ScalingError(`no φ in the given range keeps the resolution ≥ ${Math.min(MIN_RESOLUTION, baseResolution)} with γ=${coefficients.gamma}; change phiRange or γ`);
  }
  const stages = options.stages ?? efficientNetB0Stages();
  const iterations = options.iterations ?? 60;

  const evaluate = (phi: number): { config: EfficientNetConfig; macs: number; params: number } => {
    const config = compoundConfig({
      phi,
      ...coefficients,
      baseResolution,
      ...(options.resolutionMultiple === undefined ? {} : { resolutionMultiple: options.resolutionMultiple }),
    });
    const network = scaleNetwork(stages, { width: config.width, depth: config.depth });
    const profile = profileNetwork(network, {
      imageSize: config.resolution,
      numClasses: options.numClasses ?? 1000,
      padding: options.padding ?? 'symmetric',
    });
    return { config, macs: profile.macs, params: profile.params };
  };

  const target = options.targetMacs;
  const atLow = evaluate(low);
  const atHigh = evaluate(high);
  if (atHigh.macs <= atLow.macs) {
    throw new ScalingError(`α=${coefficients.alpha}, β=${coefficients.beta}, γ=${coefficients.gamma} do not grow the network with φ; use coefficients ≥ 1 with at least one > 1`);
  }
  if (target < atLow.macs || target >= atHigh.macs) {
    throw new ScalingError(
      `target ${target} MACs is outside what φ in [${low}, ${high}] reaches (${atLow.macs} to ${atHigh.macs}); widen phiRange or change the target`,
    );
  }

  let below: SolvePoint = { phi: low, macs: atLow.macs };
  let above: SolvePoint = { phi: high, macs: atHigh.macs };
  for (let step = 0; step < iterations && above.phi - below.phi > 1e-12; step += 1) {
    const middle = (below.phi + above.phi) / 2;
    const macs = evaluate(middle).macs;
    if (macs <= target) below = { phi: middle, macs };
    else above = { phi: middle, macs };
  }
  const chosen = Math.abs(below.macs - target) <= Math.abs(above.macs - target) ? below : above;
  const result = evaluate(chosen.phi);
  const macsAtZero = evaluate(0).macs;
  return {
    phi: chosen.phi,
    config: result.config,
    macs: result.macs,
    params: result.params,
    relativeError: (result.macs - target) / target,
    estimatedPhi: Math.log(target / macsAtZero) / Math.log(flopsGrowthPerPhi(coefficients)),
    bracket: { below, above },
  };
}

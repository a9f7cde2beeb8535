/**
 * The multi-objective rewards of the architecture search: accuracy traded against a cost c (MACs from the analytic
 * profiler, or a measured latency) around a target T.
 *
 * - soft (MnasNet, and EfficientNet's search): ACC · (c / T)^w with w = −0.07 on both sides of T; 5% accuracy is
 *   worth twice the cost. With the same exponent on both sides, T only rescales every reward.
 * - hard (MnasNet's hard constraint): ACC below or at T, ACC · (c / T)^−1 above it.
 * - abs (TuNAS's absolute reward): ACC + β · |c / T − 1| with β = −0.1; it penalises being cheaper than T as well.
 *
 * A proxy search (small images, few classes) cannot use 400M MACs, the paper's ImageNet target, directly;
 * {@link proxyTarget} scales it by the cost ratio of the base network at the proxy to the base at 224 px with 1000
 * classes, so that the base sits where B0 sits relative to the paper's target (390M / 400M).
 */
import { SearchSpaceError } from './strategy.js';

/** The rewards {@link computeReward} knows. */
export const REWARD_NAMES = ['soft', 'hard', 'abs'] as const;

/** A reward's name. */
export type RewardName = (typeof REWARD_NAMES)[number];

/** The paper's target: 400M multiply-adds (PAPER.md, T = 400M). */
export const PAPER_TARGET_MACS = 400e6;

/** MnasNet's exponent of the soft reward, w = −0.07. */
export const SOFT_EXPONENT = -0.07;

/** TuNAS's default β of the absolute reward, −0.1. */
export const ABS_BETA = -0.1;

/** How to score a candidate; each default is stated. */
export interface RewardSpec {
  /** Which reward. */
  kind: RewardName;
  /** The target cost T (> 0), in the cost's unit (MACs, or milliseconds for latency). */
  target: number;
  /** soft: the exponent w; default −0.07. */
  exponent?: number;
  /** abs: the weight β of |c / T − 1|; default −0.1. */
  beta?: number;
}

/**
 * Checks a reward spec and returns it with defaults filled.
 * @throws SearchSpaceError for an unknown reward, a target that is not > 0, or an exponent/β that is not finite
 */
export function resolveRewardSpec(spec: { kind: string; target: number; exponent?: number; beta?: number }): Required<RewardSpec> {
  if (!(REWARD_NAMES as readonly string[]).includes(spec.kind)) {
    throw new SearchSpaceError(`unknown reward '${spec.kind}'; choose one of ${REWARD_NAMES.join(', ')}`);
  }
  if (typeof spec.target !== 'number' || !(spec.target > 0) || !Number.isFinite(spec.target)) {
    throw new SearchSpaceError(`the target cost must be a number > 0 (e.g. 400e6 MACs), got ${String(spec.target)}`);
  }
  const exponent = spec.exponent ?? SOFT_EXPONENT;
  const beta = spec.beta ?? ABS_BETA;
  if (!Number.isFinite(exponent)) throw new SearchSpaceError(`the soft reward's exponent must be finite, got ${exponent}`);
  if (!Number.isFinite(beta)) throw new SearchSpaceError(`the abs reward's beta must be finite, got ${beta}`);
  return { kind: spec.kind as RewardName, target: spec.target, exponent, beta };
}

/**
 * The reward of a candidate with accuracy `accuracy` (a fraction in [0, 1]) and cost `cost` (> 0).
 * @throws SearchSpaceError for an accuracy outside [0, 1] or a cost that is not > 0
 */
export function computeReward(spec: RewardSpec, accuracy: number, cost: number): number {
  const { kind, target, exponent, beta } = resolveRewardSpec(spec);
  if (!(accuracy >= 0 && accuracy <= 1)) throw new SearchSpaceError(`accuracy must be a fraction in [0, 1], got ${accuracy}`);
  if (!(cost > 0) || !Number.isFinite(cost)) throw new SearchSpaceError(`cost must be a finite number > 0, got ${cost}`);
  const ratio = cost / target;
  switch (kind) {
    case 'soft':
      return accuracy * ratio ** exponent;
    case 'hard':
      return ratio <= 1 ? accuracy : accuracy / ratio;
    case 'abs':
      return accuracy + beta * Math.abs(ratio - 1);
  }
}

/**
 * The target of a proxy search: `paperTarget` × (the base's cost at the proxy / its cost at 224 px, 1000 classes).
 * @param baseProxyCost the base network's MACs at the proxy resolution, strides and classes
 * @param baseImageNetMacs the base network's MACs at 224 px with 1000 classes and its own strides
 */
export function proxyTarget(baseProxyCost: number, baseImageNetMacs: number, paperTarget = PAPER_TARGET_MACS): number {
  if (!(baseProxyCost > 0) || !(baseImageNetMacs > 0)) throw new SearchSpaceError('proxyTarget: costs must be > 0');
  return (paperTarget * baseProxyCost) / baseImageNetMacs;
}

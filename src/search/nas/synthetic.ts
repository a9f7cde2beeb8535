/**
 * A search objective with a known optimum, for judging search strategies without training anything: each choice of
 * each dimension gets a seeded weight, a candidate's true score is the sum of its choices' weights (so the optimum
 * is the best choice per dimension), and what a strategy is told is that score plus Gaussian noise, as a trained
 * accuracy is a noisy reading of a network's quality. The comparison below runs strategies through the same
 * ask/tell code the architecture search uses and reports the mean best score reached at each trial budget.
 */
import { Rng } from '../../data/rng.js';
import { createSearchStrategy, type Candidate, type SearchSpace, type StrategyName, type StrategyOptions } from './strategy.js';

/** The objective of one seed: the true score, and the noisy reading a strategy is told. */
export interface AdditiveObjective {
  /** The true score: the sum of the candidate's choice weights. */
  score(candidate: Candidate): number;
  /** The true score plus N(0, noiseSd²) noise; each call draws new noise. */
  noisy(candidate: Candidate): number;
  /** The largest true score in the space (the best choice of every dimension). */
  optimum: number;
}

/**
 * The additive objective of `seed` on `space`: weights U(0, 1) per choice, noise of standard deviation `noiseSd`
 * (default 0.3, against a spread of true scores of a few units on a 42-dimension space).
 */
export function additiveObjective(seed: number, space: SearchSpace, noiseSd = 0.3): AdditiveObjective {
  const rng = new Rng(seed + 1_000_003);
  const weights = Object.fromEntries(Object.entries(space).map(([d, choices]) => [d, choices.map(() => rng.next())]));
  const score = (c: Candidate): number => Object.entries(space).reduce((sum, [d, choices]) => sum + weights[d]![choices.indexOf(c[d]!)]!, 0);
  const noise = new Rng(seed + 7);
  // Box-Muller.
  const noisy = (c: Candidate): number => score(c) + noiseSd * Math.sqrt(-2 * Math.log(1 - noise.next())) * Math.cos(2 * Math.PI * noise.next());
  const optimum = Object.values(weights).reduce((sum, w) => sum + Math.max(...w), 0);
  return { score, noisy, optimum };
}

/** A flat space shaped like the default architecture space: 7 stages × (op 4, kernel 2, SE 2, skip 2, filters 3, layers 3). */
export function mnasLikeSpace(): SearchSpace {
  const space: Record<string, readonly number[]> = {};
  for (let stage = 0; stage < 7; stage++) {
    Object.assign(space, { [`s${stage}.op`]: [0, 1, 2, 3], [`s${stage}.kernel`]: [3, 5], [`s${stage}.se`]: [0, 1], [`s${stage}.skip`]: [0, 1], [`s${stage}.filters`]: [0, 1, 2], [`s${stage}.layers`]: [0, 1, 2] });
  }
  return space;
}

/** One strategy's result in {@link compareStrategies}. */
export interface StrategyComparison {
  /** The strategy (with its label when options were given). */
  label: string;
  /** Per budget: the true score of the candidate with the best observed reward, one value per seed. */
  bestScores: number[][];
  /** Wall-clock milliseconds of all its asks and tells. */
  ms: number;
}

/** A strategy to compare: its name and options over the defaults. */
export interface ComparedStrategy {
  name: StrategyName;
  label?: string;
  options?: Omit<StrategyOptions, 'space' | 'seed'>;
}

/**
 * Runs each strategy on `seeds` seeded objectives for the largest of `budgets` trials, keeping what a user keeps,
 * the candidate with the best observed (noisy) reward, judged by its true score at each budget.
 */
export function compareStrategies(space: SearchSpace, strategies: readonly ComparedStrategy[], budgets: readonly number[], seeds: number, noiseSd = 0.3): StrategyComparison[] {
  const last = Math.max(...budgets);
  return strategies.map(({ name, label, options }) => {
    const bestScores = budgets.map((): number[] => []);
    const started = performance.now();
    for (let seed = 0; seed < seeds; seed++) {
      const { score, noisy } = additiveObjective(seed, space, noiseSd);
      const strategy = createSearchStrategy(name, { ...options, space, seed });
      let bestObserved = -Infinity;
      let bestScore = -Infinity;
      for (let trial = 1; trial <= last; trial++) {
        const candidate = strategy.ask();
        const reward = noisy(candidate);
        strategy.tell(candidate, reward);
        if (reward > bestObserved) {
          bestObserved = reward;
          bestScore = score(candidate);
        }
        const at = budgets.indexOf(trial);
        if (at >= 0) bestScores[at]!.push(bestScore);
      }
    }
    return { label: label ?? name, bestScores, ms: performance.now() - started };
  });
}

/** Mean of `values`. */
export function meanOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation of `values`. */
export function sdOf(values: readonly number[]): number {
  const m = meanOf(values);
  return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
}

/** (mean(ours) − mean(base)) in standard errors of the difference of two independent means. */
export function standardErrorsAbove(ours: readonly number[], base: readonly number[]): number {
  const se = Math.sqrt(sdOf(ours) ** 2 / ours.length + sdOf(base) ** 2 / base.length);
  return (meanOf(ours) - meanOf(base)) / se;
}

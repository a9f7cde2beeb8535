/**
 * Search objectives with a known optimum, for judging search strategies without training anything. The additive
 * one: each choice of each dimension gets a seeded weight, a candidate's true score is the sum of its choices'
 * weights (so the optimum is the best choice per dimension). Real spaces are not additive (a kernel's worth depends
 * on the op, a stage's width on the previous stage's), so three interacting kinds sit beside it on a space small
 * enough for exhaustive search to find their optimum: `pairwise` (terms between every pair of dimensions of
 * neighbouring stages), `conditional` (a choice's weight indexed by another choice: kernel and SE by the op, filters
 * by the previous stage's filters) and `higher-order` (a few strong three-way motifs over an additive base). What a
 * strategy is told is the score plus Gaussian noise, as a trained accuracy is a noisy reading of a network's
 * quality. The comparison below runs strategies through the same ask/tell code the architecture search uses and
 * reports the mean best score reached at each trial budget.
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

/** Any synthetic objective: the true score, the noisy reading and the optimum. */
export type SyntheticObjective = AdditiveObjective;

/** The kinds of synthetic objective: additive, and three with interactions between choices. */
export const OBJECTIVE_KINDS = ['additive', 'pairwise', 'conditional', 'higher-order', 'cell'] as const;

/** One of {@link OBJECTIVE_KINDS}. */
export type ObjectiveKind = (typeof OBJECTIVE_KINDS)[number];

/** Candidates an interacting objective's space may hold: its optimum is found by evaluating every one. */
export const EXHAUSTIVE_LIMIT = 2_000_000;

/** Every candidate of `space`, in odometer order (the last dimension fastest). */
export function* enumerateCandidates(space: SearchSpace): Generator<Candidate> {
  const dims = Object.keys(space);
  const index = dims.map(() => 0);
  for (;;) {
    yield Object.fromEntries(dims.map((d, i) => [d, space[d]![index[i]!]!]));
    let i = dims.length - 1;
    while (i >= 0 && ++index[i]! === space[dims[i]!]!.length) index[i--] = 0;
    if (i < 0) return;
  }
}

/** The number of candidates of `space`. */
export function candidateCount(space: SearchSpace): number {
  return Object.values(space).reduce((n, choices) => n * choices.length, 1);
}

/** The largest `scoreIndex` over every combination of choice indices (an odometer, the last dimension fastest). */
function bestOverAll(sizes: readonly number[], scoreIndex: (ix: ArrayLike<number>) => number): number {
  const ix = new Int32Array(sizes.length);
  let best = -Infinity;
  for (;;) {
    best = Math.max(best, scoreIndex(ix));
    let k = sizes.length - 1;
    while (k >= 0 && ++ix[k]! === sizes[k]) ix[k--] = 0;
    if (k < 0) return best;
  }
}

function noisyReader(score: (c: Candidate) => number, seed: number, noiseSd: number): (c: Candidate) => number {
  const noise = new Rng(seed + 7);
  // Box-Muller.
  return (c) => score(c) + noiseSd * Math.sqrt(-2 * Math.log(1 - noise.next())) * Math.cos(2 * Math.PI * noise.next());
}

/** The stage prefix and dimension name of a flat dimension (`s2.op` → ['s2', 'op']). */
function splitDimension(dimension: string): [string, string] {
  const dot = dimension.indexOf('.');
  return dot < 0 ? ['', dimension] : [dimension.slice(0, dot), dimension.slice(dot + 1)];
}

/**
 * The objective of `kind` for `seed` on `space` (see the module comment). Additive: weights U(0, 1) per choice.
 * Pairwise: the additive weights plus, for every pair of dimensions of neighbouring stages, a table U(−1, 1) over
 * their choices. Conditional: the kernel's and SE's weights U(0, 2) indexed by the stage's op, the filters' by the
 * previous stage's filters, the op's U(0, 1). Higher-order: the additive weights plus six motifs, each three
 * (dimension, choice) pairs drawn at random, worth +3 when a candidate holds all three. The interacting kinds'
 * optimum is found by evaluating every candidate.
 * @throws Error for an interacting kind on a space of more than {@link EXHAUSTIVE_LIMIT} candidates
 */
export function syntheticObjective(kind: ObjectiveKind, seed: number, space: SearchSpace, noiseSd = 0.3): SyntheticObjective {
  if (kind === 'additive') return additiveObjective(seed, space, noiseSd);
  if (kind === 'cell') return cellObjective(seed, space, noiseSd);
  if (candidateCount(space) > EXHAUSTIVE_LIMIT) {
    throw new Error(`syntheticObjective: the ${kind} objective needs a space of at most ${EXHAUSTIVE_LIMIT} candidates (exhaustive optimum), got ${candidateCount(space)}`);
  }
  const rng = new Rng(seed * 4 + OBJECTIVE_KINDS.indexOf(kind) + 2_000_003);
  const dims = Object.keys(space);
  const sizes = dims.map((d) => space[d]!.length);
  const additive = sizes.map((n) => Array.from({ length: n }, () => rng.next()));
  const additiveScore = (ix: ArrayLike<number>): number => {
    let sum = 0;
    for (let k = 0; k < dims.length; k++) sum += additive[k]![ix[k]!]!;
    return sum;
  };
  const stageOf = dims.map((d) => splitDimension(d)[0]);
  const nameOf = dims.map((d) => splitDimension(d)[1]);
  const stages = [...new Set(stageOf)];
  // The score over choice indices (one per dimension, in `dims` order).
  let scoreIndex: (ix: ArrayLike<number>) => number;
  if (kind === 'pairwise') {
    const pairs: { a: number; b: number; table: number[][] }[] = [];
    for (let s = 0; s + 1 < stages.length; s++) {
      for (let a = 0; a < dims.length; a++) {
        if (stageOf[a] !== stages[s]) continue;
        for (let b = 0; b < dims.length; b++) {
          if (stageOf[b] === stages[s + 1]) pairs.push({ a, b, table: Array.from({ length: sizes[a]! }, () => Array.from({ length: sizes[b]! }, () => rng.uniform(-1, 1))) });
        }
      }
    }
    scoreIndex = (ix) => {
      let sum = additiveScore(ix);
      for (const p of pairs) sum += p.table[ix[p.a]!]![ix[p.b]!]!;
      return sum;
    };
  } else if (kind === 'conditional') {
    const find = (stage: string | undefined, wanted: string): number => (stage === undefined ? -1 : dims.findIndex((_, k) => stageOf[k] === stage && nameOf[k] === wanted));
    const tables = dims.map((_, k) => {
      const s = stages.indexOf(stageOf[k]!);
      const parent = nameOf[k] === 'kernel' || nameOf[k] === 'se' ? find(stages[s], 'op') : nameOf[k] === 'filters' ? find(stages[s - 1], 'filters') : -1;
      const rows = parent < 0 ? 1 : sizes[parent]!;
      return { parent, table: Array.from({ length: rows }, () => Array.from({ length: sizes[k]! }, () => (parent < 0 ? rng.next() : rng.uniform(0, 2)))) };
    });
    scoreIndex = (ix) => {
      let sum = 0;
      for (let k = 0; k < dims.length; k++) {
        const t = tables[k]!;
        sum += t.table[t.parent < 0 ? 0 : ix[t.parent]!]![ix[k]!]!;
      }
      return sum;
    };
  } else {
    const motifs = Array.from({ length: 6 }, () => {
      const chosen = new Set<number>();
      while (chosen.size < 3) chosen.add(rng.int(dims.length));
      return [...chosen].map((k) => ({ k, choice: rng.int(sizes[k]!) }));
    });
    scoreIndex = (ix) => {
      let sum = additiveScore(ix);
      for (const m of motifs) if (m.every(({ k, choice }) => ix[k] === choice)) sum += 3;
      return sum;
    };
  }
  const score = (c: Candidate): number => scoreIndex(dims.map((d) => space[d]!.indexOf(c[d]!)));
  return { score, noisy: noisyReader(score, seed, noiseSd), optimum: bestOverAll(sizes, scoreIndex) };
}

/** The edges of a four-node cell (node 0 the input, node 3 the output), as NAS-Bench-201's. */
export const CELL_EDGES = ['e01', 'e02', 'e12', 'e03', 'e13', 'e23'] as const;

/** The cell's ops by index: 0 none (cuts the edge), 1 skip, 2 conv 1x1, 3 conv 3x3, 4 average pool. */
export const CELL_OPS = ['none', 'skip', 'conv1x1', 'conv3x3', 'avgpool'] as const;

/** A NAS-Bench-201-shaped space: each of the six edges picks one of five ops (15,625 candidates). */
export function cellSpace(): SearchSpace {
  return Object.fromEntries(CELL_EDGES.map((e) => [e, [0, 1, 2, 3, 4]]));
}

/**
 * A cell objective shaped like a tabular benchmark's accuracies: each op of each edge has a seeded strength (none 0,
 * skip 0.2-0.5, pool 0.1-0.35, conv 1x1 0.45-0.8, conv 3x3 0.7-1); the cell's capacity is the sum over the four
 * input-to-output paths (0→3, 0→1→3, 0→2→3, 0→1→2→3) of the product of their edges' strengths, so one `none` cuts
 * every path through its edge and the choices interact multiplicatively; the accuracy-like score is
 * 100·(1 − exp(−1.5·capacity)) plus a seeded pairwise term of ±1 between edges, which saturates near the top as
 * real accuracies do (most good cells score alike, a few are far worse). Noise N(0, noiseSd²) in those points.
 */
function cellObjective(seed: number, space: SearchSpace, noiseSd: number): SyntheticObjective {
  const dims = Object.keys(space);
  if (dims.length !== CELL_EDGES.length || CELL_EDGES.some((e) => space[e]?.length !== CELL_OPS.length)) {
    throw new Error(`the cell objective runs on cellSpace() (edges ${CELL_EDGES.join(', ')} with ${CELL_OPS.length} ops each)`);
  }
  const rng = new Rng(seed * 4 + 3_000_017);
  const ranges: [number, number][] = [[0, 0], [0.2, 0.5], [0.45, 0.8], [0.7, 1], [0.1, 0.35]];
  const strength = CELL_EDGES.map(() => ranges.map(([lo, hi]) => rng.uniform(lo, hi)));
  const pair = CELL_EDGES.map(() => CELL_EDGES.map(() => CELL_OPS.map(() => CELL_OPS.map(() => rng.uniform(-0.5, 0.5)))));
  const edge = (name: (typeof CELL_EDGES)[number]): number => CELL_EDGES.indexOf(name);
  const paths = [[edge('e03')], [edge('e01'), edge('e13')], [edge('e02'), edge('e23')], [edge('e01'), edge('e12'), edge('e23')]];
  const scoreIndex = (ix: ArrayLike<number>): number => {
    let capacity = 0;
    for (const path of paths) capacity += path.reduce((product, e) => product * strength[e]![ix[e]!]!, 1);
    let interaction = 0;
    for (let a = 0; a < CELL_EDGES.length; a++) for (let b = a + 1; b < CELL_EDGES.length; b++) interaction += pair[a]![b]![ix[a]!]![ix[b]!]!;
    return 100 * (1 - Math.exp(-1.5 * capacity)) + interaction / 7.5;
  };
  const order = CELL_EDGES as readonly string[];
  const score = (c: Candidate): number => scoreIndex(order.map((e) => space[e]!.indexOf(c[e]!)));
  return { score, noisy: noisyReader(score, seed, noiseSd), optimum: bestOverAll(order.map(() => CELL_OPS.length), scoreIndex) };
}

/**
 * A space small enough for exhaustive search and shaped like four stages of the default one: per stage op 3,
 * kernel 2, SE 2, filters 3 (36 choices per stage, 1,679,616 candidates).
 */
export function smallInteractingSpace(): SearchSpace {
  const space: Record<string, readonly number[]> = {};
  for (let stage = 0; stage < 4; stage++) {
    Object.assign(space, { [`s${stage}.op`]: [0, 1, 2], [`s${stage}.kernel`]: [3, 5], [`s${stage}.se`]: [0, 1], [`s${stage}.filters`]: [0, 1, 2] });
  }
  return space;
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
export function compareStrategies(
  space: SearchSpace,
  strategies: readonly ComparedStrategy[],
  budgets: readonly number[],
  seeds: number,
  noiseSd = 0.3,
  kind: ObjectiveKind = 'additive',
): StrategyComparison[] {
  const objectives = new Map<number, SyntheticObjective>();
  const objectiveOf = (seed: number): SyntheticObjective => {
    let objective = objectives.get(seed);
    if (objective === undefined) objectives.set(seed, (objective = syntheticObjective(kind, seed, space, noiseSd)));
    return objective;
  };
  const last = Math.max(...budgets);
  return strategies.map(({ name, label, options }) => {
    const bestScores = budgets.map((): number[] => []);
    const started = performance.now();
    for (let seed = 0; seed < seeds; seed++) {
      const { score } = objectiveOf(seed);
      // A fresh noise stream per strategy, so that every strategy reads the same noise sequence.
      const noisy = kind === 'additive' ? additiveObjective(seed, space, noiseSd).noisy : noisyReader(score, seed, noiseSd);
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

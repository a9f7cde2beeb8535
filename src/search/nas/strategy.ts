/**
 * Search strategies over any categorical space behind one ask/tell interface: `ask()` proposes a candidate (one
 * choice per dimension), `tell(candidate, reward)` reports how good it was. The architecture search drives them with
 * model cards and trained rewards; a user can drive them with any function. Three strategies:
 *
 * - random: every dimension uniformly, independently (the baseline every other strategy must beat);
 * - evolution: regularized evolution (Real et al., 2019, "aging evolution"): a population of the last P evaluated
 *   candidates; each proposal is the best of S members sampled without replacement, mutated in exactly one
 *   dimension; a new member pushes out the oldest, not the worst;
 * - reinforce: REINFORCE with independent per-dimension logits and an exponential-moving-average baseline, as TuNAS
 *   (Bender et al., 2020): θ_d += lr · (reward − baseline) · (onehot(choice_d) − softmax(θ_d)).
 *
 * Every strategy's whole state (options, generator state, population or logits and baseline, counters) is plain
 * JSON (`state()`), and `restoreSearchStrategy` continues it exactly: a search killed and resumed proposes the same
 * sequence as one that never stopped.
 *
 * @example
 * import { createSearchStrategy } from 'effnet';
 * const strategy = createSearchStrategy('evolution', { space: { x: [0, 1, 2, 3], y: ['a', 'b'] }, seed: 1 });
 * for (let i = 0; i < 50; i++) {
 *   const candidate = strategy.ask();
 *   strategy.tell(candidate, -((candidate.x as number) - 2) ** 2 + (candidate.y === 'b' ? 1 : 0));
 * }
 */
import { UserError } from '../../errors.js';
import { Rng } from '../../data/rng.js';
import { adamStep, controllerLoss, initControllerParams, logProbOf, sampleController, type AdamState, type ControllerParams, type ControllerShape } from './controller.js';

/** One choice of a dimension: a number, a string or a boolean (JSON scalars, so candidates store as JSON). */
export type Choice = number | string | boolean;

/** A categorical search space: for each dimension, its choices (at least one, no duplicates). */
export type SearchSpace = Readonly<Record<string, readonly Choice[]>>;

/** A candidate: one choice per dimension of the space. */
export type Candidate = Record<string, Choice>;

/** The strategies {@link createSearchStrategy} builds. */
export const STRATEGY_NAMES = ['random', 'evolution', 'reinforce', 'ppo'] as const;

/** A strategy's name. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Options of {@link createSearchStrategy}; each default is stated. */
export interface StrategyOptions {
  /** The space to search. */
  space: SearchSpace;
  /** Seed of every random draw of the strategy. */
  seed: number;
  /** evolution: population size P (the last P evaluated candidates); default 20. */
  population?: number;
  /** evolution: tournament size S (members sampled per proposal); default 5. */
  sampleSize?: number;
  /** reinforce: learning rate of the logits; default 0.1. */
  learningRate?: number;
  /** reinforce and ppo: momentum of the reward baseline (an EMA); default 0.9. */
  baselineMomentum?: number;
  /** ppo: LSTM hidden units; default 100 (MnasNet). */
  hidden?: number;
  /** ppo: rewards per controller update; default 20 (MnasNet's child models per update). */
  ppoBatch?: number;
  /** ppo: optimisation epochs over each batch; default 4. */
  ppoEpochs?: number;
  /** ppo: clip ε; default 0.2. */
  clip?: number;
  /** ppo: entropy weight; default 1e-5 (MnasNet). */
  entropyWeight?: number;
  /** ppo: Adam's learning rate of the controller; default 0.00035 (MnasNet). */
  controllerLearningRate?: number;
}

/** Raised for a space, strategy name, option or candidate that cannot work (a user error: exit code 2). */
export class SearchSpaceError extends UserError {
  override name = 'SearchSpaceError';
}

/** A search strategy (see the module comment). */
export interface SearchStrategy {
  /** The strategy's name. */
  readonly name: StrategyName;
  /** The space it searches. */
  readonly space: SearchSpace;
  /** Proposes the next candidate to evaluate. Several may be asked before any is told (parallel workers). */
  ask(): Candidate;
  /**
   * Reports the reward of a candidate (higher is better; finite). Candidates may be told in any order.
   * @throws SearchSpaceError for a candidate outside the space or a reward that is not finite
   */
  tell(candidate: Candidate, reward: number): void;
  /** The whole state as JSON, for {@link restoreSearchStrategy}. */
  state(): StrategyState;
}

/** A strategy's stored state (JSON). */
export interface StrategyState {
  /** The format of this record. */
  format: 1;
  /** The strategy. */
  name: StrategyName;
  /** The options it was created with, defaults filled in. */
  options: Required<StrategyOptions>;
  /** Its generator's state. */
  rng: [number, number, number, number];
  /** Candidates asked and rewards told so far. */
  asked: number;
  told: number;
  /** evolution: the population, oldest first. */
  population?: { candidate: Candidate; reward: number }[];
  /** reinforce: the logits per dimension and the baseline (null before the first reward). */
  logits?: Record<string, number[]>;
  baseline?: number | null;
  /** reinforce: the running variance of rewards about the baseline (null before the second reward; absent in older states). */
  rewardVariance?: number | null;
  /** ppo: the controller's parameters, Adam's state, and the rewards not yet used for an update. */
  controller?: { params: ControllerParams; adam: AdamState | null; pending: { actions: number[]; oldLogProb: number; reward: number }[]; asked: { key: string; logProb: number }[] };
}

function checkSpace(space: SearchSpace): void {
  if (space === null || typeof space !== 'object' || Array.isArray(space)) throw new SearchSpaceError(`the search space must be an object { dimension: [choices] }, got ${JSON.stringify(space)}`);
  const dimensions = Object.keys(space);
  if (dimensions.length === 0) throw new SearchSpaceError('the search space is empty: give at least one dimension with its choices');
  for (const dimension of dimensions) {
    const choices = space[dimension];
    if (!Array.isArray(choices) || choices.length === 0) throw new SearchSpaceError(`dimension '${dimension}' has no choices; give it at least one`);
    for (const choice of choices) {
      if (!['number', 'string', 'boolean'].includes(typeof choice) || (typeof choice === 'number' && !Number.isFinite(choice))) {
        throw new SearchSpaceError(`dimension '${dimension}': choice ${JSON.stringify(choice)} is not a finite number, a string or a boolean`);
      }
    }
    if (new Set(choices).size !== choices.length) throw new SearchSpaceError(`dimension '${dimension}' lists a choice twice: ${JSON.stringify(choices)}`);
  }
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new SearchSpaceError(`${what} must be a positive integer, got ${value}`);
  return value;
}

function withDefaults(options: StrategyOptions): Required<StrategyOptions> {
  checkSpace(options.space);
  if (!Number.isInteger(options.seed)) throw new SearchSpaceError(`the seed must be an integer, got ${options.seed}`);
  const resolved: Required<StrategyOptions> = {
    space: Object.fromEntries(Object.entries(options.space).map(([d, c]) => [d, [...c]])),
    seed: options.seed,
    population: positiveInteger(options.population ?? 20, 'population'),
    sampleSize: positiveInteger(options.sampleSize ?? 5, 'sampleSize'),
    learningRate: options.learningRate ?? 0.1,
    baselineMomentum: options.baselineMomentum ?? 0.9,
    hidden: positiveInteger(options.hidden ?? 100, 'hidden'),
    ppoBatch: positiveInteger(options.ppoBatch ?? 20, 'ppoBatch'),
    ppoEpochs: positiveInteger(options.ppoEpochs ?? 4, 'ppoEpochs'),
    clip: options.clip ?? 0.2,
    entropyWeight: options.entropyWeight ?? 1e-5,
    controllerLearningRate: options.controllerLearningRate ?? 0.00035,
  };
  if (!(resolved.clip > 0 && resolved.clip < 1)) throw new SearchSpaceError(`clip must be in (0, 1), got ${resolved.clip}`);
  if (!(resolved.controllerLearningRate > 0)) throw new SearchSpaceError(`controllerLearningRate must be > 0, got ${resolved.controllerLearningRate}`);
  if (resolved.sampleSize > resolved.population) throw new SearchSpaceError(`sampleSize ${resolved.sampleSize} exceeds population ${resolved.population}`);
  if (!(resolved.learningRate > 0 && Number.isFinite(resolved.learningRate))) throw new SearchSpaceError(`learningRate must be > 0, got ${resolved.learningRate}`);
  if (!(resolved.baselineMomentum >= 0 && resolved.baselineMomentum < 1)) throw new SearchSpaceError(`baselineMomentum must be in [0, 1), got ${resolved.baselineMomentum}`);
  return resolved;
}

/** The index of each choice of `candidate` in the space, checking that it is a candidate of the space. */
function indicesOf(space: SearchSpace, candidate: Candidate): Record<string, number> {
  const out: Record<string, number> = {};
  for (const dimension of Object.keys(space)) {
    const index = space[dimension]!.indexOf(candidate[dimension] as Choice);
    if (!(dimension in candidate) || index < 0) {
      throw new SearchSpaceError(`the candidate's '${dimension}' is ${JSON.stringify(candidate[dimension])}, not one of ${JSON.stringify(space[dimension])}`);
    }
    out[dimension] = index;
  }
  const extra = Object.keys(candidate).filter((key) => !(key in space));
  if (extra.length > 0) throw new SearchSpaceError(`the candidate has dimensions the space does not: ${extra.join(', ')}`);
  return out;
}

/** A uniformly random candidate of `space`. */
export function randomCandidate(space: SearchSpace, rng: Rng): Candidate {
  const candidate: Candidate = {};
  for (const [dimension, choices] of Object.entries(space)) candidate[dimension] = choices[rng.int(choices.length)]!;
  return candidate;
}

/**
 * `candidate` with exactly one dimension changed to another of its choices (a dimension with a single choice is
 * never picked); the candidate itself when no dimension has two choices.
 */
export function mutateCandidate(space: SearchSpace, candidate: Candidate, rng: Rng): Candidate {
  const mutable = Object.keys(space).filter((dimension) => space[dimension]!.length > 1);
  if (mutable.length === 0) return { ...candidate };
  const dimension = mutable[rng.int(mutable.length)]!;
  const choices = space[dimension]!;
  const current = choices.indexOf(candidate[dimension] as Choice);
  let next = rng.int(choices.length - 1);
  if (next >= current) next += 1;
  return { ...candidate, [dimension]: choices[next]! };
}

abstract class BaseStrategy implements SearchStrategy {
  abstract readonly name: StrategyName;
  readonly space: SearchSpace;
  protected rng: Rng;
  protected asked = 0;
  protected told = 0;

  constructor(
    protected readonly options: Required<StrategyOptions>,
    state?: StrategyState,
  ) {
    this.space = options.space;
    this.rng = state === undefined ? new Rng(options.seed) : Rng.fromState(state.rng);
    if (state !== undefined) {
      this.asked = state.asked;
      this.told = state.told;
    }
  }

  ask(): Candidate {
    this.asked += 1;
    return this.propose();
  }

  tell(candidate: Candidate, reward: number): void {
    if (typeof reward !== 'number' || !Number.isFinite(reward)) throw new SearchSpaceError(`the reward must be a finite number, got ${reward}; record a failed candidate without telling it`);
    const indices = indicesOf(this.space, candidate);
    this.told += 1;
    this.learn(candidate, indices, reward);
  }

  state(): StrategyState {
    return { format: 1, name: this.name, options: structuredClone(this.options), rng: this.rng.state(), asked: this.asked, told: this.told, ...this.ownState() };
  }

  protected abstract propose(): Candidate;
  protected abstract learn(candidate: Candidate, indices: Record<string, number>, reward: number): void;
  protected abstract ownState(): Partial<StrategyState>;
}

class RandomSearch extends BaseStrategy {
  readonly name = 'random' as const;

  protected propose(): Candidate {
    return randomCandidate(this.space, this.rng);
  }

  protected learn(): void {}

  protected ownState(): Partial<StrategyState> {
    return {};
  }
}

class RegularizedEvolution extends BaseStrategy {
  readonly name = 'evolution' as const;
  private population: { candidate: Candidate; reward: number }[];

  constructor(options: Required<StrategyOptions>, state?: StrategyState) {
    super(options, state);
    this.population = structuredClone(state?.population ?? []);
  }

  protected propose(): Candidate {
    // Until the population is full, explore uniformly (the paper's random initial population).
    if (this.population.length < this.options.population) return randomCandidate(this.space, this.rng);
    const members = [...this.population.keys()];
    let best = -1;
    for (let i = 0; i < this.options.sampleSize; i++) {
      const j = i + this.rng.int(members.length - i);
      [members[i], members[j]] = [members[j]!, members[i]!];
      if (best < 0 || this.population[members[i]!]!.reward > this.population[best]!.reward) best = members[i]!;
    }
    return mutateCandidate(this.space, this.population[best]!.candidate, this.rng);
  }

  protected learn(candidate: Candidate, _indices: Record<string, number>, reward: number): void {
    this.population.push({ candidate: { ...candidate }, reward });
    // Aging: the oldest member leaves, whatever its reward.
    if (this.population.length > this.options.population) this.population.shift();
  }

  protected ownState(): Partial<StrategyState> {
    return { population: structuredClone(this.population) };
  }
}

/** softmax of `logits` (max-subtracted). */
export function softmaxOf(logits: readonly number[]): number[] {
  const top = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

class Reinforce extends BaseStrategy {
  readonly name = 'reinforce' as const;
  private logits: Record<string, number[]>;
  private baseline: number | null;
  private rewardVariance: number | null;

  constructor(options: Required<StrategyOptions>, state?: StrategyState) {
    super(options, state);
    this.logits = structuredClone(state?.logits ?? Object.fromEntries(Object.entries(this.space).map(([d, c]) => [d, c.map(() => 0)])));
    this.baseline = state?.baseline ?? null;
    this.rewardVariance = state?.rewardVariance ?? null;
  }

  /** The current sampling probabilities of each dimension's choices. */
  probabilities(): Record<string, number[]> {
    return Object.fromEntries(Object.entries(this.logits).map(([d, l]) => [d, softmaxOf(l)]));
  }

  protected propose(): Candidate {
    const candidate: Candidate = {};
    for (const [dimension, choices] of Object.entries(this.space)) {
      const p = softmaxOf(this.logits[dimension]!);
      const u = this.rng.next();
      let index = 0;
      let cumulative = p[0]!;
      while (u >= cumulative && index < p.length - 1) cumulative += p[++index]!;
      candidate[dimension] = choices[index]!;
    }
    return candidate;
  }

  protected learn(_candidate: Candidate, indices: Record<string, number>, reward: number): void {
    // The advantage against the baseline before this reward enters it, in units of the rewards' running standard
    // deviation, so that a step means the same whatever the rewards' scale: accuracies in [0, 1] times a cost
    // factor, or accuracies in points whose spread is ten times larger (raw advantages made REINFORCE collapse onto
    // its first lucky candidates there and search worse than random; BENCHMARKS.md, "Search strategies"). The first
    // reward only sets the baseline, the second the variance.
    const momentum = this.options.baselineMomentum;
    const deviation = this.baseline === null ? 0 : reward - this.baseline;
    const variance = this.rewardVariance;
    if (this.baseline !== null) this.rewardVariance = variance === null ? deviation * deviation : momentum * variance + (1 - momentum) * deviation * deviation;
    this.baseline = this.baseline === null ? reward : momentum * this.baseline + (1 - momentum) * reward;
    if (variance === null || !(variance > 0) || deviation === 0) return;
    const advantage = deviation / Math.sqrt(variance);
    for (const [dimension, logits] of Object.entries(this.logits)) {
      // ∂ log softmax(θ)[k] / ∂θ = onehot(k) − softmax(θ).
      const p = softmaxOf(logits);
      const chosen = indices[dimension]!;
      for (let i = 0; i < logits.length; i++) logits[i]! += this.options.learningRate * advantage * ((i === chosen ? 1 : 0) - p[i]!);
    }
  }

  protected ownState(): Partial<StrategyState> {
    return { logits: structuredClone(this.logits), baseline: this.baseline, rewardVariance: this.rewardVariance };
  }
}

/**
 * PPO with an LSTM controller (MnasNet, NASNet; controller.ts): each proposal is sampled step by step from the
 * controller; every `ppoBatch` rewards, `ppoEpochs` Adam steps on the clipped PPO loss with advantages against the
 * EMA baseline. The log-probability of each asked candidate is remembered (by its JSON) for the ratio.
 */
class Ppo extends BaseStrategy {
  readonly name = 'ppo' as const;
  private readonly shape: ControllerShape;
  private controller: NonNullable<StrategyState['controller']>;
  private baseline: number | null;

  constructor(options: Required<StrategyOptions>, state?: StrategyState) {
    super(options, state);
    this.shape = { choices: Object.values(this.space).map((c) => c.length), hidden: options.hidden };
    this.controller = structuredClone(state?.controller ?? { params: initControllerParams(this.shape, () => this.rng.next()), adam: null, pending: [], asked: [] });
    this.baseline = state?.baseline ?? null;
  }

  protected propose(): Candidate {
    const { actions, logProb } = sampleController(this.shape, this.controller.params, () => this.rng.next());
    const dimensions = Object.keys(this.space);
    const candidate: Candidate = Object.fromEntries(dimensions.map((d, i) => [d, this.space[d]![actions[i]!]!]));
    this.controller.asked.push({ key: JSON.stringify(actions), logProb });
    return candidate;
  }

  protected learn(_candidate: Candidate, indices: Record<string, number>, reward: number): void {
    const actions = Object.keys(this.space).map((d) => indices[d]!);
    const key = JSON.stringify(actions);
    const at = this.controller.asked.findIndex((a) => a.key === key);
    // A candidate the controller did not propose (told from elsewhere) gets its current log-probability.
    const oldLogProb = at >= 0 ? this.controller.asked.splice(at, 1)[0]!.logProb : logProbOf(this.shape, this.controller.params, actions);
    this.controller.pending.push({ actions, oldLogProb, reward });
    if (this.controller.pending.length < this.options.ppoBatch) return;
    const batch = this.controller.pending.map((p) => {
      const advantage = this.baseline === null ? 0 : p.reward - this.baseline;
      this.baseline = this.baseline === null ? p.reward : this.options.baselineMomentum * this.baseline + (1 - this.options.baselineMomentum) * p.reward;
      return { actions: p.actions, oldLogProb: p.oldLogProb, advantage };
    });
    this.controller.pending = [];
    for (let epoch = 0; epoch < this.options.ppoEpochs; epoch++) {
      const { grads } = controllerLoss('ppo', this.shape, this.controller.params, batch, { clip: this.options.clip, entropyWeight: this.options.entropyWeight });
      this.controller.adam = adamStep(this.controller.params, grads, this.controller.adam, this.options.controllerLearningRate);
    }
  }

  protected ownState(): Partial<StrategyState> {
    return { controller: structuredClone(this.controller), baseline: this.baseline };
  }
}

function build(name: string, options: Required<StrategyOptions>, state?: StrategyState): SearchStrategy {
  switch (name) {
    case 'random':
      return new RandomSearch(options, state);
    case 'evolution':
      return new RegularizedEvolution(options, state);
    case 'reinforce':
      return new Reinforce(options, state);
    case 'ppo':
      return new Ppo(options, state);
    default:
      throw new SearchSpaceError(`unknown search strategy '${name}'; choose one of ${STRATEGY_NAMES.join(', ')}`);
  }
}

/**
 * A search strategy by name over `options.space` (see the module comment for each and the example).
 * @throws SearchSpaceError for an unknown name, an empty space, a dimension without choices, or bad options
 */
export function createSearchStrategy(name: StrategyName | string, options: StrategyOptions): SearchStrategy {
  return build(name, withDefaults(options));
}

/**
 * The strategy a {@link SearchStrategy.state} describes, continuing exactly where it was: the same proposals from
 * here on as the strategy it was taken from.
 * @throws SearchSpaceError for a state that is not one
 */
export function restoreSearchStrategy(state: StrategyState): SearchStrategy {
  if (state === null || typeof state !== 'object' || state.format !== 1) throw new SearchSpaceError(`not a search strategy state (format 1): ${JSON.stringify(state)?.slice(0, 80)}`);
  return build(state.name, withDefaults(state.options), state);
}

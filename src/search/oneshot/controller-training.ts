/**
 * Supernet training with TuNAS's controller (`effnet oneshot train --sampling reinforce`): the glue between the
 * Trainer's step hooks and the policy of reinforce.ts. Before each step a path is drawn from the policy (during the
 * filter warm-up, with a falling probability, at every stage's largest filters); after the shared weights' update the
 * same path is measured on a batch of held-out images with the batch's own BN statistics, and its reward (default
 * TuNAS's absolute reward on MACs) updates the policy, whose state goes into the supernet's `policy.state` buffer so
 * that every checkpoint carries it.
 *
 * Adapted from TuNAS, and why: TuNAS also enables every op of a layer at the start ("op warm-up", a sum of all ops),
 * so its shared weights learn before the controller does; a single-path supernet cannot run a sum, and uniform
 * single paths did not learn in a few thousand steps on our proxy (docs/nas.md), so the default warm-up is progressive
 * sampling's phases compressed into the delay (the reference path alone first, the op freed last); `uniform` is
 * TuNAS's own draws with its largest-filters warm-up. The reward batches come from the run's hold-out (TuNAS holds out part of ImageNet's training set
 * for them): the same images `effnet oneshot search` ranks on, as `effnet nas` rewards its trials on the hold-out.
 * The reward batch's indices are a function of (seed, step), so a resumed run measures on the same images.
 */
import { join } from 'node:path';
import { deriveSeed, Rng } from '../../data/rng.js';
import { writeFileAtomic } from '../../io/safetensors.js';
import { argmax, eq, indexSelect, sum, tensor, tidy, type Tensor } from '../../torch/index.js';
import { computeReward, resolveRewardSpec, REWARD_NAMES, type RewardName } from '../nas/reward.js';
import { candidateCost } from '../nas/search.js';
import { dimensionName, flatSearchSpace, type ResolvedSearchSpace } from '../nas/space.js';
import type { Candidate } from '../nas/strategy.js';
import {
  BASELINE_MOMENTUM,
  controllerRate,
  DEFAULT_DELAY_FRACTION,
  DEFAULT_FILTER_WARMUP_FRACTION,
  filterWarmupProbability,
  PathPolicy,
  PolicyStateModule,
  TUNAS_CONTROLLER_RATE,
} from './reinforce.js';
import { PATH_SEED_TAG, progressivePath } from './sampling.js';
import type { NetworkSpec } from '../../efficientnet/scaling.js';
import { SupernetError, type Supernet } from './supernet.js';

/** The file the controller's distribution is written to in the supernet's run directory (after every epoch). */
export const POLICY_FILE = 'policy.json';

/** The most likely candidate alone, as `effnet oneshot extract --candidate FILE` reads it. */
export const MOST_LIKELY_FILE = 'most-likely.json';

/** A tag mixed into the reward batches' seeds. */
const REWARD_SEED_TAG = 0x7e3a;

/** What a user may set of the controller's training; each default is stated. */
export interface ReinforceOptions {
  /** Base learning rate of the controller (x10 by the last step); default TuNAS's 0.0048 (reinforce.ts). */
  lr?: number;
  /** Fraction of the steps with the controller frozen (uniform paths); default 0.25. Must leave ≥ 1 step frozen. */
  delay?: number;
  /**
   * The paths of the delay: 'progressive' (default: progressive sampling's phases compressed into the delay, the
   * reference path first, then kernel, layers, filters, SE+skip and the op freed in turn) or 'uniform' (TuNAS's
   * uniform draws, with the largest-filters warm-up).
   */
  warmup?: RlWarmup;
  /** Fraction of the steps over which the largest-filters warm-up fades (uniform warm-up); default 0.25, at most `delay`. */
  filterWarmup?: number;
  /** Held-out images per reward; default the training batch size. */
  rewardBatch?: number;
  /** Held-out images the reward batches are drawn from (the first ones of the hold-out); default 2,000. */
  rewardImages?: number;
  /** The reward; default 'abs' (TuNAS's). */
  reward?: RewardName;
  /** Its target MACs; default derived from the proxy as `effnet nas` derives it. */
  target?: number;
  /** abs reward's β (default −0.1), soft reward's exponent (default −0.07). */
  beta?: number;
  exponent?: number;
  /** Entropy bonus weight; default 0. */
  entropyWeight?: number;
  /** Baseline momentum; default 0.95. */
  baselineMomentum?: number;
}

/** How the shared weights warm up while the controller is frozen (see {@link ReinforceOptions.warmup}). */
export type RlWarmup = 'progressive' | 'uniform';

/** The warm-ups {@link ReinforceOptions.warmup} takes. */
export const RL_WARMUPS: readonly RlWarmup[] = ['progressive', 'uniform'];

/** The resolved settings, stored in supernet.json (a resumed run must give the same). */
export interface ReinforceSettings {
  lr: number;
  delay: number;
  warmup: RlWarmup;
  filterWarmup: number;
  delaySteps: number;
  filterWarmupSteps: number;
  rewardBatch: number;
  rewardImages: number;
  reward: { kind: RewardName; target: number; beta: number; exponent: number };
  entropyWeight: number;
  baselineMomentum: number;
}

/**
 * Checks the options against a run of `totalSteps` steps and fills the defaults.
 * @throws SupernetError (exit 2) for a delay that freezes no step ("zero warm-up"), a filter warm-up longer than the
 * delay, a non-positive rate or batch, or an unknown reward
 */
export function resolveReinforce(options: ReinforceOptions, totalSteps: number, batchSize: number, derivedTarget: number): ReinforceSettings {
  const delay = options.delay ?? DEFAULT_DELAY_FRACTION;
  if (!(delay > 0 && delay < 1)) throw new SupernetError(`REINFORCE needs a warm-up: --rl-delay is the fraction of steps before the controller learns, in (0, 1) (TuNAS: 0.25), got ${delay}`);
  const delaySteps = Math.floor(delay * totalSteps);
  if (delaySteps < 1) throw new SupernetError(`REINFORCE needs a warm-up of at least one step: --rl-delay ${delay} of ${totalSteps} steps freezes none; raise it or train longer`);
  if (delaySteps >= totalSteps) throw new SupernetError(`--rl-delay ${delay} of ${totalSteps} steps leaves no step for the controller`);
  const warmup = options.warmup ?? 'progressive';
  if (!RL_WARMUPS.includes(warmup)) throw new SupernetError(`unknown REINFORCE warm-up '${String(warmup)}'; choose one of ${RL_WARMUPS.join(', ')}`);
  if (warmup === 'progressive' && options.filterWarmup !== undefined && options.filterWarmup > 0) {
    throw new SupernetError('--filter-warmup is the largest-filters warm-up of --rl-warmup uniform; the progressive warm-up frees the filters in its own phase');
  }
  const filterWarmup = warmup === 'progressive' ? 0 : (options.filterWarmup ?? Math.min(DEFAULT_FILTER_WARMUP_FRACTION, delay));
  if (!(filterWarmup >= 0 && filterWarmup <= delay)) {
    throw new SupernetError(`--filter-warmup must be in [0, --rl-delay] (${delay}): the controller must not learn from paths forced to the largest filters; got ${filterWarmup}`);
  }
  const lr = options.lr ?? TUNAS_CONTROLLER_RATE;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new SupernetError(`--rl-lr must be a number > 0, got ${lr}`);
  const rewardBatch = options.rewardBatch ?? batchSize;
  const rewardImages = options.rewardImages ?? 2000;
  for (const [flag, value] of [['--reward-batch', rewardBatch], ['--reward-images', rewardImages]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new SupernetError(`${flag} must be an integer >= 1, got ${value}`);
  }
  if (rewardBatch > rewardImages) throw new SupernetError(`--reward-batch ${rewardBatch} is larger than --reward-images ${rewardImages}`);
  const kind = options.reward ?? 'abs';
  if (!(REWARD_NAMES as readonly string[]).includes(kind)) throw new SupernetError(`unknown reward '${String(kind)}'; choose one of ${REWARD_NAMES.join(', ')}`);
  const spec = resolveRewardSpec({ kind, target: options.target ?? derivedTarget, ...(options.beta === undefined ? {} : { beta: options.beta }), ...(options.exponent === undefined ? {} : { exponent: options.exponent }) });
  const entropyWeight = options.entropyWeight ?? 0;
  const baselineMomentum = options.baselineMomentum ?? BASELINE_MOMENTUM;
  if (!(entropyWeight >= 0) || !Number.isFinite(entropyWeight)) throw new SupernetError(`the entropy weight must be a number >= 0, got ${entropyWeight}`);
  if (!(baselineMomentum >= 0 && baselineMomentum < 1)) throw new SupernetError(`the baseline momentum must be in [0, 1), got ${baselineMomentum}`);
  return {
    lr,
    delay,
    warmup,
    filterWarmup,
    delaySteps,
    filterWarmupSteps: Math.floor(filterWarmup * totalSteps),
    rewardBatch,
    rewardImages,
    reward: { kind: spec.kind, target: spec.target, beta: spec.beta, exponent: spec.exponent },
    entropyWeight,
    baselineMomentum,
  };
}

/** `candidate` with every stage's filters at their largest choice (TuNAS's filter warm-up). */
export function withLargestFilters(space: ResolvedSearchSpace, candidate: Candidate): Candidate {
  const out = { ...candidate };
  space.stageChoices.forEach((choices, index) => {
    const numeric = choices.filters.filter((c): c is number => typeof c === 'number');
    if (numeric.length === choices.filters.length && numeric.length > 0) out[dimensionName(index + 1, 'filters')] = Math.max(...numeric);
  });
  return out;
}

/** The images rewards are measured on: held-out images [N, 3, H, W] and labels [N], kept by the caller. */
export interface RewardImages {
  images: Tensor;
  labels: Tensor;
}

/** One epoch's controller figures, for the log. */
interface EpochFigures {
  steps: number;
  accuracy: number;
  reward: number;
}

/** The controller side of a supernet run (see the module comment). */
export class ControllerTraining {
  readonly policy: PathPolicy;
  private readonly state: PolicyStateModule;
  /** The path drawn for a step, kept for its reward: the candidate, its choice indices and its network spec. */
  private drawn: { step: number; candidate: Candidate; indices: number[]; path: NetworkSpec } | null = null;
  private readonly costs = new Map<string, number>();
  private figures: EpochFigures = { steps: 0, accuracy: 0, reward: 0 };

  /** Registers the policy's state buffer under `supernet` as `policy` (before the Trainer loads a checkpoint). */
  constructor(
    private readonly supernet: Supernet,
    private readonly settings: ReinforceSettings,
    private readonly seed: number,
    private readonly totalSteps: number,
    private readonly resolution: number,
    private readonly numClasses: number,
    private readonly rewards: RewardImages,
    /** The candidate the progressive warm-up starts from (the space's base). */
    private readonly reference: Candidate,
  ) {
    this.policy = new PathPolicy(flatSearchSpace(supernet.space));
    this.state = supernet.registerModule('policy', new PolicyStateModule(this.policy.stateLength));
    this.state.store(this.policy);
  }

  /** Reads the policy back from the supernet's buffer (after a checkpoint was loaded). */
  restore(): void {
    this.state.restore(this.policy);
  }

  /**
   * The path of `step` (the Trainer's `beforeStep`): during the delay the warm-up's (progressive phases over the delay,
   * or the frozen policy's uniform draws with the largest filters early on), then the policy's.
   */
  draw(step: number): Candidate {
    if (this.settings.warmup === 'progressive' && step < this.settings.delaySteps) {
      const path = progressivePath(this.supernet.space, this.reference, this.seed, step, this.settings.delaySteps);
      this.drawn = null;
      this.supernet.activate(path);
      return path;
    }
    const rng = new Rng(deriveSeed(this.seed, PATH_SEED_TAG, step));
    const { candidate, indices } = this.policy.sample(rng);
    const forced = rng.next() < filterWarmupProbability(step, this.settings.filterWarmupSteps);
    const path = forced ? withLargestFilters(this.supernet.space, candidate) : candidate;
    const spec = this.supernet.activate(path);
    this.drawn = { step, candidate: path, indices: forced ? this.policy.indicesOf(path) : indices, path: spec };
    return path;
  }

  /** The controller step after the shared weights' update of `step` (the Trainer's `onStep` gives step + 1). */
  learn(step: number): void {
    const drawn = this.drawn;
    if (drawn === null || drawn.step !== step || step < this.settings.delaySteps) return;
    const accuracy = this.rewardAccuracy(step, drawn.path);
    const reward = computeReward(this.settings.reward, accuracy, this.macsOf(drawn.candidate));
    this.policy.update(drawn.indices, reward, {
      lr: controllerRate(step, this.totalSteps, this.settings.delaySteps, this.settings.lr),
      baselineMomentum: this.settings.baselineMomentum,
      entropyWeight: this.settings.entropyWeight,
    });
    this.state.store(this.policy);
    this.figures.steps += 1;
    this.figures.accuracy += accuracy;
    this.figures.reward += reward;
  }

  /** Top-1 of `path` on the reward batch of `step`. */
  private rewardAccuracy(step: number, path: NetworkSpec): number {
    const n = this.rewards.labels.shape[0]!;
    const rng = new Rng(deriveSeed(this.seed, REWARD_SEED_TAG, step));
    // A partial Fisher-Yates shuffle: rewardBatch distinct images.
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const count = this.settings.rewardBatch;
    for (let i = 0; i < count; i++) {
      const j = i + rng.int(n - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const index = tensor(BigInt64Array.from(order.subarray(0, count), (i) => BigInt(i)), [count], { dtype: 'int64' });
    try {
      return tidy(() => {
        const logits = this.supernet.batchStatisticsLogits(indexSelect(this.rewards.images, 0, index), path);
        return sum(eq(argmax(logits, 1), indexSelect(this.rewards.labels, 0, index))).item() / count;
      });
    } finally {
      index.dispose();
    }
  }

  private macsOf(candidate: Candidate): number {
    const key = JSON.stringify(candidate);
    let macs = this.costs.get(key);
    if (macs === undefined) {
      macs = candidateCost(this.supernet.space, candidate, this.resolution, this.numClasses).macs;
      this.costs.set(key, macs);
    }
    return macs;
  }

  /** The epoch's controller figures for the log line (and resets them): mean reward and accuracy, entropy, the most likely candidate's MACs. */
  takeEpochNote(): string {
    const f = this.figures;
    this.figures = { steps: 0, accuracy: 0, reward: 0 };
    const entropy = this.policy.entropy();
    const macs = this.macsOf(this.policy.mostLikely());
    const learned = f.steps === 0 ? 'controller frozen (warm-up)' : `controller: ${f.steps} updates, mean reward ${(f.reward / f.steps).toFixed(4)}, mean reward-batch top-1 ${((f.accuracy / f.steps) * 100).toFixed(2)}%`;
    return `${learned}; policy entropy ${entropy.toFixed(2)} nats, most likely candidate ${(macs / 1e6).toFixed(2)}M MACs`;
  }

  /** Writes policy.json (every dimension's probabilities, the most likely candidate) and most-likely.json into `dir`. */
  writePolicy(dir: string): void {
    const mostLikely = this.policy.mostLikely();
    const cost = candidateCost(this.supernet.space, mostLikely, this.resolution, this.numClasses);
    const document = {
      updates: this.policy.updateCount,
      baseline: this.policy.baseline,
      entropy: this.policy.entropy(),
      settings: this.settings,
      mostLikely,
      mostLikelyMacs: cost.macs,
      mostLikelyParams: cost.params,
      probabilities: this.policy.describe(),
    };
    writeFileAtomic(join(dir, POLICY_FILE), Buffer.from(JSON.stringify(document, null, 2) + '\n'));
    writeFileAtomic(join(dir, MOST_LIKELY_FILE), Buffer.from(JSON.stringify(mostLikely) + '\n'));
  }
}

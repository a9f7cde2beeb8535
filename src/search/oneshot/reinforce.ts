/**
 * TuNAS's controller for supernet training (Bender et al. 2020; google-research/tunas, `controller.py`'s independent
 * sampling and `mobile_architecture_search.py`'s update, read, not copied): one categorical distribution per
 * dimension of the space, independent of each other, each the softmax of its own logits, every logit 0 at the start
 * (uniform sampling). At each supernet step the path is drawn from it; after the shared weights' update, the same
 * path is measured on a batch of held-out images, its reward R (TuNAS's absolute reward: accuracy + β·|MACs/T − 1|)
 * moves an exponential-moving-average baseline b (momentum 0.95, updated first), and the logits take one Adam step
 * (β1 = 0, β2 = 0.999, ε = 1e-8) on the REINFORCE loss −(R − b)·log π(path) − c_H·H(π).
 *
 * Why per-dimension logits and not the LSTM of `effnet nas`'s `reinforce`/`ppo` strategies: with thousands of cheap,
 * noisy shared-weight rewards the factorised policy is what TuNAS found works (its gradient is exact and cheap on the
 * host: ∂ log π(a)/∂z_{d,j} = 1[j = a_d] − p_{d,j}); the interactions a factorised policy cannot express are left to
 * the ranking that follows (evolution over shared-weight accuracy).
 *
 * The learning-rate schedule is TuNAS's: 0 for the first `delay` fraction of the steps (the shared weights warm up
 * under uniform sampling), then growing exponentially ×10 to the end, from TuNAS's per-step rate 0.0048 (its 0.0003
 * per 256 images at its batch of 4096). Not rescaled to our batch: a controller step is one reward whatever the batch,
 * and not stretched to reach TuNAS's total movement in fewer steps either: Adam moves a logit by about the rate at
 * every step, so 300 steps at rates 100x TuNAS's would let the noise of 64-image rewards (TuNAS measured each on
 * 16,384 images) drive the policy to a random corner. 300 steps at TuNAS's rates can move a logit by up to ≈5.6
 * nats, 1,200 by ≈22.
 *
 * The whole state (logits, Adam's second moments, its step, the baseline) packs into one float64 vector, kept as a
 * buffer of the supernet, so checkpoints and `--resume` carry it bit for bit.
 */
import { Rng } from '../../data/rng.js';
import type { Candidate, Choice, SearchSpace } from '../nas/strategy.js';
import { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../torch/index.js';
import { SupernetError } from './supernet.js';

/** TuNAS's controller momentum of the reward baseline. */
export const BASELINE_MOMENTUM = 0.95;

/** TuNAS's fraction of the steps with the controller frozen (`rl_delay_steps_fraction`). */
export const DEFAULT_DELAY_FRACTION = 0.25;

/** TuNAS's fraction of the steps over which "all filters" warm-up fades (`increase_filters_warmup_steps_fraction`). */
export const DEFAULT_FILTER_WARMUP_FRACTION = 0.25;

/** TuNAS's controller learning rate per step at the end of its delay: 0.0003 per 256 images × its batch 4096 / 256. */
export const TUNAS_CONTROLLER_RATE = 0.0003 * (4096 / 256);

/** Growth of the learning rate from the end of the delay to the last step (TuNAS's exponential schedule). */
const RATE_GROWTH = 10;

const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;

/** How a policy learns; see the module comment for each default. */
export interface PolicyUpdate {
  /** The controller's learning rate of this step. */
  lr: number;
  /** The baseline's momentum; default 0.95. */
  baselineMomentum?: number;
  /** Weight c_H of the entropy bonus; default 0 (TuNAS's). */
  entropyWeight?: number;
}

/** What one update did. */
export interface PolicyUpdateResult {
  reward: number;
  /** The baseline after this reward moved it. */
  baseline: number;
  /** reward − baseline. */
  advantage: number;
}

/**
 * The per-step controller learning rate of TuNAS's schedule: 0 before `delaySteps`, then `base · 10^progress` with
 * progress going from 0 at `delaySteps` to 1 at the last step.
 */
export function controllerRate(step: number, totalSteps: number, delaySteps: number, base: number): number {
  if (step < delaySteps) return 0;
  const progress = (step - delaySteps) / Math.max(1, totalSteps - 1 - delaySteps);
  return base * RATE_GROWTH ** Math.min(1, progress);
}

/**
 * The probability that a step trains every stage at its largest filters (TuNAS's filter warm-up): 1 at step 0,
 * falling linearly to 0 at `warmupSteps`.
 */
export function filterWarmupProbability(step: number, warmupSteps: number): number {
  return warmupSteps <= 0 ? 0 : Math.max(0, 1 - step / warmupSteps);
}

/** One independent categorical distribution per dimension of a space (see the module comment). */
export class PathPolicy {
  /** The dimensions, in the space's order. */
  readonly dimensions: readonly string[];
  private readonly choices: readonly (readonly Choice[])[];
  private readonly offsets: readonly number[];
  /** All logits, dimension after dimension. */
  private readonly logits: Float64Array;
  /** Adam's running second moments, one per logit. */
  private readonly second: Float64Array;
  private updates = 0;
  private baselineValue: number | null = null;

  /** A uniform policy over `space` (every logit 0). */
  constructor(space: SearchSpace) {
    this.dimensions = Object.keys(space);
    this.choices = this.dimensions.map((d) => space[d]!);
    const offsets: number[] = [];
    let total = 0;
    for (const c of this.choices) {
      if (c.length < 1) throw new SupernetError('a policy needs at least one choice per dimension');
      offsets.push(total);
      total += c.length;
    }
    this.offsets = offsets;
    this.logits = new Float64Array(total);
    this.second = new Float64Array(total);
  }

  /** Length of {@link pack}'s vector: the updates, the baseline (NaN before the first), the logits, the moments. */
  get stateLength(): number {
    return 2 + 2 * this.logits.length;
  }

  /** Controller updates taken so far. */
  get updateCount(): number {
    return this.updates;
  }

  /** The reward baseline, or null before the first update. */
  get baseline(): number | null {
    return this.baselineValue;
  }

  /** The probabilities of dimension `d`'s choices (index into {@link dimensions}). */
  probabilities(d: number): number[] {
    const offset = this.offsets[d]!;
    const n = this.choices[d]!.length;
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, this.logits[offset + j]!);
    const e = Array.from({ length: n }, (_, j) => Math.exp(this.logits[offset + j]! - max));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  }

  /** Draws one choice per dimension with `rng` (inverse CDF): the candidate and its choice indices. */
  sample(rng: Rng): { candidate: Candidate; indices: number[] } {
    const indices = this.dimensions.map((_, d) => {
      const p = this.probabilities(d);
      const u = rng.next();
      let cumulative = 0;
      for (let j = 0; j < p.length; j++) {
        cumulative += p[j]!;
        if (u < cumulative) return j;
      }
      return p.length - 1;
    });
    return { candidate: this.candidateOf(indices), indices };
  }

  /** The candidate of choice indices. */
  candidateOf(indices: readonly number[]): Candidate {
    return Object.fromEntries(this.dimensions.map((d, k) => [d, this.choices[k]![indices[k]!]!]));
  }

  /** The choice indices of a candidate of this policy's space. */
  indicesOf(candidate: Candidate): number[] {
    return this.dimensions.map((d, k) => {
      const j = this.choices[k]!.indexOf(candidate[d]!);
      if (j < 0) throw new SupernetError(`the candidate's ${d} = ${JSON.stringify(candidate[d])} is not a choice of the space`);
      return j;
    });
  }

  /** The most likely candidate (each dimension's most probable choice; ties to the first): TuNAS's answer. */
  mostLikely(): Candidate {
    return this.candidateOf(
      this.dimensions.map((_, d) => {
        const p = this.probabilities(d);
        return p.indexOf(Math.max(...p));
      }),
    );
  }

  /** Σ_d log p_d(a_d) of choice indices. */
  logProbability(indices: readonly number[]): number {
    return indices.reduce((sum, j, d) => sum + Math.log(this.probabilities(d)[j]!), 0);
  }

  /** Σ_d of each dimension's entropy, in nats (ln of the candidate count for the uniform policy). */
  entropy(): number {
    return this.dimensions.reduce((sum, _, d) => sum - this.probabilities(d).reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0), 0);
  }

  /**
   * The gradient of the loss −A·log π(a) − c_H·Σ_d H_d with respect to every logit:
   * −A·(1[j = a_d] − p_{d,j}) + c_H·p_{d,j}·(log p_{d,j} + H_d).
   */
  gradient(indices: readonly number[], advantage: number, entropyWeight = 0): Float64Array {
    const g = new Float64Array(this.logits.length);
    this.dimensions.forEach((_, d) => {
      const p = this.probabilities(d);
      const h = -p.reduce((s, q) => s + (q > 0 ? q * Math.log(q) : 0), 0);
      p.forEach((q, j) => {
        const chosen = j === indices[d] ? 1 : 0;
        g[this.offsets[d]! + j] = -advantage * (chosen - q) + (entropyWeight === 0 || q === 0 ? 0 : entropyWeight * q * (Math.log(q) + h));
      });
    });
    return g;
  }

  /**
   * One REINFORCE step for the path `indices` that earned `reward`: the baseline moves first (the first reward sets
   * it), then Adam (β1 = 0) steps the logits on {@link gradient} with the advantage reward − baseline. At `lr` 0 the
   * baseline still moves and the logits stay.
   */
  update(indices: readonly number[], reward: number, options: PolicyUpdate): PolicyUpdateResult {
    if (!Number.isFinite(reward)) throw new SupernetError(`a controller reward must be finite, got ${reward}`);
    const momentum = options.baselineMomentum ?? BASELINE_MOMENTUM;
    this.baselineValue = this.baselineValue === null ? reward : momentum * this.baselineValue + (1 - momentum) * reward;
    const advantage = reward - this.baselineValue;
    if (options.lr > 0) {
      const g = this.gradient(indices, advantage, options.entropyWeight ?? 0);
      this.updates += 1;
      const correction = 1 - ADAM_BETA2 ** this.updates;
      for (let i = 0; i < g.length; i++) {
        this.second[i] = ADAM_BETA2 * this.second[i]! + (1 - ADAM_BETA2) * g[i]! * g[i]!;
        this.logits[i] = this.logits[i]! - (options.lr * g[i]!) / (Math.sqrt(this.second[i]! / correction) + ADAM_EPSILON);
      }
    }
    return { reward, baseline: this.baselineValue, advantage };
  }

  /** The whole state as one vector (see {@link stateLength}). */
  pack(): Float64Array {
    const out = new Float64Array(this.stateLength);
    out[0] = this.updates;
    out[1] = this.baselineValue ?? Number.NaN;
    out.set(this.logits, 2);
    out.set(this.second, 2 + this.logits.length);
    return out;
  }

  /** Restores what {@link pack} gave. */
  unpack(state: Float64Array): void {
    if (state.length !== this.stateLength) throw new SupernetError(`a controller state of ${state.length} values does not fit this space's policy (${this.stateLength})`);
    this.updates = state[0]!;
    this.baselineValue = Number.isNaN(state[1]!) ? null : state[1]!;
    this.logits.set(state.subarray(2, 2 + this.logits.length));
    this.second.set(state.subarray(2 + this.logits.length));
  }

  /** Every dimension's choices with their probabilities (policy.json). */
  describe(): Record<string, { choice: Choice; p: number }[]> {
    return Object.fromEntries(this.dimensions.map((d, k) => [d, this.probabilities(k).map((p, j) => ({ choice: this.choices[k]![j]!, p }))]));
  }
}

/**
 * The controller's state as a module: one float64 buffer `state` ({@link PathPolicy.pack}), registered under the
 * supernet so that the Trainer's checkpoints hold it beside the shared weights (no optimizer or weight decay touches
 * a buffer).
 */
export class PolicyStateModule extends Module {
  /** A zero state of `length` values (overwritten by {@link store} before the first checkpoint). */
  constructor(length: number) {
    super();
    this.registerBuffer('state', tensor(new Float64Array(length), [length], { dtype: 'float64' }));
  }

  /** Copies `policy`'s state into the buffer. */
  store(policy: PathPolicy): void {
    this.registerBuffer('state', tensor(policy.pack(), [policy.stateLength], { dtype: 'float64' }));
  }

  /** Restores `policy` from the buffer (after a checkpoint was loaded into the supernet). */
  restore(policy: PathPolicy): void {
    const buffer = this.namedBuffers().find(([name]) => name === 'state')![1];
    policy.unpack(Float64Array.from(buffer.toArray()));
  }

  forward(): Tensor {
    throw new Error('PolicyStateModule holds state only');
  }
}

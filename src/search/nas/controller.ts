/**
 * MnasNet's (and NASNet's) controller: a one-layer LSTM on our engine that emits one choice per dimension in turn,
 * each step fed the embedding of the previous choice, trained with PPO (Schulman et al. 2017) on the search's
 * rewards with an exponential-moving-average baseline. The parameters, Adam's moments and step live on the host as
 * float64 arrays (plain JSON for the search state); each forward builds float64 engine tensors from them, and
 * autograd gives the gradients.
 *
 * Losses, for a batch of candidates a_i sampled with log-probabilities ℓ_i^old and advantages A_i = r_i − b:
 * - policy gradient (REINFORCE): L = −mean_i A_i · log π(a_i);
 * - PPO: L = −mean_i min(ρ_i A_i, clip(ρ_i, 1 − ε, 1 + ε) A_i) − c_H · mean_i H_i, ρ_i = exp(log π(a_i) − ℓ_i^old),
 *   H_i the summed per-step entropy of the policy along a_i.
 */
import { add, clamp, exp, gather, indexSelect, logSoftmax, matmul, mean, minimum, mul, narrow, neg, sigmoid, sum, tanh, tensor, tidy, transpose, zeros, type Tensor } from '../../torch/index.js';

/** The controller's shape: choices per dimension, hidden size. */
export interface ControllerShape {
  /** Number of choices of each dimension, in sampling order. */
  choices: number[];
  /** LSTM hidden units (MnasNet: 100). */
  hidden: number;
}

/** The controller's parameters as host arrays (row-major), by name. */
export type ControllerParams = Record<string, number[]>;

function parameterShapes(shape: ControllerShape): Record<string, number[]> {
  const h = shape.hidden;
  const tokens = 1 + shape.choices.reduce((s, n) => s + n, 0);
  const out: Record<string, number[]> = { embedding: [tokens, h], wIh: [4 * h, h], wHh: [4 * h, h], bias: [4 * h] };
  shape.choices.forEach((n, d) => {
    out[`head${d}.w`] = [n, h];
    out[`head${d}.b`] = [n];
  });
  return out;
}

/** Fresh parameters, every one U(−0.1, 0.1) from `uniform` (MnasNet/NASNet's initialisation). */
export function initControllerParams(shape: ControllerShape, uniform: () => number): ControllerParams {
  return Object.fromEntries(
    Object.entries(parameterShapes(shape)).map(([name, dims]) => [name, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (uniform() * 2 - 1) * 0.1)]),
  );
}

/** What a forward pass along given choices gives, per candidate. */
interface PolicyOutputs {
  /** Σ_d log π(a_d | a_<d), [B]. */
  logProb: Tensor;
  /** Σ_d entropy of step d's distribution, [B]. */
  entropy: Tensor;
}

/** The recurrent state between steps. */
interface StepState {
  hidden: Tensor;
  cell: Tensor;
}

/** One LSTM step for dimension `d`: the next state and the step's log-probabilities [B, choices of d]. */
function lstmStep(params: Record<string, Tensor>, h: number, d: number, input: Tensor, state: StepState): StepState & { logp: Tensor } {
  const gates = add(add(matmul(input, transpose(params.wIh!, 0, 1)), matmul(state.hidden, transpose(params.wHh!, 0, 1))), params.bias!);
  const i = sigmoid(narrow(gates, 1, 0, h));
  const f = sigmoid(narrow(gates, 1, h, h));
  const g = tanh(narrow(gates, 1, 2 * h, h));
  const o = sigmoid(narrow(gates, 1, 3 * h, h));
  const cell = add(mul(f, state.cell), mul(i, g));
  const hidden = mul(o, tanh(cell));
  const logits = add(matmul(hidden, transpose(params[`head${d}.w`]!, 0, 1)), params[`head${d}.b`]!);
  return { hidden, cell, logp: logSoftmax(logits, 1) };
}

/** The embeddings of token ids (0 the start token, then every dimension's choices in order), [B, H]. */
function embed(params: Record<string, Tensor>, tokens: readonly number[]): Tensor {
  return indexSelect(params.embedding!, 0, tensor(BigInt64Array.from(tokens.map((t) => BigInt(t))), [tokens.length], { dtype: 'int64' }));
}

/** The first token id of each dimension's choices. */
function tokenOffsets(shape: ControllerShape): number[] {
  const offsets: number[] = [];
  let offset = 1;
  for (const n of shape.choices) {
    offsets.push(offset);
    offset += n;
  }
  return offsets;
}

function forward(shape: ControllerShape, params: Record<string, Tensor>, actions: readonly (readonly number[])[]): PolicyOutputs {
  const batch = actions.length;
  const offsets = tokenOffsets(shape);
  let state: StepState = { hidden: zeros([batch, shape.hidden], { dtype: 'float64' }), cell: zeros([batch, shape.hidden], { dtype: 'float64' }) };
  let input = embed(params, actions.map(() => 0));
  let logProb: Tensor | null = null;
  let entropy: Tensor | null = null;
  shape.choices.forEach((_, d) => {
    const { logp, ...next } = lstmStep(params, shape.hidden, d, input, state);
    state = next;
    const chosen = tensor(BigInt64Array.from(actions.map((a) => BigInt(a[d]!))), [batch, 1], { dtype: 'int64' });
    const picked = gather(logp, 1, chosen).reshape([batch]);
    const stepEntropy = neg(sum(mul(exp(logp), logp), [1]));
    logProb = logProb === null ? picked : add(logProb, picked);
    entropy = entropy === null ? stepEntropy : add(entropy, stepEntropy);
    input = embed(params, actions.map((a) => offsets[d]! + a[d]!));
  });
  return { logProb: logProb!, entropy: entropy! };
}

function toTensors(shape: ControllerShape, params: ControllerParams, requiresGrad: boolean): Record<string, Tensor> {
  const shapes = parameterShapes(shape);
  return Object.fromEntries(Object.entries(params).map(([name, values]) => [name, tensor(Float64Array.from(values), shapes[name]!, { dtype: 'float64', requiresGrad })]));
}

/**
 * Samples one candidate's choice indices: step by step, each choice drawn from the step's distribution with
 * `uniform()` (inverse CDF), its embedding fed to the next step. Returns the indices and their summed
 * log-probability.
 */
export function sampleController(shape: ControllerShape, params: ControllerParams, uniform: () => number): { actions: number[]; logProb: number } {
  return tidy(() => {
    const tensors = toTensors(shape, params, false);
    const offsets = tokenOffsets(shape);
    const actions: number[] = [];
    let state: StepState = { hidden: zeros([1, shape.hidden], { dtype: 'float64' }), cell: zeros([1, shape.hidden], { dtype: 'float64' }) };
    let input = embed(tensors, [0]);
    let logProb = 0;
    shape.choices.forEach((_, d) => {
      const { logp, ...next } = lstmStep(tensors, shape.hidden, d, input, state);
      state = next;
      const logs = logp.data() as Float64Array;
      const u = uniform();
      let index = 0;
      let cumulative = Math.exp(logs[0]!);
      while (u >= cumulative && index < logs.length - 1) cumulative += Math.exp(logs[++index]!);
      actions.push(index);
      logProb += logs[index]!;
      input = embed(tensors, [offsets[d]! + index]);
    });
    return { actions, logProb };
  });
}

/** log π(actions) under the controller. */
export function logProbOf(shape: ControllerShape, params: ControllerParams, actions: readonly number[]): number {
  return tidy(() => (forward(shape, toTensors(shape, params, false), [actions]).logProb.data() as Float64Array)[0]!);
}

/** Options of the controller's losses. */
export interface LossOptions {
  /** PPO's clip ε; default 0.2. */
  clip?: number;
  /** Entropy weight c_H; default 1e-5 (MnasNet's penalty). */
  entropyWeight?: number;
}

/**
 * The loss and its gradient with respect to every parameter (host arrays, by name).
 * @param kind 'ppo' or 'pg' (plain policy gradient)
 */
export function controllerLoss(
  kind: 'ppo' | 'pg',
  shape: ControllerShape,
  params: ControllerParams,
  batch: { actions: number[]; oldLogProb: number; advantage: number }[],
  options: LossOptions = {},
): { loss: number; grads: ControllerParams } {
  return tidy(() => {
    const tensors = toTensors(shape, params, true);
    const { logProb, entropy } = forward(shape, tensors, batch.map((b) => b.actions));
    const advantage = tensor(Float64Array.from(batch.map((b) => b.advantage)), [batch.length], { dtype: 'float64' });
    let loss: Tensor;
    if (kind === 'pg') {
      loss = neg(mean(mul(advantage, logProb)));
    } else {
      const eps = options.clip ?? 0.2;
      const ratio = exp(add(logProb, tensor(Float64Array.from(batch.map((b) => -b.oldLogProb)), [batch.length], { dtype: 'float64' })));
      const surrogate = minimum(mul(ratio, advantage), mul(clamp(ratio, 1 - eps, 1 + eps), advantage));
      loss = add(neg(mean(surrogate)), mul(mean(entropy), -(options.entropyWeight ?? 1e-5)));
    }
    loss.backward();
    const grads = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, Array.from((t.grad?.data() as Float64Array | undefined) ?? new Float64Array(params[name]!.length))]));
    return { loss: (loss.data() as Float64Array)[0]!, grads };
  });
}

/** Adam's state for host parameters. */
export interface AdamState {
  step: number;
  m: ControllerParams;
  v: ControllerParams;
}

/** One Adam step (β1, β2, ε as PyTorch's defaults 0.9, 0.999, 1e-8) in place on `params`; returns the new state. */
export function adamStep(params: ControllerParams, grads: ControllerParams, state: AdamState | null, lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): AdamState {
  const next: AdamState = state ?? { step: 0, m: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.map(() => 0)])), v: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.map(() => 0)])) };
  next.step += 1;
  const c1 = 1 - beta1 ** next.step;
  const c2 = 1 - beta2 ** next.step;
  for (const [name, values] of Object.entries(params)) {
    const g = grads[name]!;
    const m = next.m[name]!;
    const v = next.v[name]!;
    for (let i = 0; i < values.length; i++) {
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
      values[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
    }
  }
  return next;
}

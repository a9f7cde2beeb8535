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
  /** Step d's probabilities for each candidate (only with `probabilities`). */
  steps: Tensor[];
}

function forward(shape: ControllerShape, params: Record<string, Tensor>, actions: readonly (readonly number[])[]): PolicyOutputs {
  const batch = actions.length;
  const h = shape.hidden;
  let hidden = zeros([batch, h], { dtype: 'float64' });
  let cell = zeros([batch, h], { dtype: 'float64' });
  let input = indexSelect(params.embedding!, 0, tensor(new BigInt64Array(batch), [batch], { dtype: 'int64' }));
  let logProb: Tensor | null = null;
  let entropy: Tensor | null = null;
  const steps: Tensor[] = [];
  let offset = 1;
  shape.choices.forEach((n, d) => {
    const gates = add(add(matmul(input, transpose(params.wIh!, 0, 1)), matmul(hidden, transpose(params.wHh!, 0, 1))), params.bias!);
    const i = sigmoid(narrow(gates, 1, 0, h));
    const f = sigmoid(narrow(gates, 1, h, h));
    const g = tanh(narrow(gates, 1, 2 * h, h));
    const o = sigmoid(narrow(gates, 1, 3 * h, h));
    cell = add(mul(f, cell), mul(i, g));
    hidden = mul(o, tanh(cell));
    const logits = add(matmul(hidden, transpose(params[`head${d}.w`]!, 0, 1)), params[`head${d}.b`]!);
    const logp = logSoftmax(logits, 1);
    steps.push(exp(logp));
    const chosen = tensor(BigInt64Array.from(actions.map((a) => BigInt(a[d]!))), [batch, 1], { dtype: 'int64' });
    const picked = gather(logp, 1, chosen).reshape([batch]);
    const stepEntropy = neg(sum(mul(exp(logp), logp), [1]));
    logProb = logProb === null ? picked : add(logProb, picked);
    entropy = entropy === null ? stepEntropy : add(entropy, stepEntropy);
    input = indexSelect(params.embedding!, 0, tensor(BigInt64Array.from(actions.map((a) => BigInt(offset + a[d]!))), [batch], { dtype: 'int64' }));
    offset += n;
  });
  return { logProb: logProb!, entropy: entropy!, steps };
}

function toTensors(shape: ControllerShape, params: ControllerParams, requiresGrad: boolean): Record<string, Tensor> {
  const shapes = parameterShapes(shape);
  return Object.fromEntries(Object.entries(params).map(([name, values]) => [name, tensor(Float64Array.from(values), shapes[name]!, { dtype: 'float64', requiresGrad })]));
}

/**
 * Samples one candidate's choice indices: step by step, each choice drawn from the step's distribution with
 * `uniform()` (inverse CDF), fed back as the next input. Returns the indices and their summed log-probability.
 */
export function sampleController(shape: ControllerShape, params: ControllerParams, uniform: () => number): { actions: number[]; logProb: number } {
  return tidy(() => {
    const tensors = toTensors(shape, params, false);
    const actions: number[] = [];
    // Each step's distribution depends only on earlier choices: run the prefix with a placeholder for the rest.
    for (let d = 0; d < shape.choices.length; d++) {
      const probe = [...actions, ...new Array<number>(shape.choices.length - actions.length).fill(0)];
      const p = forward(shape, tensors, [probe]).steps[d]!.data() as Float64Array;
      const u = uniform();
      let index = 0;
      let cumulative = p[0]!;
      while (u >= cumulative && index < p.length - 1) cumulative += p[++index]!;
      actions.push(index);
    }
    return { actions, logProb: (forward(shape, tensors, [actions]).logProb.data() as Float64Array)[0]! };
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

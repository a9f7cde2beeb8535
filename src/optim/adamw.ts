/** Adam with decoupled weight decay, exactly as torch.optim.AdamW. */
import {
  foreachAdd_,
  foreachAddcdiv_,
  foreachAddcmul_,
  foreachDivScalar_,
  foreachMaximum_,
  foreachMul_,
  foreachSqrt,
  zerosLike,
  type Tensor,
} from '../torch/index.js';
import { Optimizer, type BaseHyperParams, type ParamGroupSpec, type ParamState } from './optimizer.js';

/** AdamW's hyper-parameters. */
export interface AdamWHyperParams extends BaseHyperParams {
  /** Decay rates of the first and second moment averages; default [0.9, 0.999]. */
  betas: readonly [number, number];
  /** Added to the denominator; default 1e-8. */
  eps: number;
  /** Use the maximum of past second moments (AMSGrad); default false. */
  amsgrad: boolean;
}

/** Options of AdamW: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 1e-2, amsgrad false by default. */
export type AdamWOptions = Partial<AdamWHyperParams>;

/**
 * torch.optim.AdamW: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 * p ← p − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps), with t each parameter's own step count.
 */
export class AdamW extends Optimizer<AdamWHyperParams> {
  constructor(params: readonly ParamGroupSpec<AdamWHyperParams>[] | readonly Tensor[], options: AdamWOptions = {}) {
    super(params, {
      lr: options.lr ?? 1e-3,
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 1e-2,
      amsgrad: options.amsgrad ?? false,
    });
  }

  protected validate(group: AdamWHyperParams, index: number): void {
    Optimizer.requireRange('AdamW', index, 'lr', group.lr, 0);
    Optimizer.requireRange('AdamW', index, 'eps', group.eps, 0);
    Optimizer.requireRange('AdamW', index, 'weightDecay', group.weightDecay, 0);
    if (!Array.isArray(group.betas) || group.betas.length !== 2) {
      throw new Error(`AdamW: group ${index} has betas = ${JSON.stringify(group.betas)}; expected two numbers in [0, 1)`);
    }
    Optimizer.requireRange('AdamW', index, 'betas[0]', group.betas[0], 0, 1 - Number.EPSILON);
    Optimizer.requireRange('AdamW', index, 'betas[1]', group.betas[1], 0, 1 - Number.EPSILON);
  }

  protected updateGroup(group: AdamWHyperParams, params: Tensor[], grads: Tensor[], states: ParamState[]): void {
    const { lr, eps, weightDecay, amsgrad } = group;
    const [beta1, beta2] = group.betas;
    const expAvgs: Tensor[] = [];
    const expAvgSqs: Tensor[] = [];
    const maxExpAvgSqs: Tensor[] = [];
    params.forEach((param, i) => {
      const state = states[i]!;
      const get = (name: string): Tensor => state.tensors.get(name) ?? this.setState(state, name, zerosLike(param));
      expAvgs.push(get('exp_avg'));
      expAvgSqs.push(get('exp_avg_sq'));
      if (amsgrad) maxExpAvgSqs.push(get('max_exp_avg_sq'));
    });
    foreachMul_(params, 1 - lr * weightDecay);
    foreachMul_(expAvgs, beta1);
    foreachAdd_(expAvgs, grads, 1 - beta1);
    foreachMul_(expAvgSqs, beta2);
    foreachAddcmul_(expAvgSqs, grads, grads, 1 - beta2);
    if (amsgrad) foreachMaximum_(maxExpAvgSqs, expAvgSqs);
    const second = amsgrad ? maxExpAvgSqs : expAvgSqs;
    // The bias corrections depend on each parameter's step; parameters normally share one, so this is one bucket.
    const buckets = new Map<number, number[]>();
    states.forEach((state, i) => {
      const bucket = buckets.get(state.step);
      if (bucket === undefined) buckets.set(state.step, [i]);
      else bucket.push(i);
    });
    for (const [step, indices] of buckets) {
      const biasCorrection1 = 1 - beta1 ** step;
      const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
      const stepSize = lr / biasCorrection1;
      const denominators = foreachSqrt(indices.map((i) => second[i]!));
      foreachDivScalar_(denominators, biasCorrection2Sqrt);
      foreachAdd_(denominators, eps);
      foreachAddcdiv_(
        indices.map((i) => params[i]!),
        indices.map((i) => expAvgs[i]!),
        denominators,
        -stepSize,
      );
    }
  }
}

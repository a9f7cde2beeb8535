/** RMSprop in TensorFlow's form, exactly as timm's RMSpropTF (the EfficientNet training optimizer). */
import {
  foreachAdd,
  foreachAdd_,
  foreachAddScalar,
  foreachAddcdiv_,
  foreachAddcmul,
  foreachMul,
  foreachMul_,
  foreachSqrt_,
  foreachSub,
  foreachSub_,
  onesLike,
  zerosLike,
  type Tensor,
} from '../torch/index.js';
import { Optimizer, type BaseHyperParams, type ParamGroupSpec, type ParamState } from './optimizer.js';

/** RMSpropTF's hyper-parameters. */
export interface RMSpropTFHyperParams extends BaseHyperParams {
  /** Decay of the squared-gradient average (TF's `decay`/`rho`); default 0.9. */
  alpha: number;
  /** Added to the squared-gradient average inside the square root; default 1e-3 (EfficientNet's recipe). */
  eps: number;
  /** Momentum factor; default 0.9 (0 disables the buffer). */
  momentum: number;
  /** Normalise by the estimated variance instead of the second moment; default false. */
  centered: boolean;
  /** Decay weights directly (p ← p·(1 − lr·wd)) instead of adding wd·p to the gradient; default false. */
  decoupledDecay: boolean;
  /** Fold the learning rate into the momentum buffer, as TF does; default true. */
  lrInMomentum: boolean;
}

/** Options of RMSpropTF: lr is required; the rest default as documented on RMSpropTFHyperParams, weightDecay 0. */
export type RMSpropTFOptions = Pick<RMSpropTFHyperParams, 'lr'> & Partial<RMSpropTFHyperParams>;

/**
 * timm's RMSpropTF: g ← grad + wd·p; s ← s + (1 − α)·(g² − s) with s starting at ONES; d = sqrt(s + eps)
 * (centered: sqrt(s − ḡ² + eps) with ḡ ← ḡ + (1 − α)·(g − ḡ)); with momentum buf ← μ·buf + lr·g/d and p ← p − buf
 * (lrInMomentum), or buf ← μ·buf + g/d and p ← p − lr·buf; without momentum p ← p − lr·g/d.
 */
export class RMSpropTF extends Optimizer<RMSpropTFHyperParams> {
  constructor(params: readonly ParamGroupSpec<RMSpropTFHyperParams>[] | readonly Tensor[], options: RMSpropTFOptions) {
    super(params, {
      lr: options.lr,
      alpha: options.alpha ?? 0.9,
      eps: options.eps ?? 1e-3,
      momentum: options.momentum ?? 0.9,
      weightDecay: options.weightDecay ?? 0,
      centered: options.centered ?? false,
      decoupledDecay: options.decoupledDecay ?? false,
      lrInMomentum: options.lrInMomentum ?? true,
    });
  }

  protected validate(group: RMSpropTFHyperParams, index: number): void {
    Optimizer.requireRange('RMSpropTF', index, 'lr', group.lr, 0);
    Optimizer.requireRange('RMSpropTF', index, 'alpha', group.alpha, 0, 1);
    Optimizer.requireRange('RMSpropTF', index, 'eps', group.eps, 0);
    Optimizer.requireRange('RMSpropTF', index, 'momentum', group.momentum, 0);
    Optimizer.requireRange('RMSpropTF', index, 'weightDecay', group.weightDecay, 0);
  }

  protected updateGroup(group: RMSpropTFHyperParams, params: Tensor[], rawGrads: Tensor[], states: ParamState[]): void {
    const { lr, alpha, eps, momentum, weightDecay, centered, decoupledDecay, lrInMomentum } = group;
    const squareAvgs: Tensor[] = [];
    const gradAvgs: Tensor[] = [];
    const buffers: Tensor[] = [];
    params.forEach((param, i) => {
      const state = states[i]!;
      squareAvgs.push(state.tensors.get('square_avg') ?? this.setState(state, 'square_avg', onesLike(param)));
      if (momentum > 0) buffers.push(state.tensors.get('momentum_buffer') ?? this.setState(state, 'momentum_buffer', zerosLike(param)));
      if (centered) gradAvgs.push(state.tensors.get('grad_avg') ?? this.setState(state, 'grad_avg', zerosLike(param)));
    });
    let grads = rawGrads;
    if (weightDecay !== 0) {
      if (decoupledDecay) foreachMul_(params, 1 - lr * weightDecay);
      else grads = foreachAdd(grads, params, weightDecay);
    }
    const oneMinusAlpha = 1 - alpha;
    // TF's order of operations: s += (1 − α)·(g² − s).
    const squareStep = foreachMul(grads, grads);
    foreachSub_(squareStep, squareAvgs);
    foreachAdd_(squareAvgs, squareStep, oneMinusAlpha);
    let denominators: Tensor[];
    if (centered) {
      const gradStep = foreachSub(grads, gradAvgs);
      foreachAdd_(gradAvgs, gradStep, oneMinusAlpha);
      denominators = foreachAddcmul(squareAvgs, gradAvgs, gradAvgs, -1);
      foreachAdd_(denominators, eps);
    } else {
      denominators = foreachAddScalar(squareAvgs, eps);
    }
    foreachSqrt_(denominators);
    if (momentum > 0) {
      foreachMul_(buffers, momentum);
      if (lrInMomentum) {
        foreachAddcdiv_(buffers, grads, denominators, lr);
        foreachSub_(params, buffers);
      } else {
        foreachAddcdiv_(buffers, grads, denominators, 1);
        foreachAdd_(params, buffers, -lr);
      }
    } else {
      foreachAddcdiv_(params, grads, denominators, -lr);
    }
  }
}

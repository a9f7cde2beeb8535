/** Stochastic gradient descent with momentum, exactly as torch.optim.SGD. */
import { clone, foreachAdd, foreachAdd_, foreachMul_, type Tensor } from '../torch/index.js';
import { Optimizer, type BaseHyperParams, type ParamGroupSpec, type ParamState } from './optimizer.js';

/** SGD's hyper-parameters. */
export interface SGDHyperParams extends BaseHyperParams {
  /** Momentum factor; 0 (default) disables the momentum buffer. */
  momentum: number;
  /** Dampening of the gradient added to the momentum buffer; default 0. */
  dampening: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0); default false. */
  nesterov: boolean;
}

/** Options of SGD: lr is required; momentum, dampening, weightDecay default 0, nesterov false. */
export type SGDOptions = Pick<SGDHyperParams, 'lr'> & Partial<SGDHyperParams>;

/**
 * torch.optim.SGD: g ← grad + wd·p; with momentum, buf ← g on the first step, then buf ← μ·buf + (1 − dampening)·g;
 * the step direction is g + μ·buf (Nesterov) or buf; p ← p − lr·direction. Parameter gradients are not changed.
 */
export class SGD extends Optimizer<SGDHyperParams> {
  constructor(params: readonly ParamGroupSpec<SGDHyperParams>[] | readonly Tensor[], options: SGDOptions) {
    super(params, {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      nesterov: options.nesterov ?? false,
      weightDecay: options.weightDecay ?? 0,
    });
  }

  protected validate(group: SGDHyperParams, index: number): void {
    Optimizer.requireRange('SGD', index, 'lr', group.lr, 0);
    Optimizer.requireRange('SGD', index, 'momentum', group.momentum, 0);
    Optimizer.requireRange('SGD', index, 'dampening', group.dampening, -Infinity);
    Optimizer.requireRange('SGD', index, 'weightDecay', group.weightDecay, 0);
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw new Error(`SGD: group ${index} asks for Nesterov momentum, which needs momentum > 0 and dampening 0 (got momentum ${group.momentum}, dampening ${group.dampening})`);
    }
  }

  protected updateGroup(group: SGDHyperParams, params: Tensor[], grads: Tensor[], states: ParamState[]): void {
    const { lr, momentum, dampening, nesterov, weightDecay } = group;
    let directions = weightDecay !== 0 ? foreachAdd(grads, params, weightDecay) : grads;
    if (momentum !== 0) {
      const buffers: Tensor[] = [];
      const updated: Tensor[] = [];
      const updatedGrads: Tensor[] = [];
      directions.forEach((g, i) => {
        const state = states[i]!;
        let buffer = state.tensors.get('momentum_buffer');
        if (buffer === undefined) {
          buffer = this.setState(state, 'momentum_buffer', clone(g));
        } else {
          updated.push(buffer);
          updatedGrads.push(g);
        }
        buffers.push(buffer);
      });
      if (updated.length > 0) {
        foreachMul_(updated, momentum);
        foreachAdd_(updated, updatedGrads, 1 - dampening);
      }
      directions = nesterov ? foreachAdd(directions, buffers, momentum) : buffers;
    }
    foreachAdd_(params, directions, -lr);
  }
}

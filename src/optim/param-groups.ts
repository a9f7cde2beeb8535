/** Parameter groups that exempt normalisation weights and biases from weight decay, as timm does. */
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';

/** Options of paramGroupsWithWeightDecay. */
export interface WeightDecayGroupOptions {
  /** Put 1-D parameters (BN weights and biases, every bias) in a group without decay; default true. */
  skipBnAndBias?: boolean;
  /** Further parameter names (dotted, as namedParameters gives them) to exempt from decay. */
  noWeightDecay?: readonly string[];
}

/** A parameter group with its weight decay, ready to pass to an optimizer. */
export interface WeightDecayGroup {
  /** The parameters. */
  params: Tensor[];
  /** Weight decay for them. */
  weightDecay: number;
}

/**
 * Splits a module's trainable parameters as timm's param_groups_weight_decay: parameters with at most one
 * dimension, names ending in ".bias" and names listed in `noWeightDecay` go to a group with weightDecay 0 (first),
 * the rest to a group with `weightDecay`. With skipBnAndBias false every trainable parameter gets `weightDecay`
 * (one group). Empty groups are left out.
 */
export function paramGroupsWithWeightDecay(
  module: Module,
  weightDecay: number,
  options: WeightDecayGroupOptions = {},
): WeightDecayGroup[] {
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new Error(`paramGroupsWithWeightDecay: weightDecay must be a finite number >= 0, got ${weightDecay}`);
  }
  const skip = options.skipBnAndBias ?? true;
  const exempt = new Set(options.noWeightDecay ?? []);
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, param] of module.namedParameters()) {
    if (!param.requiresGrad) continue;
    const skipThis = exempt.has(name) || (skip && (param.ndim <= 1 || name === 'bias' || name.endsWith('.bias')));
    (skipThis ? noDecay : decay).push(param);
  }
  const groups: WeightDecayGroup[] = [];
  if (noDecay.length > 0) groups.push({ params: noDecay, weightDecay: 0 });
  if (decay.length > 0) groups.push({ params: decay, weightDecay });
  return groups;
}

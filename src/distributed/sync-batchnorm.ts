/**
 * Sync batch norm: every BatchNorm2d of a module normalises with the statistics of the global batch (all ranks'
 * images) instead of its own shard's, through one differentiable allreduce per layer (ProcessGroup.
 * allreduceSumDifferentiable; the layer's composite forward is in src/nn/layers/batchnorm.ts). Works wherever the
 * process group does (Gloo on CPU; libtorch 1.13 has no CPU kernels for torch's own SyncBatchNorm).
 */
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Module } from '../nn/module.js';
import type { ProcessGroup } from '../torch/index.js';

/** Turns sync batch norm on for every BatchNorm2d in `module` (null turns it off); returns how many layers changed. */
export function useSyncBatchNorm(module: Module, group: ProcessGroup | null): number {
  let layers = 0;
  for (const child of module.modules()) {
    if (!(child instanceof BatchNorm2d)) continue;
    child.crossReplicaSum = group === null ? null : (statistics) => group.allreduceSumDifferentiable(statistics);
    layers += 1;
  }
  return layers;
}

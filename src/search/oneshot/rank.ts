/**
 * Ranking candidates with shared weights (SPOS, Guo et al. 2020, sec. 3.3): the running batch-norm statistics the
 * supernet accumulated during training mix every candidate's activations, so before a candidate is evaluated its
 * path's statistics are recomputed from a few training batches (a cumulative average, as PyTorch's momentum=None),
 * then its accuracy is measured on a validation subset in eval mode. The result is the shared-weight accuracy, the
 * cheap signal the one-shot search ranks by (docs/nas.md: how well it ranks is measured by the fidelity harness).
 */
import { BatchNorm2d } from '../../nn/index.js';
import { argmax, eq, fill_, noGrad, sum, tidy, zero_, type Tensor } from '../../torch/index.js';
import type { NetworkSpec } from '../../efficientnet/scaling.js';
import type { Supernet } from './supernet.js';

/** A batch of images (NCHW, normalised as the model expects) and their labels (int64 [N]). */
export interface LabelledBatch {
  images: Tensor;
  labels: Tensor;
}

/**
 * Recomputes the running statistics of every batch norm on `path` from `batches` (training-mode forwards without
 * gradients, cumulative average over the batches: the statistics are those of all their images, not a decayed
 * mix). Batch norms off the path keep theirs. The supernet's training mode is left as it was.
 * @throws Error when `batches` is empty
 */
export function recalibrateBatchNorm(supernet: Supernet, path: NetworkSpec, batches: readonly LabelledBatch[]): void {
  if (batches.length === 0) throw new Error('recalibrateBatchNorm: needs at least one training batch');
  const norms = supernet.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
  const saved = norms.map((bn) => bn.momentum);
  noGrad(() => {
    for (const bn of norms) {
      zero_(bn.runningMean!);
      fill_(bn.runningVar!, 1);
      zero_(bn.numBatchesTracked!);
      bn.momentum = null;
    }
  });
  const wasTraining = supernet.training;
  supernet.train();
  try {
    for (const batch of batches) tidy(() => noGrad(() => void supernet.forwardPath(batch.images, path)));
  } finally {
    norms.forEach((bn, i) => (bn.momentum = saved[i]!));
    supernet.train(wasTraining);
  }
}

/** Top-1 accuracy (0..1) of `path` on `batches`, eval mode (the mode is restored after), no gradients. */
export function pathAccuracy(supernet: Supernet, path: NetworkSpec, batches: readonly LabelledBatch[]): number {
  const wasTraining = supernet.training;
  supernet.eval();
  let correct = 0;
  let total = 0;
  try {
    for (const batch of batches) {
      correct += tidy(() => noGrad(() => sum(eq(argmax(supernet.forwardPath(batch.images, path), 1), batch.labels)).item()));
      total += batch.labels.shape[0]!;
    }
  } finally {
    supernet.train(wasTraining);
  }
  if (total === 0) throw new Error('pathAccuracy: the validation batches hold no images');
  return correct / total;
}

/**
 * The shared-weight accuracy of `path`: its batch-norm statistics recalibrated on `calibration` (training batches),
 * then top-1 on `validation`.
 */
export function sharedWeightAccuracy(supernet: Supernet, path: NetworkSpec, calibration: readonly LabelledBatch[], validation: readonly LabelledBatch[]): number {
  recalibrateBatchNorm(supernet, path, calibration);
  return pathAccuracy(supernet, path, validation);
}

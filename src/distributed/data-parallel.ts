/**
 * Data-parallel training over a c10d process group, DistributedDataParallel's contract without its C++ Reducer:
 * every rank starts from rank 0's parameters and buffers (after a check that every rank built the same model),
 * computes gradients on its shard of the global batch, and replaces them by their mean over ranks, allreduced in
 * flat buckets of about 25 MB after backward (the simpler first design the issue names; overlap with backward is
 * future work, to be taken only with a measured gain). With sync batch norm (sync-batchnorm.ts) and the loss
 * averaged over each rank's shard, the update equals one process's on the combined batch.
 */
import { cat, keep, narrow, noGrad, tensor, tidy, copy_, div_, type ProcessGroup, type Tensor } from '../torch/index.js';
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Module } from '../nn/module.js';

/** DDP's default bucket size. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** FNV-1a over a string, as two 16-bit halves (exact in any float type). */
function fingerprint(text: string): [number, number] {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return [hash >>> 16, hash & 0xffff];
}

/** The names, shapes and dtypes of a module's parameters and buffers, in order: what must agree between ranks. */
export function moduleLayout(module: Module): string {
  return [...module.namedParameters(), ...module.namedBuffers()].map(([name, t]) => `${name}:${t.dtype}[${t.shape.join(',')}]`).join(';');
}

/**
 * Rejects unless every rank's module has the same parameters and buffers (names, shapes, dtypes): a rank that
 * built another model, or another size of it, would otherwise allreduce mismatched gradients silently.
 */
export async function checkSameModule(group: ProcessGroup, module: Module): Promise<void> {
  const layout = moduleLayout(module);
  const [high, low] = fingerprint(layout);
  const numel = module.parameters().reduce((total, p) => total + p.numel, 0);
  const mine = tensor([high, low, numel], [3], { dtype: 'float64' });
  const all = await group.allgather(mine);
  const rows = all.map((t) => t.toArray());
  all.forEach((t) => t.dispose());
  mine.dispose();
  const differing = rows.flatMap((row, rank) => (row[0] !== high || row[1] !== low || row[2] !== numel ? [`rank ${rank} (${row[2]} parameters)`] : []));
  if (differing.length > 0) {
    throw new Error(`data-parallel: rank ${group.rank} built a model with ${numel} parameters that differs from ${differing.join(', ')}: every rank must build the same model (same configuration, classes and flags)`);
  }
}

/**
 * Copies rank 0's parameters and buffers into every rank's module: one flat broadcast per dtype, then each tensor
 * copied back from its slice (outside autograd: parameters are leaves and nothing records the copy).
 */
export async function broadcastModule(group: ProcessGroup, module: Module): Promise<void> {
  const byDtype = new Map<string, Tensor[]>();
  for (const t of [...module.parameters(), ...module.buffers()]) byDtype.set(t.dtype, [...(byDtype.get(t.dtype) ?? []), t]);
  for (const tensors of byDtype.values()) {
    const flat = tidy(() => keep(cat(tensors.map((t) => t.reshape([-1])))));
    try {
      await group.broadcast(flat, 0);
      copyBack(flat, tensors);
    } finally {
      flat.dispose();
    }
  }
}

/** How {@link distributeBatchNormStatistics} makes the ranks' running statistics agree (timm's --dist-bn). */
export type DistributedBatchNormMode = 'reduce' | 'broadcast';

/**
 * Makes every BatchNorm2d's running mean and variance the same on all ranks, as timm's distribute_bn does before
 * each evaluation when batch norm is not synchronised (each rank's statistics then come from its own shard only):
 * 'reduce' sets them to their mean over the ranks, 'broadcast' to rank 0's. One flat collective for all layers.
 * Returns how many tensors it changed (0 without batch norm).
 */
export async function distributeBatchNormStatistics(group: ProcessGroup, module: Module, mode: DistributedBatchNormMode): Promise<number> {
  const statistics: Tensor[] = [];
  for (const child of module.modules()) {
    if (!(child instanceof BatchNorm2d) || child.runningMean === null || child.runningVar === null) continue;
    statistics.push(child.runningMean, child.runningVar);
  }
  await distributeTensors(group, statistics, mode);
  return statistics.length;
}

/**
 * The state-dict names of every BatchNorm2d's running mean and variance in `module`, in module order: how a copy of
 * the module's state (an EMA's averaged tensors) finds its running statistics to pass to {@link distributeTensors}.
 */
export function batchNormStatisticNames(module: Module): string[] {
  const names: string[] = [];
  for (const [name, child] of module.namedModules()) {
    if (!(child instanceof BatchNorm2d) || child.runningMean === null || child.runningVar === null) continue;
    const prefix = name === '' ? '' : `${name}.`;
    names.push(`${prefix}running_mean`, `${prefix}running_var`);
  }
  return names;
}

/**
 * Makes floating tensors the same on all ranks, in place: their mean over the ranks ('reduce') or rank 0's
 * ('broadcast'). One flat collective for all of them; every rank must pass tensors of the same shapes in the same order.
 */
export async function distributeTensors(group: ProcessGroup, tensors: readonly Tensor[], mode: DistributedBatchNormMode): Promise<void> {
  if (tensors.length === 0) return;
  const flat = tidy(() => keep(cat(tensors.map((t) => t.reshape([-1])))));
  try {
    if (mode === 'broadcast') {
      await group.broadcast(flat, 0);
    } else {
      await group.allreduce(flat, 'sum');
      noGrad(() => div_(flat, group.worldSize));
    }
    copyBack(flat, tensors);
  } finally {
    flat.dispose();
  }
}

/** Copies consecutive slices of `flat` into `targets` (each its own shape). */
function copyBack(flat: Tensor, targets: readonly Tensor[]): void {
  tidy(() =>
    noGrad(() => {
      let offset = 0;
      for (const target of targets) {
        copy_(target, narrow(flat, 0, offset, target.numel).reshape(target.shape));
        offset += target.numel;
      }
    }),
  );
}

/** Parameters grouped into flat buckets of at most `bucketBytes` (a parameter larger than that gets its own). */
export function gradientBuckets(parameters: readonly Tensor[], bucketBytes = DEFAULT_BUCKET_BYTES): Tensor[][] {
  const buckets: Tensor[][] = [];
  let current: Tensor[] = [];
  let bytes = 0;
  // Reverse order, as DDP: the last layers' gradients are ready first (what overlapping with backward would use).
  for (const parameter of [...parameters].reverse()) {
    const size = parameter.numel * 4;
    if (current.length > 0 && bytes + size > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(parameter);
    bytes += size;
  }
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/**
 * Replaces every gradient by its mean over the ranks: one flat allreduce per bucket, then each gradient copied back
 * from its slice. By default a parameter without a gradient on this rank is refused (the ranks would disagree on the
 * bucket layout): every rank must run the same forward and backward. With `partial` (a weight-sharing supernet, whose
 * step trains one path: parameters off the path get no gradient), parameters without a gradient are left without
 * one, provided every rank agrees which they are: one small allreduce of the presence mask checks that first (the
 * ranks run the same path each step, so they agree unless something is wrong), and the optimizer then skips them on
 * every rank, as it does in one process.
 * @throws Error when a gradient is missing (without `partial`) or the ranks disagree on which are missing
 */
export async function averageGradients(group: ProcessGroup, buckets: readonly (readonly Tensor[])[], options: { partial?: boolean } = {}): Promise<void> {
  const has = (options.partial ?? false) ? await checkSameGradients(group, buckets) : null;
  for (const [b, bucket] of buckets.entries()) {
    const present = has === null ? bucket : bucket.filter((_, i) => has[b]![i]);
    if (present.length === 0) continue;
    const grads = present.map((p, i) => {
      const grad = p.grad;
      if (grad === null) throw new Error(`data-parallel: parameter ${i} of a bucket has no gradient on rank ${group.rank}; every rank must compute every gradient`);
      return grad;
    });
    const flat = tidy(() => keep(cat(grads.map((g) => g.reshape([-1])))));
    try {
      await group.allreduce(flat, 'sum');
      noGrad(() => div_(flat, group.worldSize));
      copyBack(flat, grads);
    } finally {
      flat.dispose();
      grads.forEach((g) => g.dispose());
    }
  }
}

/** Whether backward gave `parameter` a gradient (the handle asked for is freed at once). */
function hasGradient(parameter: Tensor): boolean {
  const grad = parameter.grad;
  grad?.dispose();
  return grad !== null;
}

/**
 * Which parameters of each bucket have a gradient on this rank; refuses a step where the ranks' differ (a sum of
 * presence flags of 0 or worldSize only).
 */
async function checkSameGradients(group: ProcessGroup, buckets: readonly (readonly Tensor[])[]): Promise<boolean[][]> {
  const has = buckets.map((bucket) => bucket.map(hasGradient));
  const flags = has.flat().map((present) => (present ? 1 : 0));
  const mask = tensor(Float32Array.from(flags), [flags.length]);
  try {
    await group.allreduce(mask, 'sum');
    const sums = mask.toFloat32Array();
    const split = sums.findIndex((v) => v !== 0 && v !== group.worldSize);
    if (split >= 0) {
      throw new Error(
        `data-parallel: parameter ${split} has a gradient on ${sums[split]} of ${group.worldSize} ranks (on rank ${group.rank}: ${flags[split] ? 'yes' : 'no'}); ` +
          'the ranks trained different paths in this step: every rank must draw the same path from (seed, step)',
      );
    }
  } finally {
    mask.dispose();
  }
  return has;
}

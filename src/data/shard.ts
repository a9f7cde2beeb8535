/**
 * One rank's part of an epoch's sample order in data-parallel training, with torch's DistributedSampler
 * semantics: the global order (the same on every rank) padded by repeating its head to a multiple of the world size
 * (or cut to one with dropLast), then every worldSize-th entry from the rank. With a per-rank batch of b, batch k of
 * the ranks together holds exactly the samples of batch k of one process with batch b·worldSize (when the dataset
 * divides evenly; otherwise the padding repeats a few samples, as DistributedSampler does).
 */
import { deriveSeed, permutation, Rng } from './rng.js';

/** The sample order of an epoch over the whole data set, the same on every rank: what DataLoader draws. */
export function epochOrder(size: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  return shuffle ? permutation(size, new Rng(deriveSeed(seed, epoch))) : Int32Array.from({ length: size }, (_, i) => i);
}

/** A rank of a data-parallel run. */
export interface ShardSpec {
  rank: number;
  worldSize: number;
  /**
   * Every worldSize-th sample from the rank and nothing more: no padding, so the ranks' shares differ by at most one
   * sample and together are the data set exactly once (for evaluation, where a repeated image would count twice).
   * Default false: DistributedSampler's padding (or cut, with dropLast) to equal shares, as training needs.
   */
  exact?: boolean;
}

/** Checks a shard spec; throws naming the bad field. */
export function checkShard(shard: ShardSpec): void {
  if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1) throw new Error(`shard: worldSize must be a positive integer, got ${shard.worldSize}`);
  if (!Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize) throw new Error(`shard: rank ${shard.rank} is not in 0..${shard.worldSize - 1}`);
}

/** The rank's entries of `order` (see the module comment). */
export function shardOrder(order: ArrayLike<number>, shard: ShardSpec, dropLast = false): Int32Array {
  checkShard(shard);
  const { rank, worldSize } = shard;
  if (shard.exact ?? false) return Int32Array.from({ length: shardLength(order.length, shard, dropLast) }, (_, i) => order[i * worldSize + rank]!);
  const perRank = shardLength(order.length, shard, dropLast);
  const out = new Int32Array(perRank);
  for (let i = 0; i < perRank; i++) out[i] = order[(i * worldSize + rank) % order.length]!;
  return out;
}

/** How many samples of `size` the rank gets (see {@link shardOrder}). */
export function shardLength(size: number, shard: ShardSpec, dropLast = false): number {
  if (shard.exact ?? false) return Math.max(0, Math.ceil((size - shard.rank) / shard.worldSize));
  return dropLast ? Math.floor(size / shard.worldSize) : Math.ceil(size / shard.worldSize);
}

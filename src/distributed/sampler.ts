/**
 * Which images each rank trains on, with torch's DistributedSampler semantics over the loader's own epoch order
 * (the permutation Rng(deriveSeed(seed, epoch)) that DataLoader draws, the same on every rank): padded by repeating
 * its head to a multiple of the world size (or cut to one with dropLast), then every worldSize-th index from the
 * rank (src/data/shard.ts). `new DataLoader(dataset, { ..., shard: { rank, worldSize } })` yields exactly these.
 */
import { epochOrder, shardOrder } from '../data/shard.js';

export { epochOrder };

/** Options of {@link distributedIndices}. */
export interface ShardOptions {
  /** Dataset size. */
  size: number;
  rank: number;
  worldSize: number;
  /** Shuffle each epoch; default true. */
  shuffle?: boolean;
  /** Seed shared by every rank (the loader's seed); default 0. */
  seed?: number;
  /** Epoch (shuffle changes with it); default 0. */
  epoch?: number;
  /** Drop the tail instead of padding; default false. */
  dropLast?: boolean;
}

/** This rank's indices for the epoch. */
export function distributedIndices(options: ShardOptions): number[] {
  const order = epochOrder(options.size, options.seed ?? 0, options.epoch ?? 0, options.shuffle ?? true);
  return [...shardOrder(order, { rank: options.rank, worldSize: options.worldSize }, options.dropLast ?? false)];
}

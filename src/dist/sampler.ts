/**
 * Which images each rank trains on, with torch's DistributedSampler semantics: one permutation of the dataset per
 * epoch (seeded by seed + epoch, the same on every rank), padded by repeating its first indices to a multiple of the
 * world size (or, with dropLast, cut to one), then every worldSize-th index starting at the rank. Consecutive
 * per-rank batches of b therefore make up, between them, the single-process batch of b·worldSize at the same step.
 */
import { Rng } from '../data/rng.js';

/** Options of {@link distributedIndices}. */
export interface ShardOptions {
  /** Dataset size. */
  size: number;
  rank: number;
  worldSize: number;
  /** Shuffle each epoch; default true. */
  shuffle?: boolean;
  /** Seed shared by every rank; default 0. */
  seed?: number;
  /** Epoch (shuffle changes with it); default 0. */
  epoch?: number;
  /** Drop the tail instead of padding; default false. */
  dropLast?: boolean;
}

/** The epoch's order of the whole dataset, the same on every rank (Fisher-Yates with our seeded generator). */
export function epochOrder(size: number, seed: number, epoch: number, shuffle: boolean): number[] {
  const order = Array.from({ length: size }, (_, i) => i);
  if (!shuffle) return order;
  const rng = new Rng(seed + epoch);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** This rank's indices for the epoch. */
export function distributedIndices(options: ShardOptions): number[] {
  const { size, rank, worldSize } = options;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new Error(`distributedIndices: worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new Error(`distributedIndices: rank ${rank} is not in 0..${worldSize - 1}`);
  const order = epochOrder(size, options.seed ?? 0, options.epoch ?? 0, options.shuffle ?? true);
  const perRank = options.dropLast ? Math.floor(size / worldSize) : Math.ceil(size / worldSize);
  const total = perRank * worldSize;
  const padded = order.slice(0, total);
  for (let i = 0; padded.length < total; i++) padded.push(order[i % order.length]!);
  const mine: number[] = [];
  for (let i = rank; i < total; i += worldSize) mine.push(padded[i]!);
  return mine;
}

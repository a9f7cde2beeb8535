/**
 * Assembling one batch: read (decode) the samples, transform each with a generator seeded by
 * (seed, epoch, sample index), and pack normalised Float32 NCHW pixels plus int64 labels. Shared by the loader's
 * worker threads and its in-thread mode, so results do not depend on which thread does the work.
 */
import type { ImageDataset, SampleError } from './dataset.js';
import { deriveSeed, Rng } from './rng.js';
import type { CompiledTransform } from './transforms/pipeline.js';

/** A packed batch as it crosses threads (buffers are transferred, not copied). */
export interface PackedBatch {
  /** count × 3 × size × size floats. */
  images: Float32Array;
  /** count labels. */
  labels: BigInt64Array;
  /** Samples that made it into the batch. */
  count: number;
  /** Data-set indices of the samples in the batch, in order. */
  indices: Int32Array;
  /** Samples that failed to decode and were left out. */
  skipped: { index: number; source: string; error: string }[];
}

/** The generator for sample `index` in `epoch`; independent of batch layout and worker assignment. */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return new Rng(deriveSeed(seed, epoch, index));
}

/** Reads, transforms and packs the samples at `indices` of `dataset` (size × size output). */
export async function assembleBatch(
  dataset: ImageDataset, transform: CompiledTransform, size: number, indices: Int32Array, seed: number, epoch: number,
): Promise<PackedBatch> {
  const results = await Promise.all(Array.from(indices, (i) => dataset.read(i)));
  const per = 3 * size * size;
  const good = results.filter((r) => r.ok).length;
  const images = new Float32Array(good * per);
  const labels = new BigInt64Array(good);
  const kept = new Int32Array(good);
  const skipped: PackedBatch['skipped'] = [];
  let k = 0;
  for (const r of results) {
    if (!r.ok) {
      const e = r as SampleError;
      skipped.push({ index: e.index, source: e.source, error: e.error });
      continue;
    }
    transform(r.image, sampleRng(seed, epoch, r.index), images, k * per);
    labels[k] = BigInt(r.label);
    kept[k] = r.index;
    k++;
  }
  return { images, labels, count: good, indices: kept, skipped };
}

/**
 * Fashion-MNIST for the engine bench (once for effnet demo): the IDX files held as bytes, a seeded shuffle (the
 * data pipeline's Rng and permutation, src/data/rng.ts), and batches normalised to float32 NCHW tensors with int64 labels.
 */
import { tensor, type Tensor } from '../../src/torch/index.js';
import { loadIdxSplit, type IdxSplit } from '../../src/data/idx.js';
import { permutation, Rng } from '../../src/data/rng.js';

/** Mean of Fashion-MNIST's training pixels scaled to [0, 1]. */
export const FASHION_MNIST_MEAN = 0.286;
/** Standard deviation of Fashion-MNIST's training pixels scaled to [0, 1]. */
export const FASHION_MNIST_STD = 0.353;

/** A batch: images [B, 1, rows, cols] float32 (normalised) and labels [B] int64, plus the labels as bytes. */
export interface Batch {
  /** Normalised images, NCHW. */
  images: Tensor;
  /** Class indices, int64. */
  labels: Tensor;
  /** The same labels in JS, for counting correct predictions without a round trip. */
  labelBytes: Uint8Array;
}

/** Builds the batch of the examples at `indices` of `split` (tensors belong to the current scope). */
export function makeBatch(split: IdxSplit, indices: ArrayLike<number>): Batch {
  const pixels = split.rows * split.cols;
  const n = indices.length;
  const data = new Float32Array(n * pixels);
  const labels = new BigInt64Array(n);
  const labelBytes = new Uint8Array(n);
  const scale = 1 / (255 * FASHION_MNIST_STD);
  const shift = FASHION_MNIST_MEAN / FASHION_MNIST_STD;
  for (let b = 0; b < n; b++) {
    const index = indices[b]!;
    const source = split.images.subarray(index * pixels, (index + 1) * pixels);
    const offset = b * pixels;
    for (let p = 0; p < pixels; p++) data[offset + p] = source[p]! * scale - shift;
    labelBytes[b] = split.labels[index]!;
    labels[b] = BigInt(split.labels[index]!);
  }
  return {
    images: tensor(data, [n, 1, split.rows, split.cols]),
    labels: tensor(labels, [n]),
    labelBytes,
  };
}

/** Endless shuffled mini-batches over a split: a fresh seeded permutation each epoch, the last partial batch dropped. */
export class BatchSampler {
  private readonly rng: Rng;
  private order: Int32Array;
  private position = 0;
  /** Completed passes over the data. */
  epoch = 0;

  constructor(
    readonly split: IdxSplit,
    readonly batchSize: number,
    seed: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > split.count) {
      throw new Error(`BatchSampler: batch size must be an integer in 1..${split.count}, got ${batchSize}`);
    }
    this.rng = new Rng(seed);
    this.order = permutation(split.count, this.rng);
  }

  /** The indices of the next batch. */
  nextIndices(): Int32Array {
    if (this.position + this.batchSize > this.order.length) {
      this.order = permutation(this.split.count, this.rng);
      this.position = 0;
      this.epoch += 1;
    }
    const indices = this.order.subarray(this.position, this.position + this.batchSize);
    this.position += this.batchSize;
    return indices;
  }

  /** The next batch as tensors in the current scope. */
  next(): Batch {
    return makeBatch(this.split, this.nextIndices());
  }
}

/** Loads the Fashion-MNIST train and test splits from `dir` (default: Debian's dataset-fashion-mnist location). */
export function loadFashionMnist(dir?: string): { train: IdxSplit; test: IdxSplit } {
  return { train: loadIdxSplit('train', dir), test: loadIdxSplit('test', dir) };
}

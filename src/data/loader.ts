/**
 * The data loader: yields batches of normalised Float32 NCHW images and int64 labels, decoded and augmented in
 * worker threads, several batches ahead of the consumer.
 *
 * Reproducibility: the sample order of epoch e is a permutation drawn from Rng(deriveSeed(seed, e)), and each
 * sample's augmentation draws come from Rng(deriveSeed(seed, e, index)); so the same seed gives the same batches,
 * bit for bit, whatever the number of workers, and a run can resume at any (epoch, batch) position.
 *
 * Corrupt or truncated images are left out of their batch (the batch is smaller) and listed in `skipped`; they
 * never stop the loader.
 */
import { Worker } from 'node:worker_threads';
import { assembleBatch, type PackedBatch } from './batch.js';
import type { ImageDataset } from './dataset.js';
import type { BatchRequest, LoaderWorkerData } from './loader-worker.js';
import { checkShard, epochOrder, shardLength, shardOrder, type ShardSpec } from './shard.js';
import { compileTransform, type CompiledTransform, type TransformSpec } from './transforms/pipeline.js';

/** Options of {@link DataLoader}. */
export interface LoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Preprocessing (train or eval spec); with `stages`, the transform of stage 0. */
  transform: TransformSpec;
  /**
   * Per-epoch preprocessing (progressive learning): epoch e uses `transforms[stageOf(e)]` (a different image size
   * or augmentation strength per stage). Every transform is compiled once, in every worker; the images are read and
   * decoded as they are either way (a cache=memory data set holds its pixels once, at their own size). Default:
   * `transform` for every epoch.
   */
  stages?: { transforms: TransformSpec[]; stageOf: (epoch: number) => number } | null;
  /** Shuffle each epoch (default true); false keeps data-set order. */
  shuffle?: boolean;
  /** Run seed for shuffling and augmentation (default 0). */
  seed?: number;
  /** Drop the last batch when it has fewer than batchSize samples (default false: keep it). */
  dropLast?: boolean;
  /** Worker threads (default 2); 0 assembles batches on the calling thread (for debugging and tests). */
  workers?: number;
  /** Batches requested ahead of the consumer (default 2 × workers, at least 1). */
  prefetch?: number;
  /**
   * Data-parallel rank: this loader yields only the rank's share of each epoch (src/data/shard.ts, DistributedSampler's
   * rule over the same seeded epoch order every rank draws), batchSize per rank. Augmentation is seeded per (epoch,
   * data-set index), so a sample is augmented identically whichever rank draws it. Default: no sharding.
   */
  shard?: ShardSpec | null;
}

/** Where a run stands: the next batch to produce is batch `batch` of epoch `epoch`. */
export interface LoaderPosition {
  /** Epoch, from 0. */
  epoch: number;
  /** Batch index within the epoch, from 0. */
  batch: number;
}

/** One batch as the trainer receives it. */
export interface Batch {
  /** Epoch of the batch. */
  epoch: number;
  /** Index of the batch within its epoch. */
  index: number;
  /** [count, 3, size, size]. */
  shape: [number, number, number, number];
  /** Normalised pixels, NCHW (its buffer is a transferable ArrayBuffer). */
  images: Float32Array;
  /** Class indices (int64). */
  labels: BigInt64Array;
  /** Data-set indices of the samples, in batch order. */
  indices: Int32Array;
  /** Samples of this batch that could not be decoded and were left out. */
  skipped: PackedBatch['skipped'];
  /** Position right after this batch (what to store in a checkpoint to resume). */
  next: LoaderPosition;
}

interface Pending {
  resolve: (batch: PackedBatch) => void;
  reject: (error: Error) => void;
}

/** Batches from an {@link ImageDataset}; call {@link close} when done (or use `await using`). */
export class DataLoader {
  /** The data set. */
  readonly dataset: ImageDataset;
  /** Normalised options. */
  readonly options: Required<Omit<LoaderOptions, 'shard' | 'stages'>> & { shard: ShardSpec | null };
  /** The transforms of the stages (one when the loader has no stages). */
  readonly transforms: readonly TransformSpec[];
  private readonly stageOf: (epoch: number) => number;
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private nextWorker = 0;
  private local: CompiledTransform[] | null = null;
  private closed = false;
  private failure: Error | null = null;

  /** Checks the options and starts the worker threads. */
  constructor(dataset: ImageDataset, options: LoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize <= 0) throw new Error(`batchSize must be a positive integer, got ${options.batchSize}`);
    const workers = options.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`workers must be a non-negative integer, got ${workers}`);
    const prefetch = options.prefetch ?? Math.max(1, 2 * workers);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new Error(`prefetch must be a positive integer, got ${prefetch}`);
    if (dataset.length === 0) throw new Error('the data set is empty; nothing to load');
    this.dataset = dataset;
    if (options.shard) checkShard(options.shard);
    this.options = { batchSize: options.batchSize, transform: options.transform, shuffle: options.shuffle ?? true, seed: options.seed ?? 0, dropLast: options.dropLast ?? false, workers, prefetch, shard: options.shard ?? null };
    this.transforms = options.stages ? [...options.stages.transforms] : [options.transform];
    if (this.transforms.length === 0) throw new Error('stages.transforms is empty; give at least one transform');
    this.stageOf = options.stages ? options.stages.stageOf : (): number => 0;
    const compiled = this.transforms.map((t) => compileTransform(t)); // validates the specs here, not in the workers
    if (workers === 0) {
      this.local = compiled;
      return;
    }
    const data: LoaderWorkerData = { source: dataset.source(), transforms: [...this.transforms], seed: this.options.seed };
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(new URL('./loader-worker.js', import.meta.url), { workerData: data });
      worker.on('message', (msg: { id: number; batch?: PackedBatch; error?: string }) => {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.batch) p.resolve(msg.batch);
        else p.reject(new Error(`data loader worker failed on a batch: ${msg.error}`));
      });
      worker.on('error', (error) => this.fail(new Error(`data loader worker ${w} crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`data loader worker ${w} exited unexpectedly with code ${code}`));
      });
      this.workers.push(worker);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  /** Samples this loader yields per epoch: the data set's, or the rank's share of it. */
  get samplesPerEpoch(): number {
    const { shard } = this.options;
    return shard === null ? this.dataset.length : shardLength(this.dataset.length, shard, this.options.dropLast);
  }

  /** Number of batches per epoch (the last partial one counted unless dropLast). */
  get batchesPerEpoch(): number {
    const n = this.samplesPerEpoch / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The sample order of `epoch` (data-set indices): the whole data set's, or the rank's share of it. */
  order(epoch: number): Int32Array {
    const global = epochOrder(this.dataset.length, this.options.seed, epoch, this.options.shuffle);
    return this.options.shard === null ? global : shardOrder(global, this.options.shard, this.options.dropLast);
  }

  /** The stage (index into {@link transforms}) of `epoch`. */
  stageOfEpoch(epoch: number): number {
    const stage = this.stageOf(epoch);
    if (!Number.isInteger(stage) || stage < 0 || stage >= this.transforms.length) throw new Error(`stageOf(${epoch}) is ${stage}; expected 0..${this.transforms.length - 1}`);
    return stage;
  }

  private request(epoch: number, stage: number, indices: Int32Array): Promise<PackedBatch> {
    if (this.closed) return Promise.reject(new Error('the data loader is closed; create a new one'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.local) return assembleBatch(this.dataset, this.local[stage]!, this.transforms[stage]!.size, indices, this.options.seed, epoch);
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker]!;
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return new Promise<PackedBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: BatchRequest = { id, epoch, stage, indices };
      worker.postMessage(message);
    });
  }

  /**
   * Yields the batches of `epoch` from batch `start` on (to resume a run, pass the position stored with the last
   * checkpoint), keeping `prefetch` batches in flight.
   */
  async *epoch(epoch: number, start = 0): AsyncGenerator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer, got ${epoch}`);
    const total = this.batchesPerEpoch;
    if (!Number.isInteger(start) || start < 0 || start > total) throw new Error(`start batch ${start} is out of range; epoch has ${total} batches`);
    const order = this.order(epoch);
    const bs = this.options.batchSize;
    const stage = this.stageOfEpoch(epoch);
    const size = this.transforms[stage]!.size;
    const inFlight: Promise<PackedBatch>[] = [];
    let next = start;
    const fill = (): void => {
      while (next < total && inFlight.length < this.options.prefetch) {
        inFlight.push(this.request(epoch, stage, order.slice(next * bs, Math.min((next + 1) * bs, order.length))));
        next++;
      }
    };
    try {
      for (let b = start; b < total; b++) {
        fill();
        const packed = await inFlight.shift()!;
        yield {
          epoch, index: b, shape: [packed.count, 3, size, size], images: packed.images, labels: packed.labels,
          indices: packed.indices, skipped: packed.skipped,
          next: b + 1 < total ? { epoch, batch: b + 1 } : { epoch: epoch + 1, batch: 0 },
        };
      }
    } finally {
      // A consumer that stops early leaves requests behind: their results are dropped when they arrive.
      for (const p of inFlight) p.catch(() => undefined);
    }
  }

  /** Batches from `position` to the end of `epochs` epochs in total, across epoch boundaries. */
  async *from(position: LoaderPosition, epochs: number): AsyncGenerator<Batch> {
    for (let e = position.epoch; e < epochs; e++) yield* this.epoch(e, e === position.epoch ? position.batch : 0);
  }

  /** Stops the worker threads; pending requests are rejected. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new Error('the data loader was closed while a batch was being prepared');
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }

  /** `await using loader = new DataLoader(...)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

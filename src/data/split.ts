/**
 * Subsets of a data set and a reproducible, seeded train/validation split for data sets that ship without one.
 */
import type { DatasetSource, ImageDataset, SampleResult } from './dataset.js';
import { checkIndex } from './dataset.js';
import { deriveSeed, permutation, Rng } from './rng.js';

/** The samples of `base` at `indices`, in that order. */
export class SubsetDataset implements ImageDataset {
  /** The underlying data set. */
  readonly base: ImageDataset;
  /** Positions in {@link base}. */
  readonly indices: Int32Array;

  /** @param indices positions in `base`, each checked to be in range */
  constructor(base: ImageDataset, indices: Int32Array) {
    for (const i of indices) checkIndex(i, base.length, 'SubsetDataset');
    this.base = base;
    this.indices = indices;
  }

  /** Number of samples in the subset. */
  get length(): number {
    return this.indices.length;
  }

  /** The base data set's classes. */
  get classes(): readonly string[] {
    return this.base.classes;
  }

  /** The label of subset sample `index`. */
  label(index: number): number {
    checkIndex(index, this.length, 'SubsetDataset');
    return this.base.label(this.indices[index]!);
  }

  /** Where subset sample `index` comes from. */
  describe(index: number): string {
    checkIndex(index, this.length, 'SubsetDataset');
    return this.base.describe(this.indices[index]!);
  }

  /** Encoded bytes of subset sample `index`, if the base has them. */
  encoded(index: number): Uint8Array | null {
    checkIndex(index, this.length, 'SubsetDataset');
    return this.base.encoded(this.indices[index]!);
  }

  /** Reads subset sample `index`; the result's `index` is the position in the subset. */
  async read(index: number): Promise<SampleResult> {
    checkIndex(index, this.length, 'SubsetDataset');
    const result = await this.base.read(this.indices[index]!);
    return { ...result, index };
  }

  /** See {@link ImageDataset.source}. */
  source(): DatasetSource {
    return { kind: 'subset', base: this.base.source(), indices: this.indices };
  }
}

/** Options of {@link trainValSplit}. */
export interface SplitOptions {
  /** Fraction of samples held out for validation, in (0, 1). */
  valSplit: number;
  /** Seed of the split (independent of training seeds). Default 0. */
  seed?: number;
  /**
   * Stratified (default true): each class contributes `round(classCount × valSplit)` validation samples, so class
   * proportions are the same in both parts. Otherwise `round(length × valSplit)` samples drawn from all classes.
   */
  stratified?: boolean;
}

/**
 * Splits a data set into train and validation subsets, reproducibly: the same data set, fraction, seed and
 * stratification always give the same two index lists (each sorted ascending), disjoint and covering every sample.
 */
export function trainValSplit(dataset: ImageDataset, options: SplitOptions): { train: SubsetDataset; val: SubsetDataset } {
  const { valSplit, seed = 0, stratified = true } = options;
  if (!(valSplit > 0 && valSplit < 1)) throw new Error(`valSplit must be a fraction in (0, 1), got ${valSplit}; e.g. 0.1 holds out 10%`);
  const isVal = new Uint8Array(dataset.length);
  if (stratified) {
    const byClass: number[][] = dataset.classes.map(() => []);
    for (let i = 0; i < dataset.length; i++) byClass[dataset.label(i)]!.push(i);
    byClass.forEach((members, label) => {
      const take = Math.round(members.length * valSplit);
      const order = permutation(members.length, new Rng(deriveSeed(seed, label)));
      for (let k = 0; k < take; k++) isVal[members[order[k]!]!] = 1;
    });
  } else {
    const take = Math.round(dataset.length * valSplit);
    const order = permutation(dataset.length, new Rng(deriveSeed(seed, -1 >>> 0)));
    for (let k = 0; k < take; k++) isVal[order[k]!] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < dataset.length; i++) (isVal[i] ? val : train).push(i);
  if (train.length === 0 || val.length === 0) {
    throw new Error(`valSplit ${valSplit} of ${dataset.length} samples leaves ${train.length} for training and ${val.length} for validation; both must be non-empty`);
  }
  return { train: new SubsetDataset(dataset, Int32Array.from(train)), val: new SubsetDataset(dataset, Int32Array.from(val)) };
}

/**
 * The common interface of every data set in data/: a fixed number of labelled images, read by index, plus a
 * structured-cloneable description ({@link DatasetSource}) from which a worker thread re-opens the same data set
 * without copying its bytes (large buffers are SharedArrayBuffers).
 */
import type { RgbImage } from './image.js';

/** A sample that decoded: its pixels and its class index. */
export interface Sample {
  /** Always true for a good sample. */
  ok: true;
  /** The sample's position in its data set. */
  index: number;
  /** Decoded 8-bit RGB pixels. */
  image: RgbImage;
  /** Class index into {@link ImageDataset.classes}. */
  label: number;
}

/** A sample that could not be read or decoded (corrupt or truncated file): reported, never thrown. */
export interface SampleError {
  /** Always false for a bad sample. */
  ok: false;
  /** The sample's position in its data set. */
  index: number;
  /** Its class index (known without decoding). */
  label: number;
  /** Where the sample came from (file path or archive member). */
  source: string;
  /** What went wrong. */
  error: string;
}

/** The result of reading one sample. */
export type SampleResult = Sample | SampleError;

/** What a worker needs to re-open a data set; only structured-cloneable values, large buffers shared. */
export type DatasetSource =
  | { kind: 'array'; pixels: SharedArrayBuffer; width: number; height: number; channels: 1 | 3; layout: 'hwc' | 'chw'; labels: SharedArrayBuffer; classes: string[]; name: string }
  | { kind: 'folder'; root: string; files: string[]; labels: Int32Array; classes: string[] }
  | { kind: 'tar'; path: string; bytes: SharedArrayBuffer; offsets: Float64Array; sizes: Float64Array; names: string[]; labels: Int32Array; classes: string[] }
  | { kind: 'subset'; base: DatasetSource; indices: Int32Array };

/** A labelled image data set. */
export interface ImageDataset {
  /** Number of samples. */
  readonly length: number;
  /** Class names; a label is an index into this list. */
  readonly classes: readonly string[];
  /** The label of sample `index`, without decoding it. */
  label(index: number): number;
  /** Where sample `index` comes from (a path, an archive member, `name[index]`), for messages. */
  describe(index: number): string;
  /** The encoded file of sample `index` (JPEG/PNG/... bytes), or null for data sets that store raw pixels. */
  encoded(index: number): Uint8Array | null;
  /** Reads and decodes sample `index`; a corrupt sample gives a {@link SampleError}, never an exception. */
  read(index: number): Promise<SampleResult>;
  /** A description from which openDataset (./open.ts) rebuilds this data set in another thread. */
  source(): DatasetSource;
}

/** Throws a clear error unless `index` is an integer in [0, length). */
export function checkIndex(index: number, length: number, what: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`${what}: sample index ${index} is out of range; expected an integer in [0, ${length})`);
  }
}

/** Copies bytes into a new SharedArrayBuffer so that worker threads can read them without a copy each. */
export function toShared(bytes: Uint8Array): SharedArrayBuffer {
  const shared = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(shared).set(bytes);
  return shared;
}

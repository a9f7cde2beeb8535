/**
 * Data sets stored as raw pixel arrays (Fashion-MNIST's IDX files, the CIFAR binary format): all images have one
 * size, pixels live in one SharedArrayBuffer, nothing needs decoding.
 */
import type { DatasetSource, ImageDataset, SampleResult } from './dataset.js';
import { checkIndex } from './dataset.js';
import type { RgbImage } from './image.js';

/** The description of a raw-pixel data set (see {@link DatasetSource}). */
export type ArraySource = Extract<DatasetSource, { kind: 'array' }>;

/**
 * Fixed-size images in one buffer: `count × height × width × channels` bytes (layout 'hwc', or 'chw' per image as
 * CIFAR stores them), one label byte per image. Greyscale (channels 1) is expanded to RGB on read.
 */
export class ArrayImageDataset implements ImageDataset {
  /** Class names. */
  readonly classes: readonly string[];
  /** Number of images. */
  readonly length: number;
  private readonly src: ArraySource;
  private readonly pixels: Uint8Array;
  private readonly labelBytes: Uint8Array;
  private readonly imageBytes: number;

  /** Wraps a description; checks that the buffers hold `labels.byteLength` images of the stated size. */
  constructor(src: ArraySource) {
    this.src = src;
    this.classes = src.classes;
    this.pixels = new Uint8Array(src.pixels);
    this.labelBytes = new Uint8Array(src.labels);
    this.length = this.labelBytes.length;
    this.imageBytes = src.width * src.height * src.channels;
    if (this.pixels.length !== this.length * this.imageBytes) {
      throw new Error(
        `${src.name}: ${this.pixels.length} pixel bytes do not hold ${this.length} images of ${src.width}x${src.height}x${src.channels}` +
          ` (${this.length * this.imageBytes} bytes expected); the files do not belong together`,
      );
    }
    for (let i = 0; i < this.length; i++) {
      if (this.labelBytes[i]! >= src.classes.length) {
        throw new Error(`${src.name}: label ${this.labelBytes[i]} of sample ${i} is not below the number of classes (${src.classes.length}); the label data is corrupt`);
      }
    }
  }

  /** The label of sample `index`. */
  label(index: number): number {
    checkIndex(index, this.length, this.src.name);
    return this.labelBytes[index]!;
  }

  /** `name[index]`. */
  describe(index: number): string {
    return `${this.src.name}[${index}]`;
  }

  /** Always null: these data sets store raw pixels. */
  encoded(): null {
    return null;
  }

  /** The pixels of sample `index` as RGB (cannot fail once the data set opened). */
  pixelsOf(index: number): RgbImage {
    checkIndex(index, this.length, this.src.name);
    const { width, height, channels, layout } = this.src;
    const n = width * height;
    const base = index * this.imageBytes;
    const data = new Uint8Array(n * 3);
    const p = this.pixels;
    if (channels === 1) {
      for (let i = 0; i < n; i++) data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = p[base + i]!;
    } else if (layout === 'chw') {
      for (let i = 0; i < n; i++) {
        data[i * 3] = p[base + i]!;
        data[i * 3 + 1] = p[base + n + i]!;
        data[i * 3 + 2] = p[base + 2 * n + i]!;
      }
    } else {
      data.set(p.subarray(base, base + n * 3));
    }
    return { data, width, height };
  }

  /** Reads sample `index`. */
  async read(index: number): Promise<SampleResult> {
    return { ok: true, index, image: this.pixelsOf(index), label: this.label(index) };
  }

  /** See {@link ImageDataset.source}. */
  source(): DatasetSource {
    return this.src;
  }
}

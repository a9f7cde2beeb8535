/**
 * An image folder packed in a tar or tar.gz archive, read without unpacking to disk: the archive is decompressed
 * into one SharedArrayBuffer (worker threads read it without copies), its members are indexed once, and each
 * sample is a slice of that buffer. The archive may hold `<class>/<image>` directly or under one top folder
 * (`train/<class>/<image>`), or under a folder chosen with `root`.
 */
import { readInputFile } from '../input-file.js';
import type { DatasetSource } from './dataset.js';
import { checkIndex, toShared } from './dataset.js';
import { EncodedImageDataset, groupByClass, isImageFile, isUnreadableImage } from './encoded-dataset.js';
import { listTar, maybeGunzip } from './tar.js';

/** Options of {@link TarImageDataset.open}. */
export interface TarDatasetOptions {
  /**
   * Folder inside the archive whose sub-folders are the classes (e.g. 'train'). Default: the archive's single top
   * folder when every image lies under the same one and at least two levels below it, else the archive root.
   */
  root?: string;
}

/** Timings of the last {@link TarImageDataset.open}, in milliseconds. */
export interface TarIndexTimings {
  /** Reading the file. */
  readMs: number;
  /** Gunzip (0 for a plain tar). */
  gunzipMs: number;
  /** Walking the headers and grouping members into classes. */
  indexMs: number;
}

/** Images read from members of an in-memory tar archive. */
export class TarImageDataset extends EncodedImageDataset {
  /** The archive's path. */
  readonly path: string;
  /** Member path (inside the archive) of each sample. */
  readonly names: readonly string[];
  /** How long opening took (set by {@link open}; zero when re-opened from a source). */
  readonly timings: TarIndexTimings;
  private readonly bytes: SharedArrayBuffer;
  private readonly view: Uint8Array;
  private readonly offsets: Float64Array;
  private readonly sizes: Float64Array;

  private constructor(
    path: string, bytes: SharedArrayBuffer, offsets: Float64Array, sizes: Float64Array, names: string[],
    labels: Int32Array, classes: string[], timings: TarIndexTimings,
  ) {
    super(classes, labels);
    this.path = path;
    this.bytes = bytes;
    this.view = new Uint8Array(bytes);
    this.offsets = offsets;
    this.sizes = sizes;
    this.names = names;
    this.timings = timings;
  }

  /** Reads, decompresses (if gzipped) and indexes the archive at `path`. */
  static open(path: string, options: TarDatasetOptions = {}): TarImageDataset {
    const t0 = performance.now();
    const file = readInputFile(path, 'archiveBytes', 'tar archive');
    const t1 = performance.now();
    const archive = maybeGunzip(file, path);
    const t2 = performance.now();
    const members = listTar(archive, path);
    const images = members.filter((m) => isImageFile(m.name));
    let root = options.root?.replace(/^\.?\/+|\/+$/g, '');
    if (root === undefined) {
      const tops = new Set(images.map((m) => m.name.split('/')[0]));
      const deep = images.every((m) => m.name.split('/').length >= 3);
      root = tops.size === 1 && deep ? [...tops][0]! : '';
    }
    const prefix = root ? `${root}/` : '';
    const byRel = new Map<string, { offset: number; size: number }>();
    for (const m of images) if (m.name.startsWith(prefix)) byRel.set(m.name.slice(prefix.length), m);
    const { classes, files, labels } = groupByClass([...byRel.keys()], `${path}${root ? ` (folder ${root})` : ''}`);
    const offsets = new Float64Array(files.length);
    const sizes = new Float64Array(files.length);
    files.forEach((rel, i) => {
      const m = byRel.get(rel)!;
      offsets[i] = m.offset;
      sizes[i] = m.size;
    });
    const bytes = toShared(archive);
    const t3 = performance.now();
    const dataset = new TarImageDataset(path, bytes, offsets, sizes, files.map((f) => prefix + f), labels, classes, {
      readMs: t1 - t0, gunzipMs: t2 - t1, indexMs: t3 - t2,
    });
    dataset.ignoredFiles = members.filter((m) => m.name.startsWith(prefix) && isUnreadableImage(m.name)).map((m) => `${path}:${m.name}`);
    return dataset;
  }

  /** Re-opens an archive data set from its {@link source}, sharing the decompressed bytes. */
  static fromSource(src: Extract<DatasetSource, { kind: 'tar' }>): TarImageDataset {
    return new TarImageDataset(src.path, src.bytes, src.offsets, src.sizes, src.names, src.labels, src.classes, { readMs: 0, gunzipMs: 0, indexMs: 0 });
  }

  /** `archive:member` of sample `index`. */
  describe(index: number): string {
    checkIndex(index, this.length, 'TarImageDataset');
    return `${this.path}:${this.names[index]}`;
  }

  /** The member's bytes (a view into the shared archive buffer; do not modify). */
  encoded(index: number): Uint8Array {
    checkIndex(index, this.length, 'TarImageDataset');
    return this.view.subarray(this.offsets[index]!, this.offsets[index]! + this.sizes[index]!);
  }

  /** See {@link ImageDataset.source}. */
  source(): DatasetSource {
    return {
      kind: 'tar', path: this.path, bytes: this.bytes, offsets: this.offsets, sizes: this.sizes, names: [...this.names],
      labels: this.labels, classes: [...this.classes],
    };
  }
}

/**
 * Shared behaviour of data sets whose samples are encoded image files (folders, tar archives): decode with sharp
 * and turn any read or decode failure into a per-sample {@link SampleError}.
 */
import type { DatasetSource, ImageDataset, SampleResult } from './dataset.js';
import { checkIndex } from './dataset.js';
import { decodeImage } from './image.js';
import { BadFileError } from '../errors.js';

/** Base class: subclasses provide the bytes and labels, this class decodes and reports failures per sample. */
export abstract class EncodedImageDataset implements ImageDataset {
  /** Class names, sorted by name (torchvision ImageFolder order). */
  readonly classes: readonly string[];
  /** One label per sample. */
  protected readonly labels: Int32Array;
  /**
   * Files in the class folders whose extension says image but which effnet cannot decode (.bmp, ...), left out:
   * the commands name them instead of training without them in silence.
   */
  ignoredFiles: readonly string[] = [];

  /** @param classes class names; @param labels one class index per sample */
  protected constructor(classes: readonly string[], labels: Int32Array) {
    this.classes = classes;
    this.labels = labels;
  }

  /** Number of samples. */
  get length(): number {
    return this.labels.length;
  }

  /** The label of sample `index`. */
  label(index: number): number {
    checkIndex(index, this.length, this.constructor.name);
    return this.labels[index]!;
  }

  /** The file path or archive member of sample `index`. */
  abstract describe(index: number): string;
  /** The encoded bytes of sample `index` (throws if the file cannot be read). */
  abstract encoded(index: number): Uint8Array;
  /** See {@link ImageDataset.source}. */
  abstract source(): DatasetSource;

  /** Reads and decodes sample `index`; failures come back as a SampleError. */
  async read(index: number): Promise<SampleResult> {
    const label = this.label(index);
    const where = this.describe(index);
    try {
      const image = await decodeImage(this.encoded(index), where);
      return { ok: true, index, image, label };
    } catch (error) {
      return { ok: false, index, label, source: where, error: error instanceof Error ? error.message : String(error) };
    }
  }
}

/** File name extensions (lower case, with the dot) that count as images in folders and archives: what sharp decodes (predict reads the same). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif'];

/** Image formats other tools train on (torchvision's ImageFolder reads them with PIL) that effnet cannot decode. */
export const UNREADABLE_IMAGE_EXTENSIONS: readonly string[] = ['.bmp', '.ppm', '.pgm', '.pbm', '.heic', '.ico', '.jp2', '.tga'];

/** True when `name` has an image extension effnet cannot decode ({@link UNREADABLE_IMAGE_EXTENSIONS}). */
export function isUnreadableImage(name: string): boolean {
  const lower = name.toLowerCase();
  return UNREADABLE_IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** True when `name` ends with one of {@link IMAGE_EXTENSIONS} (case-insensitive). */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Orders image paths relative to a class folder as torchvision's ImageFolder does (`sorted(os.walk(...))`, then
 * sorted file names): by directory first, then by file name, comparing code points.
 */
export function compareImagePaths(a: string, b: string): number {
  const ia = a.lastIndexOf('/');
  const ib = b.lastIndexOf('/');
  const da = ia < 0 ? '' : a.slice(0, ia);
  const db = ib < 0 ? '' : b.slice(0, ib);
  if (da !== db) return da < db ? -1 : 1;
  const fa = a.slice(ia + 1);
  const fb = b.slice(ib + 1);
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/**
 * Groups `root`-relative image paths of the form `<class>/.../<file>` into sorted classes and labelled samples, in
 * ImageFolder order. Paths not inside a class folder are ignored. Throws if no class folder holds an image.
 */
export function groupByClass(paths: readonly string[], where: string): { classes: string[]; files: string[]; labels: Int32Array; ignored: string[] } {
  const byClass = new Map<string, string[]>();
  const ignored: string[] = [];
  for (const path of paths) {
    const slash = path.indexOf('/');
    if (slash > 0 && isUnreadableImage(path)) ignored.push(path);
    if (slash <= 0 || !isImageFile(path)) continue;
    const cls = path.slice(0, slash);
    let list = byClass.get(cls);
    if (!list) byClass.set(cls, (list = []));
    list.push(path.slice(slash + 1));
  }
  const classes = [...byClass.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (classes.length === 0) {
    throw new BadFileError(
      `${where}: found no images in class folders; expected the layout <root>/<class>/<image>.{${IMAGE_EXTENSIONS.map((e) => e.slice(1)).join(',')}}`,
    );
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((cls, label) => {
    for (const rel of byClass.get(cls)!.sort(compareImagePaths)) {
      files.push(`${cls}/${rel}`);
      labels.push(label);
    }
  });
  return { classes, files, labels: Int32Array.from(labels), ignored };
}

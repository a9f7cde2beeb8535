/**
 * A folder of images in torchvision ImageFolder layout: `root/<class>/**\/*.{jpg,jpeg,png,webp}`. Classes are the
 * sub-folder names sorted by code point; samples are ordered by class, then directory, then file name.
 */
import { readdirSync, statSync } from 'node:fs';
import { readInputFile } from '../input-file.js';
import { join, relative, sep } from 'node:path';
import type { DatasetSource } from './dataset.js';
import { checkIndex } from './dataset.js';
import { EncodedImageDataset, groupByClass } from './encoded-dataset.js';

function walk(dir: string, root: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const st = statSync(path, { throwIfNoEntry: false });
      isDir = st?.isDirectory() ?? false;
      isFile = st?.isFile() ?? false;
    }
    if (isDir) walk(path, root, out);
    else if (isFile) out.push(relative(root, path).split(sep).join('/'));
  }
}

/** Images read from a class-per-folder directory tree. */
export class ImageFolderDataset extends EncodedImageDataset {
  /** The folder whose sub-folders are the classes. */
  readonly root: string;
  /** Image paths relative to {@link root}, `<class>/<file>`, in sample order. */
  readonly files: readonly string[];

  private constructor(root: string, classes: string[], files: string[], labels: Int32Array) {
    super(classes, labels);
    this.root = root;
    this.files = files;
  }

  /** Scans `root` once (recursively) and indexes its images. Throws if it is missing or has no class folder with images. */
  static open(root: string): ImageFolderDataset {
    const st = statSync(root, { throwIfNoEntry: false });
    if (!st?.isDirectory()) {
      throw new Error(`image folder ${root} ${st ? 'is not a directory' : 'does not exist'}; expected <root>/<class>/<image> files`);
    }
    const paths: string[] = [];
    walk(root, root, paths);
    const { classes, files, labels, ignored } = groupByClass(paths, root);
    const dataset = new ImageFolderDataset(root, classes, files, labels);
    dataset.ignoredFiles = ignored.map((rel) => `${root}/${rel}`);
    return dataset;
  }

  /** Re-opens a folder data set from its {@link source} without rescanning. */
  static fromSource(src: Extract<DatasetSource, { kind: 'folder' }>): ImageFolderDataset {
    return new ImageFolderDataset(src.root, src.classes, src.files, src.labels);
  }

  /** The path of sample `index`. */
  describe(index: number): string {
    checkIndex(index, this.length, 'ImageFolderDataset');
    return join(this.root, this.files[index]!);
  }

  /** The file's bytes. */
  encoded(index: number): Uint8Array {
    return readInputFile(this.describe(index), 'imageFileBytes', 'image');
  }

  /** See {@link ImageDataset.source}. */
  source(): DatasetSource {
    return { kind: 'folder', root: this.root, files: [...this.files], labels: this.labels, classes: [...this.classes] };
  }
}

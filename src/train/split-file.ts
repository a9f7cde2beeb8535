/**
 * `split.json`: the seeded hold-out of a data spec written down, so that another program (the PyTorch reference in
 * bench/train/small_images_reference.py) validates on exactly the images `effnet train` validated on.
 *
 * The file records the data spec, `valSplit`, the split seed, the class names (label order), the folder inside the
 * data whose sub-folders are the classes (`root`, '' when they are at the top), the validation items' names in the
 * order the run reads them (tar member paths for an archive, paths relative to the folder for an image folder, the
 * data set's own description otherwise) with their labels, and the number of training items: every other image, or,
 * when the spec keeps a subset of them (`train=N`), the training items' names too (`trainNames`).
 * `effnet train` writes it into the run directory whenever it makes a hold-out; `effnet train --write-split FILE`
 * writes it without training.
 */
import { UserError } from '../errors.js';
import { writeFileSync } from 'node:fs';
import { makeDirectory } from '../directories.js';
import { dirname } from 'node:path';
import type { ImageDataset } from '../data/dataset.js';
import { ImageFolderDataset } from '../data/image-folder.js';
import { SubsetDataset } from '../data/split.js';
import { TarImageDataset } from '../data/tar-dataset.js';
import { DecodedImageDataset, type ResolvedData } from '../data/spec.js';

/** The file name `effnet train` writes into the run directory. */

/** The split seed of the hold-outs `effnet train` and `effnet eval` make unless a spec says seed= (src/data/spec.ts's default). */
export const SPLIT_SEED = 0;

/** The JSON content of a split file. */
export interface SplitFile {
  /** Format version (1). */
  format: 1;
  /** The data spec as given to --data. */
  data: string;
  /** What kind of data the spec named ('tar', 'folder', 'cifar-binary', ...). */
  kind: ResolvedData['kind'];
  /** Fraction held out (a spec's val=N as N / number of images). */
  valSplit: number;
  /** Seed of the hold-out (the spec's seed=, else 0). */
  splitSeed: number;
  /** Class names in label order. */
  classes: string[];
  /**
   * The folder (inside the archive, or '' for an image folder's own root) whose sub-folders are the classes, with a
   * trailing '/' unless empty: an item `root + class + '/' + file` has the label of `class`.
   */
  root: string;
  /** Number of training items (all the data set's images but the validation ones). */
  trainCount: number;
  /** Number of validation items. */
  valCount: number;
  /** Validation item names in the order the run reads them. */
  valNames: string[];
  /** Their labels (indices into `classes`). */
  valLabels: number[];
  /** The training items' names, only when they are not all the images outside the hold-out (a spec's train=N). */
  trainNames?: string[];
}

/** Thrown when a spec has no hold-out to write (its data bring their own validation split). */
export class SplitFileError extends UserError {
  override name = 'SplitFileError';
}

/** The name of item `index` of `dataset` (unwrapping subsets): tar member path, folder-relative path, or describe(). */
export function itemName(dataset: ImageDataset, index: number): string {
  if (dataset instanceof SubsetDataset) return itemName(dataset.base, dataset.indices[index]!);
  if (dataset instanceof DecodedImageDataset) return itemName(dataset.original, index);
  if (dataset instanceof TarImageDataset) return dataset.names[index]!;
  if (dataset instanceof ImageFolderDataset) return dataset.files[index]!;
  return dataset.describe(index);
}

/** The class folder prefix of `dataset`'s names ('' or 'train/'), read off its first item. */
function rootOf(dataset: ImageDataset): string {
  if (dataset.length === 0) return '';
  const name = itemName(dataset, 0);
  const cls = dataset.classes[dataset.label(0)]!;
  if (name.startsWith(`${cls}/`)) return '';
  const at = name.indexOf(`/${cls}/`);
  return at < 0 ? '' : name.slice(0, at + 1);
}

/**
 * The split file of resolved data (`spec` as given to --data); throws {@link SplitFileError} when the data have their
 * own validation split (no seeded hold-out was made, so there is nothing to record).
 */
export function splitFileFor(spec: string, data: ResolvedData): SplitFile {
  if (data.holdOut === null) {
    throw new SplitFileError(`--data ${spec} brings its own validation split (${data.validation}); there is no hold-out to write (split files exist for data without one: a folder or a .tar.gz of class folders, or a spec with val=)`);
  }
  const { train, val } = data;
  const names = (dataset: ImageDataset): string[] => Array.from({ length: dataset.length }, (_, i) => itemName(dataset, i));
  const valLabels = Array.from({ length: val.length }, (_, i) => val.label(i));
  const total = val instanceof SubsetDataset ? val.base.length : null;
  return {
    format: 1, data: spec, kind: data.kind, valSplit: data.holdOut.valSplit, splitSeed: data.holdOut.seed, classes: [...data.classes], root: rootOf(val),
    trainCount: train.length, valCount: val.length, valNames: names(val), valLabels,
    ...(total !== null && train.length + val.length === total ? {} : { trainNames: names(train) }),
  };
}

/** Whether the validation set of `data` is a seeded hold-out of its training images. */
export function isHoldOut(data: ResolvedData): boolean {
  return data.holdOut !== null;
}

/** Writes a split file (creating its folder): the header fields one per line, then one validation item per line. */
export function writeSplitFile(path: string, split: SplitFile): void {
  makeDirectory(dirname(path));
  const { valNames, valLabels, trainNames, ...header } = split;
  const list = (names: readonly string[]): string => `[\n${names.map((n) => `    ${JSON.stringify(n)}`).join(',\n')}\n  ]`;
  const lines = Object.entries(header).map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`);
  lines.push(`  "valNames": ${list(valNames)},`);
  lines.push(`  "valLabels": [${valLabels.join(', ')}]${trainNames === undefined ? '' : ','}`);
  if (trainNames !== undefined) lines.push(`  "trainNames": ${list(trainNames)}`);
  writeFileSync(path, `{\n${lines.join('\n')}\n}\n`);
}

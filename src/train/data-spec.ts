/**
 * Data specs of `effnet train` / `effnet eval` resolved to training and validation data sets:
 *
 * - `fashion-mnist` (Debian's IDX files) or `fashion-mnist:DIR`: the 60,000 training images; its own 10,000-image
 *   test split is the validation set.
 * - a folder `root/<class>/<image>`: a seeded, stratified hold-out of `valSplit` (default 0.1) is the validation
 *   set; a folder with `train/` and `val/` (or `test/`) sub-folders uses those instead.
 * - a `.tar`, `.tar.gz` or `.tgz` of such a folder (read in place): the same seeded hold-out.
 * - a CIFAR binary folder (`data_batch_1.bin` ... or `train.bin`): the `test_batch.bin` / `test.bin` split when it
 *   is present, else the seeded hold-out.
 *
 * The hold-out depends on the data, `valSplit` and `splitSeed` only (never on the training seed), so `effnet eval`
 * with the same spec scores the same images the run validated on.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openCifarBinary } from '../data/cifar-binary.js';
import type { ImageDataset } from '../data/dataset.js';
import { openFashionMnist } from '../data/fashion-mnist.js';
import { FASHION_MNIST_DIR } from '../data/idx.js';
import { ImageFolderDataset } from '../data/image-folder.js';
import { trainValSplit } from '../data/split.js';
import { TarImageDataset } from '../data/tar-dataset.js';

/** Raised for a data spec that names nothing usable; the CLI turns it into exit code 2. */
export class DataSpecError extends Error {
  override name = 'DataSpecError';
}

/** Options of {@link resolveData}. */
export interface DataSpecOptions {
  /** Fraction held out for validation when the data has no split of its own; default 0.1. */
  valSplit?: number;
  /** Seed of that hold-out; default 0. */
  splitSeed?: number;
}

/** Training and validation data sets of a spec. */
export interface ResolvedData {
  /** Training images. */
  train: ImageDataset;
  /** Validation images. */
  val: ImageDataset;
  /** Class names (label order). */
  classes: string[];
  /** What kind of data the spec named. */
  kind: 'fashion-mnist' | 'folder' | 'tar' | 'cifar-binary';
  /** Where the validation images come from, for messages and the run configuration. */
  validation: string;
  /** Longest side of the stored images when every image has the same size (IDX, CIFAR), else null. */
  nativeSize: number | null;
}

const TAR_PATTERN = /\.(tar|tar\.gz|tgz)$/i;

function checkValSplit(valSplit: number): void {
  if (!(Number.isFinite(valSplit) && valSplit > 0 && valSplit < 1)) {
    throw new DataSpecError(`--val-split must be a fraction in (0, 1), got ${valSplit}; e.g. 0.1 holds out 10% for validation`);
  }
}

function heldOut(base: ImageDataset, options: DataSpecOptions, kind: ResolvedData['kind'], nativeSize: number | null): ResolvedData {
  const valSplit = options.valSplit ?? 0.1;
  checkValSplit(valSplit);
  const splitSeed = options.splitSeed ?? 0;
  const { train, val } = trainValSplit(base, { valSplit, seed: splitSeed });
  return { train, val, classes: [...base.classes], kind, validation: `seeded hold-out of ${valSplit} (split seed ${splitSeed}, ${val.length} images)`, nativeSize };
}

function isCifarBinaryDir(dir: string): boolean {
  return existsSync(join(dir, 'data_batch_1.bin')) || existsSync(join(dir, 'train.bin'));
}

function splitFolders(dir: string): { train: string; val: string } | null {
  const train = join(dir, 'train');
  if (!existsSync(train) || !statSync(train).isDirectory()) return null;
  for (const name of ['val', 'validation', 'test']) {
    const val = join(dir, name);
    if (existsSync(val) && statSync(val).isDirectory()) return { train, val };
  }
  return null;
}

function sameClasses(a: readonly string[], b: readonly string[], where: string): void {
  if (a.length !== b.length || a.some((name, i) => name !== b[i])) {
    throw new DataSpecError(`${where}: the training and validation folders have different classes ([${a.join(', ')}] vs [${b.join(', ')}]); give both the same class sub-folders`);
  }
}

/** Resolves a data spec (see the module comment) to its training and validation data sets. */
export function resolveData(spec: string, options: DataSpecOptions = {}): ResolvedData {
  if (spec === 'fashion-mnist' || spec.startsWith('fashion-mnist:')) {
    const dir = spec === 'fashion-mnist' ? FASHION_MNIST_DIR : spec.slice('fashion-mnist:'.length);
    if (!existsSync(dir)) {
      throw new DataSpecError(`Fashion-MNIST folder ${dir} does not exist; install Debian's dataset-fashion-mnist package or pass --data fashion-mnist:DIR with the IDX files`);
    }
    const train = openFashionMnist('train', dir);
    const val = openFashionMnist('test', dir);
    return { train, val, classes: [...train.classes], kind: 'fashion-mnist', validation: `Fashion-MNIST test split (${val.length} images)`, nativeSize: 28 };
  }
  if (!existsSync(spec)) {
    throw new DataSpecError(`data path ${spec} does not exist; expected fashion-mnist, an image folder <root>/<class>/<image>, a .tar/.tar.gz of one, or a CIFAR binary folder`);
  }
  const stat = statSync(spec);
  if (stat.isFile()) {
    if (!TAR_PATTERN.test(spec)) throw new DataSpecError(`data file ${spec} is not a .tar, .tar.gz or .tgz archive; pass an archive of <class>/<image> folders or a folder`);
    return heldOut(TarImageDataset.open(spec), options, 'tar', null);
  }
  if (isCifarBinaryDir(spec)) {
    const train = openCifarBinary(spec, { split: 'train' });
    const hasTest = existsSync(join(spec, 'test_batch.bin')) || existsSync(join(spec, 'test.bin'));
    if (!hasTest) return heldOut(train, options, 'cifar-binary', 32);
    const val = openCifarBinary(spec, { split: 'test' });
    return { train, val, classes: [...train.classes], kind: 'cifar-binary', validation: `CIFAR test split (${val.length} images)`, nativeSize: 32 };
  }
  const split = splitFolders(spec);
  if (split !== null) {
    const train = ImageFolderDataset.open(split.train);
    const val = ImageFolderDataset.open(split.val);
    sameClasses(train.classes, val.classes, spec);
    return { train, val, classes: [...train.classes], kind: 'folder', validation: `folder ${split.val} (${val.length} images)`, nativeSize: null };
  }
  return heldOut(ImageFolderDataset.open(spec), options, 'folder', null);
}

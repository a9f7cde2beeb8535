/**
 * The CIFAR-10 / CIFAR-100 "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html): records of label
 * byte(s) followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32×32). CIFAR-10 records have
 * one label byte (3073 bytes); CIFAR-100 records have a coarse then a fine label byte (3074 bytes).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArrayImageDataset } from './array-dataset.js';
import { toShared } from './dataset.js';

/** CIFAR-10's class names in label order (as in batches.meta.txt). */
export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Options of {@link openCifarBinary}. */
export interface CifarBinaryOptions {
  /** 'cifar10' (3073-byte records) or 'cifar100' (3074-byte records). Default: guessed from the file names. */
  variant?: 'cifar10' | 'cifar100';
  /** CIFAR-100 only: use the 'fine' (100 classes, default) or 'coarse' (20 classes) label. */
  labels?: 'fine' | 'coarse';
  /** 'train' or 'test' when `path` is a directory (default 'train'). */
  split?: 'train' | 'test';
}

const PIXELS = 3072;

function readNames(path: string, expected: number): string[] | null {
  if (!existsSync(path)) return null;
  const names = readFileSync(path, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== expected) throw new Error(`${path}: has ${names.length} class names; expected ${expected}`);
  return names;
}

/**
 * Opens CIFAR binary files: either a list of `.bin` files, or a directory holding `data_batch_1..5.bin` /
 * `test_batch.bin` (CIFAR-10) or `train.bin` / `test.bin` (CIFAR-100). Class names come from `batches.meta.txt`
 * or `fine_label_names.txt` / `coarse_label_names.txt` beside the files when present; otherwise CIFAR-10's known
 * names, or `class_<i>` for CIFAR-100.
 */
export function openCifarBinary(path: string | readonly string[], options: CifarBinaryOptions = {}): ArrayImageDataset {
  let files: string[];
  let dir: string | null = null;
  if (typeof path === 'string' && statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    dir = path;
    const split = options.split ?? 'train';
    const c10 = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
    const c100 = [`${split}.bin`];
    const candidates = options.variant === 'cifar100' ? [c100] : options.variant === 'cifar10' ? [c10] : [c10, c100];
    const found = candidates.find((names) => names.every((n) => existsSync(join(path, n))));
    if (!found) {
      throw new Error(`${path}: no CIFAR ${split} files found; expected ${candidates.map((c) => c.join(', ')).join(' or ')}`);
    }
    files = found.map((n) => join(path, n));
  } else {
    files = typeof path === 'string' ? [path] : [...path];
    if (files.length === 0) throw new Error('openCifarBinary: no files given; pass a directory or a list of .bin files');
    dir = files[0]!.includes('/') ? files[0]!.slice(0, files[0]!.lastIndexOf('/')) : '.';
  }
  const variant = options.variant ?? (files.some((f) => /(^|\/)(train|test)\.bin$/.test(f)) ? 'cifar100' : 'cifar10');
  const recordSize = variant === 'cifar100' ? PIXELS + 2 : PIXELS + 1;
  const labelOffset = variant === 'cifar100' && options.labels === 'coarse' ? 0 : recordSize - PIXELS - 1;
  const chunks: Uint8Array[] = [];
  let count = 0;
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read CIFAR file ${file}: ${error instanceof Error ? error.message : String(error)}; check the path`);
    }
    if (bytes.length === 0 || bytes.length % recordSize !== 0) {
      throw new Error(
        `${file}: ${bytes.length} bytes is not a whole number of ${variant} records of ${recordSize} bytes; ` +
          `the file is truncated${variant === 'cifar10' ? ' or is CIFAR-100 (pass variant: "cifar100")' : ' or is CIFAR-10 (pass variant: "cifar10")'}`,
      );
    }
    chunks.push(bytes);
    count += bytes.length / recordSize;
  }
  const pixels = new SharedArrayBuffer(count * PIXELS);
  const labels = new SharedArrayBuffer(count);
  const pv = new Uint8Array(pixels);
  const lv = new Uint8Array(labels);
  let i = 0;
  for (const bytes of chunks) {
    for (let r = 0; r < bytes.length; r += recordSize, i++) {
      lv[i] = bytes[r + labelOffset]!;
      pv.set(bytes.subarray(r + recordSize - PIXELS, r + recordSize), i * PIXELS);
    }
  }
  let classes: string[] | null;
  if (variant === 'cifar10') classes = readNames(join(dir, 'batches.meta.txt'), 10) ?? [...CIFAR10_CLASSES];
  else if (options.labels === 'coarse') classes = readNames(join(dir, 'coarse_label_names.txt'), 20) ?? Array.from({ length: 20 }, (_, k) => `class_${k}`);
  else classes = readNames(join(dir, 'fine_label_names.txt'), 100) ?? Array.from({ length: 100 }, (_, k) => `class_${k}`);
  return new ArrayImageDataset({
    kind: 'array', name: files.length === 1 ? files[0]! : `${dir} (${variant})`, pixels, labels, width: 32, height: 32,
    channels: 3, layout: 'chw', classes,
  });
}

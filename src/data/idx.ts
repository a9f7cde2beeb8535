/**
 * Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian header
 * (two zero bytes, a type code, the number of dimensions, then one uint32 per dimension) followed by the raw
 * elements. Only unsigned bytes (type 0x08) are supported, which is what the image and label files use. Files may
 * be gzipped (detected from the content, not the name).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Magic number of an IDX file of unsigned bytes with three dimensions (images: count, rows, cols). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Magic number of an IDX file of unsigned bytes with one dimension (labels: count). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** A stack of greyscale images, row-major, one byte (0..255) per pixel. */
export interface IdxImages {
  /** count × rows × cols pixels. */
  images: Uint8Array;
  /** Number of images. */
  count: number;
  /** Height of each image. */
  rows: number;
  /** Width of each image. */
  cols: number;
}

/** One class label (a byte) per example. */
export interface IdxLabels {
  /** One label per example. */
  labels: Uint8Array;
  /** Number of labels. */
  count: number;
}

/** A decoded IDX file of unsigned bytes: its dimensions and its elements. */
export interface IdxArray {
  /** Size of each dimension, from the header. */
  dims: number[];
  /** The elements, row-major (a view on the decoded file). */
  data: Uint8Array;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1;
}

/**
 * Decodes an IDX file of unsigned bytes from memory (gzipped or not) and checks that its header matches its length.
 * @param bytes the file's content
 * @param source a name for error messages (usually the path)
 * @param expectedDims the number of dimensions the caller needs (3 for images, 1 for labels), or undefined for any
 */
export function parseIdx(bytes: Uint8Array, source = '<buffer>', expectedDims?: number): IdxArray {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (error) {
      throw new Error(
        `${source}: gzip data is corrupt (${error instanceof Error ? error.message : String(error)}); ` +
          're-download or reinstall the file (Debian: apt-get install --reinstall dataset-fashion-mnist)',
      );
    }
  }
  if (raw.length < 4) {
    throw new Error(`${source}: ${raw.length} bytes is too short for an IDX header (needs at least 4); the file is truncated or not IDX`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = view.getUint32(0, false);
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new Error(`${source}: bad IDX magic number ${hex} (the first two bytes must be zero); this is not an IDX file`);
  }
  const typeCode = raw[2]!;
  if (typeCode !== 0x08) {
    throw new Error(
      `${source}: IDX element type 0x${typeCode.toString(16).padStart(2, '0')} is not supported (magic ${hex}); ` +
        'only unsigned bytes (0x08), as used by MNIST-style image and label files, can be read',
    );
  }
  const ndim = raw[3]!;
  if (expectedDims !== undefined && ndim !== expectedDims) {
    throw new Error(
      `${source}: IDX magic ${hex} declares ${ndim} dimension(s) but ${expectedDims} were expected ` +
        `(${expectedDims === 3 ? 'an images file, magic 0x00000803' : expectedDims === 1 ? 'a labels file, magic 0x00000801' : `magic 0x000008${expectedDims.toString(16).padStart(2, '0')}`}); ` +
        'did you swap the images and labels files?',
    );
  }
  if (ndim === 0) throw new Error(`${source}: IDX header declares 0 dimensions; expected at least 1`);
  const headerLength = 4 + 4 * ndim;
  if (raw.length < headerLength) {
    throw new Error(`${source}: IDX header needs ${headerLength} bytes for ${ndim} dimension(s) but the file has ${raw.length}; it is truncated`);
  }
  const dims: number[] = [];
  let elements = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    elements *= d;
  }
  const available = raw.length - headerLength;
  if (available !== elements) {
    throw new Error(
      `${source}: IDX header declares dimensions [${dims.join(', ')}] = ${elements} bytes of data but the file holds ${available}; ` +
        (available < elements ? 'it is truncated' : 'it has trailing bytes') + ' (re-download or reinstall it)',
    );
  }
  return { dims, data: raw.subarray(headerLength) };
}

/** Reads an IDX images file (magic 0x00000803, gzipped or not): count × rows × cols bytes. */
export function readIdxImages(path: string): IdxImages {
  const { dims, data } = parseIdx(readFile(path), path, 3);
  return { images: data, count: dims[0]!, rows: dims[1]!, cols: dims[2]! };
}

/** Reads an IDX labels file (magic 0x00000801, gzipped or not): one byte per example. */
export function readIdxLabels(path: string): IdxLabels {
  const { dims, data } = parseIdx(readFile(path), path, 1);
  return { labels: data, count: dims[0]! };
}

function readFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot read IDX file ${path} (${code ?? (error instanceof Error ? error.message : String(error))}); ` +
        (code === 'ENOENT' ? 'check the path, or install the data set (Debian: apt-get install dataset-fashion-mnist)' : 'check its permissions'),
    );
  }
}

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Names of Fashion-MNIST's ten classes, by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** One split of an MNIST-style data set: images and the matching labels. */
export interface IdxSplit extends IdxImages {
  /** One label per image. */
  labels: Uint8Array;
}

/**
 * Loads the train or test split of an MNIST-style data set laid out with the standard file names
 * (`train-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, ...), checking that images and labels agree.
 * @param split 'train' (60,000 images for Fashion-MNIST) or 'test' (10,000)
 * @param dir the folder; default Debian's Fashion-MNIST location
 */
export function loadIdxSplit(split: 'train' | 'test', dir: string = FASHION_MNIST_DIR): IdxSplit {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdxImages(findFile(dir, `${prefix}-images-idx3-ubyte`));
  const { labels, count } = readIdxLabels(findFile(dir, `${prefix}-labels-idx1-ubyte`));
  if (count !== images.count) {
    throw new Error(`${dir}: the ${split} split has ${images.count} images but ${count} labels; the files do not belong together`);
  }
  return { ...images, labels };
}

function findFile(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `${dir}: neither ${stem}.gz nor ${stem} exists; point to a folder with the MNIST-style files ` +
      '(Debian: apt-get install dataset-fashion-mnist puts Fashion-MNIST in /usr/share/datasets/fashion-mnist)',
  );
}

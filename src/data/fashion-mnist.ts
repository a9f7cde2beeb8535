/**
 * Fashion-MNIST (or any MNIST-style IDX data set) as an {@link ImageDataset}: 28×28 greyscale images, returned as
 * RGB with three equal channels. Reads the files with the IDX reader in ./idx.ts.
 */
import { ArrayImageDataset } from './array-dataset.js';
import { toShared } from './dataset.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadIdxSplit } from './idx.js';

/**
 * Opens the train (60,000 images) or test (10,000 images) split of an MNIST-style data set.
 * @param split 'train' or 'test'
 * @param dir folder with `train-images-idx3-ubyte[.gz]` etc.; default Debian's Fashion-MNIST location
 * @param classes class names; default Fashion-MNIST's ten
 */
export function openFashionMnist(split: 'train' | 'test', dir: string = FASHION_MNIST_DIR, classes: readonly string[] = FASHION_MNIST_CLASSES): ArrayImageDataset {
  if (split !== 'train' && split !== 'test') throw new Error(`Fashion-MNIST split must be 'train' or 'test', got ${String(split)}`);
  const data = loadIdxSplit(split, dir);
  return new ArrayImageDataset({
    kind: 'array', name: `fashion-mnist/${split}`, pixels: toShared(data.images), labels: toShared(data.labels),
    width: data.cols, height: data.rows, channels: 1, layout: 'hwc', classes: [...classes],
  });
}

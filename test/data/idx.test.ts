import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FASHION_MNIST_DIR, loadIdxSplit, parseIdx, readIdxImages, readIdxLabels } from '../../src/data/idx.js';

/** Builds an IDX file of unsigned bytes by hand: 0x00 0x00 0x08 ndim, big-endian dims, data. */
function idxBytes(dims: number[], data: number[], typeCode = 0x08): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header[2] = typeCode;
  header[3] = dims.length;
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'effnet-idx-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('hand-written IDX images and labels, plain and gzipped', () => {
  const pixels = [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]; // 2 images of 2x3
  const images = idxBytes([2, 2, 3], pixels);
  assert.deepEqual([...images.subarray(0, 4)], [0, 0, 8, 3]);
  const labels = idxBytes([2], [7, 9]);
  for (const gz of [false, true]) {
    const imgPath = join(tmp, `img${gz ? '.gz' : ''}`);
    const lblPath = join(tmp, `lbl${gz ? '.gz' : ''}`);
    writeFileSync(imgPath, gz ? gzipSync(images) : images);
    writeFileSync(lblPath, gz ? gzipSync(labels) : labels);
    const read = readIdxImages(imgPath);
    assert.equal(read.count, 2);
    assert.equal(read.rows, 2);
    assert.equal(read.cols, 3);
    assert.deepEqual([...read.images], pixels);
    const readLabels = readIdxLabels(lblPath);
    assert.equal(readLabels.count, 2);
    assert.deepEqual([...readLabels.labels], [7, 9]);
  }
});

test('loadIdxSplit finds the standard file names (without .gz too) and pairs images with labels', () => {
  const dir = mkdtempSync(join(tmp, 'split-'));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([1, 1, 2], [10, 20]));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes([1], [3])));
  const split = loadIdxSplit('test', dir);
  assert.equal(split.count, 1);
  assert.deepEqual([...split.images], [10, 20]);
  assert.deepEqual([...split.labels], [3]);
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes([2], [3, 4])));
  assert.throws(() => loadIdxSplit('test', dir), /1 images but 2 labels/);
  assert.throws(() => loadIdxSplit('train', dir), /neither train-images-idx3-ubyte\.gz nor train-images-idx3-ubyte exists/);
});

test('corrupt and wrong files give clear errors', () => {
  const write = (name: string, bytes: Uint8Array): string => {
    const path = join(tmp, name);
    writeFileSync(path, bytes);
    return path;
  };
  // Truncated data: header says 2x2x3 = 12 bytes, only 11 present.
  assert.throws(() => readIdxImages(write('trunc', idxBytes([2, 2, 3], new Array(11).fill(0)))), /12 bytes of data but the file holds 11; it is truncated/);
  // Trailing bytes.
  assert.throws(() => readIdxLabels(write('trail', idxBytes([2], [1, 2, 3]))), /trailing bytes/);
  // Truncated header.
  assert.throws(() => readIdxImages(write('shorthdr', idxBytes([2, 2, 3], []).subarray(0, 9))), /header needs 16 bytes .* truncated/);
  assert.throws(() => readIdxImages(write('tiny', new Uint8Array([0, 0]))), /too short for an IDX header/);
  // Bad magic: not IDX at all.
  assert.throws(() => readIdxImages(write('png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]))), /bad IDX magic number 0x89504e47/);
  // Unsupported element type (float32 = 0x0d).
  assert.throws(() => readIdxImages(write('float', idxBytes([1, 1, 1], [0, 0, 0, 0], 0x0d))), /element type 0x0d is not supported/);
  // Labels file passed where images are expected, and the other way round.
  const labelsPath = write('labels', idxBytes([2], [1, 2]));
  assert.throws(() => readIdxImages(labelsPath), /declares 1 dimension\(s\) but 3 were expected .*swap/);
  assert.throws(() => readIdxLabels(write('images', idxBytes([1, 1, 1], [5]))), /declares 3 dimension\(s\) but 1 were expected/);
  // Corrupt gzip: valid gzip magic, damaged body.
  const gz = gzipSync(idxBytes([2], [1, 2]));
  const damaged = gz.slice(0, gz.length - 6);
  assert.throws(() => readIdxLabels(write('bad.gz', damaged)), /gzip data is corrupt/);
  // Missing file.
  assert.throws(() => readIdxLabels(join(tmp, 'does-not-exist')), /cannot read IDX file .*ENOENT.*dataset-fashion-mnist/);
  // parseIdx on memory works without a path.
  assert.deepEqual(parseIdx(idxBytes([3], [1, 2, 3])).dims, [3]);
});

const haveFashion = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

test('the real Fashion-MNIST files', { skip: haveFashion ? false : `${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)` }, () => {
  const train = loadIdxSplit('train');
  const testSplit = loadIdxSplit('test');
  assert.equal(train.count, 60000);
  assert.equal(testSplit.count, 10000);
  for (const split of [train, testSplit]) {
    assert.equal(split.rows, 28);
    assert.equal(split.cols, 28);
    assert.equal(split.images.length, split.count * 28 * 28);
    assert.equal(split.labels.length, split.count);
    // Ten classes 0..9, balanced: 6,000 each in train, 1,000 each in test (as published).
    const perClass = new Array<number>(10).fill(0);
    for (const label of split.labels) {
      assert.ok(label <= 9, `label ${label} out of range 0..9`);
      perClass[label]!++;
    }
    assert.deepEqual(perClass, new Array(10).fill(split.count / 10));
    let max = 0;
    for (const p of split.images) if (p > max) max = p;
    assert.equal(max, 255);
  }
  // Published first labels of the train split: 9 (ankle boot), 0 (T-shirt), 0, 3 (dress).
  assert.deepEqual([...train.labels.subarray(0, 4)], [9, 0, 0, 3]);
});

/**
 * Data sets: an image folder and the same folder as tar.gz give identical samples; corrupt and truncated images
 * are reported per sample; grayscale becomes RGB; the CIFAR binary format; the seeded train/validation split.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openCifarBinary } from '../../src/data/cifar-binary.js';
import type { ImageDataset, Sample } from '../../src/data/dataset.js';
import { ImageFolderDataset } from '../../src/data/image-folder.js';
import { openDataset } from '../../src/data/open.js';
import { trainValSplit } from '../../src/data/split.js';
import { TarImageDataset } from '../../src/data/tar-dataset.js';

/** Builds root/{cat,dog,emu}/... with PNG, JPEG, WebP, a grayscale PNG, a corrupt and a truncated JPEG. */
export async function buildTinyFolder(dir: string): Promise<string> {
  const root = join(dir, 'pets');
  for (const c of ['dog', 'cat', 'emu']) mkdirSync(join(root, c), { recursive: true });
  const rgb = (w: number, h: number, k: number): Buffer => Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 7 + k * 31) % 256));
  const raw = (w: number, h: number, k: number) => sharp(rgb(w, h, k), { raw: { width: w, height: h, channels: 3 } });
  writeFileSync(join(root, 'cat', 'b.png'), await raw(9, 7, 1).png().toBuffer());
  writeFileSync(join(root, 'cat', 'a.jpg'), await raw(12, 10, 2).jpeg({ quality: 90 }).toBuffer());
  writeFileSync(join(root, 'dog', 'x.webp'), await raw(8, 8, 3).webp({ lossless: true }).toBuffer());
  writeFileSync(join(root, 'dog', 'gray.png'), await sharp(Buffer.from(Array.from({ length: 30 }, (_, i) => i * 8)), { raw: { width: 6, height: 5, channels: 1 } }).png().toBuffer());
  const jpeg = await raw(16, 16, 4).jpeg().toBuffer();
  writeFileSync(join(root, 'emu', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  writeFileSync(join(root, 'emu', 'corrupt.jpg'), Buffer.from('this is not a jpeg at all'));
  writeFileSync(join(root, 'emu', 'ok.jpg'), jpeg);
  writeFileSync(join(root, 'emu', 'notes.txt'), 'ignored');
  return root;
}

async function readAll(ds: ImageDataset) {
  return Promise.all(Array.from({ length: ds.length }, (_, i) => ds.read(i)));
}

test('image folder and its tar.gz give identical samples; bad images are reported, not thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-data-'));
  try {
    const root = await buildTinyFolder(dir);
    execFileSync('tar', ['czf', join(dir, 'pets.tar.gz'), '-C', dir, 'pets']);
    execFileSync('tar', ['cf', join(dir, 'flat.tar'), '-C', root, '.']);
    const folder = ImageFolderDataset.open(root);
    const tgz = TarImageDataset.open(join(dir, 'pets.tar.gz'));
    const flat = TarImageDataset.open(join(dir, 'flat.tar'));
    assert.deepEqual(folder.classes, ['cat', 'dog', 'emu']);
    assert.deepEqual(folder.files, ['cat/a.jpg', 'cat/b.png', 'dog/gray.png', 'dog/x.webp', 'emu/corrupt.jpg', 'emu/ok.jpg', 'emu/truncated.jpg']);
    for (const other of [tgz, flat, openDataset(tgz.source())]) {
      assert.deepEqual(other.classes, folder.classes);
      assert.equal(other.length, folder.length);
      for (let i = 0; i < folder.length; i++) {
        assert.deepEqual(other.encoded(i), new Uint8Array(readFileSync(folder.describe(i))));
        assert.equal(other.label(i), folder.label(i));
      }
    }
    const a = await readAll(folder);
    const b = await readAll(tgz);
    assert.deepEqual(a.map((r) => r.ok), [true, true, true, true, false, true, false]);
    for (let i = 0; i < a.length; i++) {
      assert.equal(a[i]!.ok, b[i]!.ok);
      if (a[i]!.ok) assert.deepEqual((b[i] as Sample).image, (a[i] as Sample).image);
    }
    const gray = (a[2] as Sample).image;
    assert.equal(gray.data.length, 6 * 5 * 3, 'grayscale decodes to 3 channels');
    assert.deepEqual([...gray.data.subarray(0, 6)], [0, 0, 0, 8, 8, 8]);
    const png = (a[1] as Sample).image;
    assert.deepEqual([png.width, png.height, png.data[4]], [9, 7, (4 * 7 + 31) % 256], 'lossless PNG keeps pixels');
    for (const bad of [a[4]!, a[6]!]) {
      assert.equal(bad.ok, false);
      if (!bad.ok) {
        assert.equal(bad.label, 2);
        assert.match(bad.error, /cannot decode image .*(corrupt|truncated)/);
      }
    }
    assert.throws(() => TarImageDataset.open(join(dir, 'missing.tar')), /could not read tar archive/);
    writeFileSync(join(dir, 'cut.tar.gz'), readFileSync(join(dir, 'pets.tar.gz')).subarray(0, 100));
    assert.throws(() => TarImageDataset.open(join(dir, 'cut.tar.gz')), /gzip data is corrupt or truncated/);
    assert.throws(() => ImageFolderDataset.open(join(dir, 'nope')), /does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CIFAR-10 and CIFAR-100 binary records decode to HWC RGB with the right labels', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-cifar-'));
  try {
    const record = (labels: number[], k: number): Buffer => {
      const px = Buffer.alloc(3072);
      for (let i = 0; i < 3072; i++) px[i] = (i * 3 + k) % 251;
      return Buffer.concat([Buffer.from(labels), px]);
    };
    writeFileSync(join(dir, 'data_batch_1.bin'), Buffer.concat([record([3], 0), record([9], 1)]));
    const c10 = openCifarBinary(join(dir, 'data_batch_1.bin'));
    assert.equal(c10.length, 2);
    assert.deepEqual([c10.label(0), c10.label(1)], [3, 9]);
    assert.equal(c10.classes[3], 'cat');
    const s = await c10.read(1);
    assert.ok(s.ok);
    // pixel (y=2, x=5): red at plane offset 2*32+5, green 1024 later, blue 2048 later.
    const p = 2 * 32 + 5;
    assert.deepEqual([...s.image.data.subarray(p * 3, p * 3 + 3)], [p, p + 1024, p + 2048].map((i) => (i * 3 + 1) % 251));
    writeFileSync(join(dir, 'train.bin'), Buffer.concat([record([4, 77], 0)]));
    const fine = openCifarBinary(join(dir, 'train.bin'));
    const coarse = openCifarBinary(join(dir, 'train.bin'), { labels: 'coarse' });
    assert.deepEqual([fine.label(0), fine.classes.length, coarse.label(0), coarse.classes.length], [77, 100, 4, 20]);
    writeFileSync(join(dir, 'bad.bin'), Buffer.alloc(3000));
    assert.throws(() => openCifarBinary(join(dir, 'bad.bin')), /not a whole number of cifar10 records/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train/validation split: reproducible, disjoint, stratified per class', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-split-'));
  try {
    const labels = Array.from({ length: 300 }, (_, i) => (i < 200 ? 0 : i < 270 ? 1 : 2));
    const px = Buffer.alloc(300 * 3072);
    writeFileSync(join(dir, 'data_batch_1.bin'), Buffer.concat(labels.map((l, i) => Buffer.concat([Buffer.from([l]), px.subarray(i * 3072, (i + 1) * 3072)]))));
    const ds = openCifarBinary(join(dir, 'data_batch_1.bin'));
    const s1 = trainValSplit(ds, { valSplit: 0.1, seed: 5 });
    const s2 = trainValSplit(ds, { valSplit: 0.1, seed: 5 });
    const s3 = trainValSplit(ds, { valSplit: 0.1, seed: 6 });
    assert.deepEqual(s1.val.indices, s2.val.indices);
    assert.notDeepEqual(s1.val.indices, s3.val.indices);
    assert.equal(s1.val.length + s1.train.length, 300);
    const all = new Set([...s1.val.indices, ...s1.train.indices]);
    assert.equal(all.size, 300);
    const perClass = [0, 0, 0];
    for (let i = 0; i < s1.val.length; i++) perClass[s1.val.label(i)]!++;
    assert.deepEqual(perClass, [20, 7, 3]);
    const flat = trainValSplit(ds, { valSplit: 0.1, seed: 5, stratified: false });
    assert.equal(flat.val.length, 30);
    assert.deepEqual(openDataset(s1.val.source()).label(3), s1.val.label(3));
    assert.throws(() => trainValSplit(ds, { valSplit: 1.5 }), /valSplit must be a fraction/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

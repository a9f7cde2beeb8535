/**
 * Data specs (src/data/spec.ts): the one syntax of every command. The hold-out of a data set + fraction + split
 * seed must stay the images `effnet train` held out before the train and search specs were merged: the expected
 * validation names below were recorded with the pre-merge src/train/data-spec.ts (and src/search/data-spec.ts for
 * the tar:... forms) on the same generated archive; their per-class counts also follow round(count × fraction).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageDataset, SampleResult } from '../../src/data/dataset.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { SubsetDataset } from '../../src/data/split.js';
import { DataSpecError, DecodedImageDataset, formatDataSpec, openData, parseDataSpec, resolveData } from '../../src/data/spec.js';
import { itemName } from '../../src/train/split-file.js';
import { CLASSES, writeImageFolder } from '../train/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-spec-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const tar = join(dir, 'pics.tar.gz');
let made: Promise<void> | null = null;

/** 3 classes x 8 PNGs, as `pics/<class>/<i>.png` in a .tar.gz (and the folder beside it). */
function makeData(): Promise<void> {
  made ??= (async () => {
    await writeImageFolder(join(dir, 'pics'), 8);
    execFileSync('tar', ['czf', tar, '-C', dir, 'pics']);
  })();
  return made;
}

/** Member names of a data set's images (the archive prefix removed). */
function names(dataset: ImageDataset): string[] {
  return Array.from({ length: dataset.length }, (_, i) => dataset.describe(i).replace(`${tar}:pics/`, ''));
}

function perClass(dataset: ImageDataset): number[] {
  return CLASSES.map((_, c) => Array.from({ length: dataset.length }, (_, i) => dataset.label(i)).filter((l) => l === c).length);
}

// Recorded with the pre-merge modules (see the file comment).
const HELD_OUT_025 = ['blue/5.png', 'blue/6.png', 'green/5.png', 'green/7.png', 'red/1.png', 'red/3.png'];
const HELD_OUT_01 = ['blue/5.png', 'green/7.png', 'red/1.png'];
const HELD_OUT_03_SEED7 = ['blue/0.png', 'blue/1.png', 'green/4.png', 'green/7.png', 'red/0.png', 'red/3.png'];
const SEARCH_VAL = ['blue/1.png', 'blue/2.png', 'green/4.png', 'green/7.png', 'red/0.png', 'red/1.png'];
const SEARCH_TRAIN = ['blue/4.png', 'blue/5.png', 'blue/7.png', 'green/0.png', 'green/3.png', 'green/5.png', 'green/6.png', 'red/2.png', 'red/4.png', 'red/7.png'];

test('parse: paths with options, fashion-mnist, the tar:/folder: spellings with their defaults, synthetic', () => {
  assert.deepEqual(parseDataSpec('/d/pics.tar.gz'), { kind: 'path', path: '/d/pics.tar.gz', val: null, train: null, seed: null, cache: 'none' });
  assert.deepEqual(parseDataSpec('/d/pics,val=0.2,train=100,seed=4,cache=memory'), { kind: 'path', path: '/d/pics', val: 0.2, train: 100, seed: 4, cache: 'memory' });
  assert.deepEqual(parseDataSpec('/d/a,b/pics,val=500'), { kind: 'path', path: '/d/a,b/pics', val: 500, train: null, seed: null, cache: 'none' });
  assert.deepEqual(parseDataSpec('fashion-mnist'), { kind: 'fashion-mnist', path: FASHION_MNIST_DIR, val: null, train: null, seed: null, cache: 'none' });
  assert.deepEqual(parseDataSpec('fashion-mnist,val=5000'), { kind: 'fashion-mnist', path: FASHION_MNIST_DIR, val: 5000, train: null, seed: null, cache: 'none' });
  assert.deepEqual(parseDataSpec('fashion-mnist:/x/fm'), { kind: 'fashion-mnist', path: '/x/fm', val: null, train: null, seed: null, cache: 'none' });
  assert.deepEqual(parseDataSpec('tar:/d/c.tar.gz,val=5000,train=20000,seed=3'), { kind: 'tar', path: '/d/c.tar.gz', val: 5000, train: 20000, seed: 3, cache: 'memory' });
  assert.deepEqual(parseDataSpec('folder:/d/f'), { kind: 'folder', path: '/d/f', val: 5000, train: null, seed: 0, cache: 'memory' });
  assert.deepEqual(parseDataSpec('synthetic:train=8,val=4,classes=2,size=32'), { kind: 'synthetic', train: 8, val: 4, classes: 2, size: 32, seed: 0 });
  for (const text of ['/d/pics', '/d/pics,val=0.2,train=100,seed=4,cache=memory', 'fashion-mnist', 'fashion-mnist:/x,val=0.1', 'tar:/d/c.tar.gz,train=20000', 'folder:/d/f,val=10,cache=none', 'synthetic:train=8,val=4,classes=2,size=32,seed=1']) {
    assert.deepEqual(parseDataSpec(formatDataSpec(parseDataSpec(text))), parseDataSpec(text), text);
  }
});

test('parse: bad specs say what is wrong', () => {
  assert.throws(() => parseDataSpec('tar:/x,valid=3'), (e: unknown) => e instanceof DataSpecError && /unknown option 'valid'.*allowed: val, train, seed, cache/.test(e.message));
  assert.throws(() => parseDataSpec('/x,val=3,val=4'), /'val' is given twice/);
  assert.throws(() => parseDataSpec('/x,val=1.5'), /val must be an image count .* or a fraction in \(0, 1\)/);
  assert.throws(() => parseDataSpec('/x,val=0'), /val must be/);
  assert.throws(() => parseDataSpec('/x,cache=disk'), /cache must be 'memory' or 'none'/);
  assert.throws(() => parseDataSpec('/x,train=0'), /train must be an integer ≥ 1/);
  assert.throws(() => parseDataSpec('synthetic:train=8,val=4,classes=1,size=32'), /classes must be an integer ≥ 2/);
  assert.throws(() => parseDataSpec('synthetic:train=8,val=4,classes=2'), /size must be an integer/);
  assert.throws(() => parseDataSpec('synthetic:train=8,val=4,classes=2,size=8,path'), /'path' is not key=value/);
  assert.throws(() => parseDataSpec('tar:'), /needs a path/);
  assert.throws(() => parseDataSpec(''), /empty/);
});

test('hold-out of a tar: the same images as before the merge, whichever way the fraction and seed are written', async () => {
  await makeData();
  assert.deepEqual(names(resolveData(tar, { valSplit: 0.25 }).val), HELD_OUT_025);
  assert.deepEqual(perClass(resolveData(tar, { valSplit: 0.25 }).val), CLASSES.map(() => Math.round(8 * 0.25)));
  assert.deepEqual(names(resolveData(tar).val), HELD_OUT_01, 'default fraction 0.1');
  assert.deepEqual(names(resolveData(tar, { valSplit: 0.1, splitSeed: 0 }).val), HELD_OUT_01);
  assert.deepEqual(names(resolveData(tar, { valSplit: 0.3, splitSeed: 7 }).val), HELD_OUT_03_SEED7);
  assert.deepEqual(names(resolveData(`${tar},val=0.3,seed=7`).val), HELD_OUT_03_SEED7, 'spec options');
  assert.deepEqual(names(resolveData(`${tar},val=0.3,seed=7`, { valSplit: 0.5, splitSeed: 1 }).val), HELD_OUT_03_SEED7, 'the spec wins over the defaults');
  assert.deepEqual(names(resolveData(`${tar},val=6`).val), HELD_OUT_025, 'val=6 of 24 is the fraction 0.25');
  const data = resolveData(tar, { valSplit: 0.25 });
  assert.equal(data.kind, 'tar');
  assert.deepEqual(data.holdOut, { valSplit: 0.25, seed: 0 });
  assert.equal(data.train.length, 24 - 6);
  assert.deepEqual(new Set([...names(data.train), ...names(data.val)]).size, 24, 'disjoint and covering');
  // The folder the archive was made from splits the same way (same labels in the same order).
  assert.deepEqual(names(resolveData(join(dir, 'pics'), { valSplit: 0.25 }).val).map((n) => n.replace(`${join(dir, 'pics')}/`, '')), HELD_OUT_025);
});

test('the tar: spelling of existing searches opens the same images as before; cache=memory decodes only the images read, with their names and pixels', async () => {
  await makeData();
  const none = await openData(`tar:${tar},val=6,train=10,seed=3,cache=none`);
  assert.deepEqual(names(none.val), SEARCH_VAL);
  assert.deepEqual(names(none.train), SEARCH_TRAIN);
  const memory = await openData(`tar:${tar},val=6,train=10,seed=3`);
  assert.ok(memory.val instanceof SubsetDataset && memory.train instanceof SubsetDataset && none.val instanceof SubsetDataset && none.train instanceof SubsetDataset);
  assert.ok(memory.val.base instanceof DecodedImageDataset);
  assert.equal(memory.val.base, memory.train.base, 'one decoded buffer for both parts');
  assert.equal(memory.val.base.length, 10 + 6, 'train=10 and the 6 held out are decoded, not the other 8 images');
  assert.deepEqual(names(memory.val), SEARCH_VAL, 'decoded images keep their names');
  assert.deepEqual(names(memory.train), SEARCH_TRAIN);
  for (const [part, reference] of [[memory.val, none.val], [memory.train, none.train]] as const) {
    for (let i = 0; i < part.length; i++) {
      assert.equal(itemName(part, i), itemName(reference, i), 'split files name the same members');
      const a: SampleResult = await part.read(i);
      const b: SampleResult = await reference.read(i);
      assert.ok(a.ok && b.ok);
      assert.deepEqual(a.image, b.image);
      assert.equal(a.label, b.label);
    }
  }
  assert.equal(memory.nativeSize, 20);
  const plain = await openData(`${tar},val=0.25,cache=memory`);
  assert.deepEqual(names(plain.val), HELD_OUT_025, 'cache=memory does not change the hold-out');
  assert.ok(plain.val instanceof SubsetDataset && plain.val.base.length === 24, 'a split of all the images decodes all of them');
  assert.equal((await openData(`${tar},val=0.25`)).cache, 'none');
});

test('data with their own split: used unless val= asks for a hold-out of the training images', async () => {
  const root = join(dir, 'split');
  await writeImageFolder(join(root, 'train'), 4);
  await writeImageFolder(join(root, 'val'), 2);
  const own = resolveData(root, { valSplit: 0.25 });
  assert.equal(own.val.length, 6, '--val-split does not apply to data with a split');
  assert.equal(own.holdOut, null);
  const held = resolveData(`${root},val=0.5,train=4`);
  assert.deepEqual(perClass(held.val), CLASSES.map(() => Math.round(4 * 0.5)));
  assert.equal(held.train.length, 4);
  assert.ok(held.train instanceof SubsetDataset && held.val instanceof SubsetDataset && held.train.base === held.val.base);
  assert.deepEqual(held.holdOut, { valSplit: 0.5, seed: 0 });
  if (existsSync(FASHION_MNIST_DIR)) {
    const fm = resolveData('fashion-mnist');
    assert.equal(fm.val.length, 10000);
    assert.equal(fm.train.length, 60000);
    const fmHeld = resolveData('fashion-mnist,val=0.1,train=1000');
    assert.equal(fmHeld.val.length, 10 * Math.round(6000 * 0.1), 'Fashion-MNIST has 6,000 training images per class');
    assert.equal(fmHeld.train.length, 1000);
  }
});

test('opening errors name the problem', async () => {
  await makeData();
  assert.throws(() => resolveData(join(dir, 'none')), /does not exist/);
  assert.throws(() => resolveData('lmdb:/nowhere'), /'lmdb:' is not a data kind/);
  assert.throws(() => resolveData(tar, { valSplit: 1.5 }), /--val-split must be a fraction/);
  assert.throws(() => resolveData(`${tar},val=24`), /holds out every one of the 24 images/);
  assert.throws(() => resolveData(`tar:${join(dir, 'none.tar')}`), /cannot open the tar data set/);
  mkdirSync(join(dir, 'odd'), { recursive: true });
  writeFileSync(join(dir, 'odd', 'notes.txt'), 'x');
  assert.throws(() => resolveData(join(dir, 'odd', 'notes.txt')), /is not a .tar, .tar.gz or .tgz archive/);
});

test('synthetic data: the seeded split is the same in every process and disjoint', async () => {
  const a = await openData('synthetic:train=12,val=6,classes=3,size=8,seed=5');
  const b = await openData(parseDataSpec('synthetic:train=12,val=6,classes=3,size=8,seed=5'));
  assert.equal(a.train.length, 12);
  assert.equal(a.val.length, 6);
  const first = await a.val.read(0);
  const again = await b.val.read(0);
  assert.ok(first.ok && again.ok);
  assert.deepEqual(first.image.data, again.image.data);
  assert.deepEqual(a.classes, ['class0', 'class1', 'class2']);
  assert.equal(a.kind, 'synthetic');
});

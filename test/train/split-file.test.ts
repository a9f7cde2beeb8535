/**
 * split.json: `effnet train` on a .tar.gz of class folders writes the names of its validation images into the run
 * directory, and `effnet train --write-split` writes the same file without training.
 *
 * The independent check that the names are exactly the images the run validated on: the files named in split.json
 * are copied into a folder `val/<class>/` (the rest into `train/<class>/`), and `effnet eval` of the run's final
 * model on that folder (which validates on `val/`, no hold-out involved) must reproduce the run's own validation
 * loss and top-1 after the epoch. Python's tarfile (through the PyTorch reference's reader) must find the same
 * validation items and the training count the file states.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SplitFile } from '../../src/train/split-file.js';
import { CLASSES, runCli, tinyTrainArgs, writeImageFolder } from './cli-helpers.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'effnet-split-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const PER_CLASS = 8;
const images = join(dir, 'pack', 'images');
const archive = join(dir, 'images.tar.gz');
const run = join(dir, 'run');

test('effnet train on a tar writes split.json listing exactly the images it validated on', async () => {
  await writeImageFolder(images, PER_CLASS);
  execFileSync('tar', ['czf', archive, '-C', join(dir, 'pack'), 'images']);
  const result = await runCli(tinyTrainArgs(archive, run, 1));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /validation images listed in .*split\.json/);
  const split = JSON.parse(readFileSync(join(run, 'split.json'), 'utf8')) as SplitFile;
  // round(8 x 0.25) = 2 validation images per class (stratified), the other 6 train.
  assert.equal(split.valCount, 2 * CLASSES.length);
  assert.equal(split.valNames.length, split.valCount);
  assert.equal(split.trainCount, (PER_CLASS - 2) * CLASSES.length);
  assert.deepEqual(split.classes, [...CLASSES]);
  assert.equal(split.root, 'images/');
  assert.equal(split.valSplit, 0.25);
  assert.equal(split.splitSeed, 0);
  assert.equal(split.data, archive);
  assert.equal(new Set(split.valNames).size, split.valCount, 'no name twice');
  for (const [i, name] of split.valNames.entries()) {
    const [top, cls] = name.split('/');
    assert.equal(top, 'images');
    assert.equal(split.classes[split.valLabels[i]!], cls, `${name} has the label of its class folder`);
  }

  // Rebuild the validation set from the names alone and evaluate the run's final (raw) model on it.
  const rebuilt = join(dir, 'rebuilt');
  const valSet = new Set(split.valNames.map((n) => n.slice(split.root.length)));
  for (const cls of CLASSES) {
    for (let i = 0; i < PER_CLASS; i++) {
      const rel = `${cls}/${i}.png`;
      const target = join(rebuilt, valSet.has(rel) ? 'val' : 'train', rel);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(join(images, rel), target);
    }
  }
  const evaluated = await runCli(['eval', '--checkpoint', join(run, 'model.safetensors'), '--data', rebuilt, '--json', '--workers', '0', '--batch-size', '4']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const ours = JSON.parse(evaluated.stdout) as { top1: number; loss: number; images: number };
  const epoch = JSON.parse(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]!) as { valTop1: number; valLoss: number };
  assert.equal(ours.images, split.valCount);
  assert.equal(ours.top1, epoch.valTop1);
  assert.ok(Math.abs(ours.loss - epoch.valLoss) < 2e-6, `loss on the listed images ${ours.loss} vs the run's validation loss ${epoch.valLoss}`);
});

test('effnet train --write-split writes the same file as the run, again on a second call', async () => {
  const first = join(dir, 'a', 'split.json');
  const second = join(dir, 'b.json');
  for (const path of [first, second]) {
    const result = await runCli(['train', '--data', archive, '--val-split', '0.25', '--write-split', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote .*: 6 validation and 18 training images of 3 classes/);
  }
  const fromRun = readFileSync(join(run, 'split.json'), 'utf8');
  assert.equal(readFileSync(first, 'utf8'), fromRun);
  assert.equal(readFileSync(second, 'utf8'), fromRun);
  const other = join(dir, 'c.json');
  assert.equal((await runCli(['train', '--data', archive, '--val-split', '0.5', '--write-split', other])).code, 0);
  const half = JSON.parse(readFileSync(other, 'utf8')) as SplitFile;
  assert.equal(half.valCount, 4 * CLASSES.length, 'another fraction, another hold-out');
});

test('the PyTorch reference reads the split file: the same validation items, every other image for training', () => {
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(join(REPO, 'bench/train'))})`,
    'import small_images_reference as ref',
    'blobs, train, val, classes = ref.tar_split(sys.argv[1], sys.argv[2])',
    'print(json.dumps({"train": train, "val": val, "classes": classes, "images": sorted(blobs)}))',
  ].join('\n');
  const out = execFileSync('/usr/bin/python3', ['-c', script, archive, join(run, 'split.json')], { encoding: 'utf8' });
  const python = JSON.parse(out) as { train: [string, number][]; val: [string, number][]; classes: string[]; images: string[] };
  const split = JSON.parse(readFileSync(join(run, 'split.json'), 'utf8')) as SplitFile;
  assert.deepEqual(python.val, split.valNames.map((n, i) => [n, split.valLabels[i]]));
  assert.equal(python.train.length, split.trainCount);
  assert.equal(python.images.length, PER_CLASS * CLASSES.length);
  assert.deepEqual([...python.train.map(([n]) => n), ...split.valNames].sort(), python.images, 'training and validation cover the archive');
});

test('spec options: cache=memory lists the same names, seed= and train=N are recorded (train=N with its names)', async () => {
  const plain = JSON.parse(readFileSync(join(run, 'split.json'), 'utf8')) as SplitFile;
  const cachedRun = join(dir, 'cached');
  const cached = await runCli(tinyTrainArgs(`${archive},cache=memory`, cachedRun, 1));
  assert.equal(cached.code, 0, cached.stderr);
  const fromCache = JSON.parse(readFileSync(join(cachedRun, 'split.json'), 'utf8')) as SplitFile;
  assert.deepEqual({ ...fromCache, data: archive }, plain, 'decoding into memory keeps the hold-out and its names');

  const subsetPath = join(dir, 'subset.json');
  const result = await runCli(['train', '--data', `${archive},val=6,train=9,seed=3`, '--write-split', subsetPath]);
  assert.equal(result.code, 0, result.stderr);
  const subset = JSON.parse(readFileSync(subsetPath, 'utf8')) as SplitFile;
  assert.equal(subset.splitSeed, 3);
  assert.equal(subset.valSplit, 6 / (PER_CLASS * CLASSES.length));
  assert.equal(subset.valCount, 6);
  assert.equal(subset.trainCount, 9);
  assert.equal(subset.trainNames?.length, 9);
  assert.ok(subset.trainNames!.every((n) => !subset.valNames.includes(n)), 'training and validation items are disjoint');
  assert.notDeepEqual(subset.valNames, plain.valNames.slice(0, 6), 'another seed, another hold-out');
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(join(REPO, 'bench/train'))})`,
    'import small_images_reference as ref',
    'blobs, train, val, classes = ref.tar_split(sys.argv[1], sys.argv[2])',
    'print(json.dumps({"train": [n for n, _ in train], "val": [n for n, _ in val]}))',
  ].join('\n');
  const python = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, archive, subsetPath], { encoding: 'utf8' })) as { train: string[]; val: string[] };
  assert.deepEqual(python.train, subset.trainNames);
  assert.deepEqual(python.val, subset.valNames);
});

test('--write-split refuses data that bring their own validation split', async () => {
  const folder = join(dir, 'split-folders');
  await writeImageFolder(join(folder, 'train'), 2);
  await writeImageFolder(join(folder, 'val'), 1);
  const result = await runCli(['train', '--data', folder, '--write-split', join(dir, 'never.json')]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /brings its own validation split .*no hold-out to write/);
  const missing = await runCli(['train', '--write-split', join(dir, 'never.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--write-split needs --data/);
});

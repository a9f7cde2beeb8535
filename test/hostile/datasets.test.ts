/**
 * Items 4 and 7 of the hostile-input issue: tar datasets and outcomes that used to be silent. A pax `size=-1536`
 * looped forever, a pax `size=abc` silently ended the archive early, members named `../x/a.png` made a class `..`;
 * undecodable images were reported only in metrics.jsonl; .tif images were ignored in training though predict
 * reads them, and .bmp ones without a word; one class trained to "100%"; a batch larger than the data, or a
 * learning rate that sends the weights to NaN, still exited 0; two runs into one --out both exited 0. Each is the
 * user's command on files on disk.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startCli, tinyTrainArgs, writeImageFolder } from '../train/cli-helpers.js';
import { paxRecords, pngBytes, tarArchive, type TarMember } from './craft.js';
import { assertBounded, assertUserError, harnessSkip, runEffnet } from './harness.js';

const skip = harnessSkip;
let dir = '';
let folder = '';
let members: TarMember[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-data-'));
  folder = join(dir, 'images');
  await writeImageFolder(folder, 8);
  members = [];
  for (const cls of readdirSync(folder).sort()) {
    for (const file of readdirSync(join(folder, cls)).sort()) members.push({ name: `${cls}/${file}`, data: readFileSync(join(folder, cls, file)) });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

function trainArgs(data: string, out: string, extra: readonly string[] = []): string[] {
  return tinyTrainArgs(data, out, 1, extra);
}

test('tar: pax size=-1536 (looped forever) and size=abc mid-archive (silently ended it) are corrupt archives: exit 2', { skip }, async () => {
  for (const [name, value] of [['negative', '-1536'], ['text', 'abc'], ['huge', '99999999999999999999']] as const) {
    const file = join(dir, `pax-${name}.tar`);
    const forged = [...members.slice(0, 10), { name: 'PaxHeader', type: 'x', data: paxRecords({ size: value }) }, ...members.slice(10)];
    writeFileSync(file, tarArchive(forged));
    assertUserError(await runEffnet(trainArgs(file, join(dir, `run-pax-${name}`))), { message: /a pax size record says '.*', not a byte count; the archive is corrupt/, maxSeconds: 15 });
    assert.ok(!existsSync(join(dir, `run-pax-${name}`)), 'a refused run left its --out behind');
  }
  const broken = join(dir, 'pax-record.tar');
  writeFileSync(broken, tarArchive([...members.slice(0, 10), { name: 'PaxHeader', type: 'x', data: Buffer.from('9999 path=x\n') }, ...members.slice(10)]));
  assertUserError(await runEffnet(trainArgs(broken, join(dir, 'run-pax-record'))), { message: /pax extended header has a malformed record/ });
});

test("tar: members named ../x/a.png or /abs/a.png are refused, not a class called '..'", { skip }, async () => {
  for (const name of ['../x/a.png', 'red/../../a.png', '/abs/red/a.png']) {
    const file = join(dir, `escape-${name.replace(/\W+/g, '_')}.tar`);
    writeFileSync(file, tarArchive([...members, { name, data: members[0]!.data }]));
    assertUserError(await runEffnet(trainArgs(file, join(dir, 'run-escape'))), { message: /a path that leaves the archive's folder; refused/ });
  }
});

test('undecodable images: the console names them and says the scores leave them out (train and eval)', { skip }, async () => {
  const data = join(dir, 'with-bad');
  for (const part of ['train', 'val']) {
    for (const cls of readdirSync(folder)) {
      mkdirSync(join(data, part, cls), { recursive: true });
      for (const file of readdirSync(join(folder, cls))) copyFileSync(join(folder, cls, file), join(data, part, cls, file));
    }
  }
  writeFileSync(join(data, 'val', 'red', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a png'));
  const out = join(dir, 'run-bad');
  const args = trainArgs(data, out).filter((a, i, all) => a !== '--val-split' && all[i - 1] !== '--val-split');
  const trained = await runEffnet(args, { timeoutS: 120 });
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stdout, /SKIPPED 0 training and 1 validation images that cannot be decoded/);
  assert.match(trained.stdout, /skipped .*broken\.png: cannot decode image/);
  const evaluated = await runEffnet(['eval', '--checkpoint', out, '--data', data, '--workers', '0', '--threads', '1'], { timeoutS: 60 });
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.match(evaluated.stderr, /skipped .*broken\.png/);
  assert.match(evaluated.stdout, /SKIPPED 1 images that cannot be decoded .* the scores are over the other 24/);
});

test('.tif images are trained on like predict reads them; .bmp ones are named as left out', { skip }, async () => {
  const data = join(dir, 'formats');
  for (const cls of readdirSync(folder)) {
    mkdirSync(join(data, cls), { recursive: true });
    for (const file of readdirSync(join(folder, cls))) {
      await sharp(join(folder, cls, file)).tiff().toFile(join(data, cls, file.replace(/\.png$/, '.tif')));
    }
    writeFileSync(join(data, cls, 'legacy.bmp'), Buffer.from('BM'));
  }
  const result = await runEffnet(trainArgs(data, join(dir, 'run-formats')), { timeoutS: 120 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /on 18 images of 3 classes/, '24 .tif images, 6 held out');
  assert.match(result.stdout, /warning: 3 files .* effnet cannot decode .*legacy\.bmp/);
});

test('one class, a batch larger than the data, a diverging learning rate: exit 2, no "done" run', { skip }, async () => {
  const one = join(dir, 'one-class');
  mkdirSync(join(one, 'red'), { recursive: true });
  for (let i = 0; i < 8; i++) writeFileSync(join(one, 'red', `${i}.png`), await pngBytes(20, 20, 30 * i));
  assertUserError(await runEffnet(trainArgs(one, join(dir, 'run-one'))), { message: /holds 1 class \("red"\); a classifier needs at least 2/ });

  assertUserError(await runEffnet(trainArgs(folder, join(dir, 'run-batch'), ['--batch-size', '1e12'])), { message: /--batch-size 1000000000000 is larger than the 18 training images/ });

  const diverged = await runEffnet(trainArgs(folder, join(dir, 'run-nan'), ['--lr', '1e30', '--optimizer', 'sgd']), { timeoutS: 120 });
  assertUserError(diverged, { message: /training stopped: the (validation )?loss is (NaN|Infinity|-Infinity)/, maxSeconds: 120 });
  assert.ok(!existsSync(join(dir, 'run-nan', 'model.safetensors')), 'a diverged run wrote its final model');
});

test('two effnet train into one --out: the second is refused naming the first; a stale lock is taken over', { skip }, async () => {
  const out = join(dir, 'run-twice');
  const first = startCli(tinyTrainArgs(folder, out, 50));
  try {
    const lock = join(out, 'train.lock');
    for (let i = 0; i < 200 && !existsSync(lock); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(existsSync(lock), 'the first run took no lock');
    const second = await runEffnet(tinyTrainArgs(folder, out, 1));
    assertUserError(second, { message: new RegExp(`in use by another effnet train \\(pid ${first.pid}`) });
  } finally {
    first.kill('SIGKILL');
  }
  await new Promise((resolve) => first.on('close', resolve));
  // The SIGKILLed run left its lock behind (its files are cleared here, the lock kept): the next run takes it over.
  for (const file of readdirSync(out)) if (file !== 'train.lock') rmSync(join(out, file), { recursive: true, force: true });
  assert.ok(existsSync(join(out, 'train.lock')), 'the killed run left no lock to take over');
  const next = await runEffnet(tinyTrainArgs(folder, out, 1), { timeoutS: 120 });
  assert.equal(next.code, 0, next.stderr);
  assert.ok(!existsSync(join(out, 'train.lock')), 'the lock was not released');
  assertBounded(next, { maxSeconds: 120 });
});

/**
 * A trained model predicts what `effnet eval` measured, image by image, the way a user goes: `effnet train` on
 * (a) Fashion-MNIST at 32px and (b) a .tar.gz of colour JPEGs up-sampled to 48px; the held-out images written as
 * files (grey PNGs; the archive's own JPEG bytes and lossless PNGs of their pixels); then the top-1 of every
 * image from `effnet eval --predictions` (the data set's own pixels, the run's validation pass) must be the top-1
 * of `effnet predict` on the run's model file, of `effnet predict` on the exported .onnx, and of the browser page
 * on a sample. A control serves the same model with the crop the exporter used to write for every model
 * (size / (size + 32)): that must disagree on many images, or these checks could not catch the bug they guard.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';
import { openData, type ResolvedData } from '../../src/data/spec.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import type { RgbImage } from '../../src/data/image.js';
import { exportEfficientNet } from '../../src/export/efficientnet-onnx.js';
import { classifyFiles, openClassifier } from '../../src/infer/node.js';
import { startDemoServer } from '../../src/infer/demo-server.js';
import { openModel } from '../../src/model-file/open.js';
import { agrees, cli, disagreements, predict, readPredictions, recordedTop1, trainSmall, type ImageFile } from './helpers.js';
import { chromiumSkip, classifyOnPage, launchBrowser, openDemoPage } from '../web/page.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const haveFashionMnist = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

async function writeGreyPng(path: string, image: RgbImage): Promise<void> {
  const grey = Buffer.alloc(image.width * image.height);
  for (let i = 0; i < grey.length; i++) grey[i] = image.data[i * 3]!;
  await sharp(grey, { raw: { width: image.width, height: image.height, channels: 1 } }).png().toFile(path);
}

async function writeRgbPng(path: string, image: RgbImage): Promise<void> {
  await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(path);
}

async function pixels(data: ResolvedData, index: number): Promise<RgbImage> {
  const sample = await data.val.read(index);
  assert.ok(sample.ok, `validation image ${index} does not decode`);
  return sample.image;
}

/** Trains a small model on `spec` into DIR/name, then writes every validation image's files with `write`. */
async function trainAndWrite(
  name: string,
  spec: string,
  recipe: { size: number; epochs: number; batchSize: number; lr: number },
  write: (data: ResolvedData, index: number, folder: string) => Promise<string[]>,
): Promise<{ run: string; files: ImageFile[] }> {
  const run = join(dir, name);
  await trainSmall(spec, run, recipe.size, recipe.epochs, recipe.batchSize, recipe.lr);
  const data = await openData(spec);
  const folder = join(dir, `${name}-files`);
  mkdirSync(folder);
  const files: ImageFile[] = [];
  for (let index = 0; index < data.val.length; index++) for (const path of await write(data, index, folder)) files.push({ index, path });
  return { run, files };
}

/** Runs the whole path for a trained run and its held-out files; `sample` files also go through the browser page. */
async function checkEveryPath(name: string, run: string, spec: string, files: readonly ImageFile[], sample: readonly ImageFile[]): Promise<void> {
  const predictionsPath = join(dir, `${name}-predictions.jsonl`);
  const evaluated = await cli(['eval', '--checkpoint', run, '--data', spec, '--predictions', predictionsPath, '--json', '--workers', '0', '--threads', '2']);
  const evalTop1 = (JSON.parse(evaluated.stdout) as { top1: number }).top1;
  assert.equal(evalTop1, recordedTop1(run), 'effnet eval measures what the run validated');
  const predictions = readPredictions(predictionsPath);
  const onnx = join(dir, `${name}.onnx`);
  await cli(['export', '--checkpoint', run, '--out', onnx]);
  for (const model of [join(run, 'model.safetensors'), onnx]) {
    const wrong = disagreements(files, await predict(model, files.map((f) => f.path)), predictions);
    assert.deepEqual(wrong, [], `${model}: ${wrong.length} of ${files.length} files disagree with effnet eval`);
  }
  const right = files.filter((f) => predictions.get(f.index)!.top1 === predictions.get(f.index)!.label).length;
  console.log(`${name}: eval top-1 ${(evalTop1 * 100).toFixed(1)}%; predict agrees with eval on all ${files.length} files (${right} of them right)`);

  // The control: the same weights served with the old exporter's crop disagree on many files.
  const opened = openModel(run);
  const size = opened.card.eval.size;
  const buggy = exportEfficientNet(opened.model, { card: { ...opened.card, eval: { ...opened.card.eval, cropPct: size / (size + 32) } } }).bytes;
  opened.model.dispose();
  const classifier = await openClassifier(buggy, { threads: 2 });
  const cropped = await classifyFiles(classifier, files.map((f) => f.path), { top: 3 });
  await classifier.release();
  const changed = cropped.filter((r, i) => r.ok && !agrees(predictions.get(files[i]!.index)!.top1, r.top)).length;
  console.log(`${name}: served with crop ${(size / (size + 32)).toFixed(3)} instead of ${opened.card.eval.cropPct}, ${changed} of ${files.length} files change their top-1`);
  assert.ok(changed >= 0.1 * files.length, `the control should disagree on many files, got ${changed} of ${files.length}`);

  if (chromiumSkip) {
    console.log(`skipping the browser sample: ${chromiumSkip}`);
    return;
  }
  const server = await startDemoServer({ port: 0, model: readFileSync(onnx) });
  const browser = await launchBrowser(join(dir, `${name}-browser`));
  try {
    const page = await openDemoPage(browser, server.url);
    for (const file of sample) {
      const result = await classifyOnPage(page, file.path);
      const reference = predictions.get(file.index)!;
      assert.ok(agrees(reference.top1, result.top), `${file.path}: page ${result.top[0]!.label}, eval ${reference.top1Label}`);
    }
    console.log(`${name}: the page agrees with eval on a sample of ${sample.length} files`);
  } finally {
    await browser.close();
    await server.close();
  }
}

test('Fashion-MNIST at 32px: eval, predict (model file, .onnx) and the page agree on every held-out grey PNG', { skip: haveFashionMnist ? false : `${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)` }, async () => {
  const spec = 'fashion-mnist,train=9600,val=300';
  // 150 steps of 64 images.
  const { run, files } = await trainAndWrite('fm', spec, { size: 32, epochs: 1, batchSize: 64, lr: 0.1 }, async (data, index, folder) => {
    const path = join(folder, `${index}.png`);
    await writeGreyPng(path, await pixels(data, index));
    return [path];
  });
  await checkEveryPath('fashion-mnist', run, spec, files, files.slice(0, 8));
});

/** A 32x32 picture of class 0 (a frame), 1 (bars) or 2 (a dot), in seeded random colours with noise. */
function pattern(label: number, rng: Rng): RgbImage {
  const size = 32;
  const fg = [0, 1, 2].map(() => 120 + Math.floor(rng.next() * 135));
  const bg = [0, 1, 2].map(() => Math.floor(rng.next() * 70));
  const cx = 16 + Math.floor(rng.next() * 7) - 3;
  const cy = 16 + Math.floor(rng.next() * 7) - 3;
  const radius = 5 + rng.next() * 4;
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on =
        label === 0 ? x < 4 || y < 4 || x >= size - 4 || y >= size - 4 : label === 1 ? Math.floor(y / 3) % 2 === 0 : (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius;
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, (on ? fg[c]! : bg[c]!) + Math.round((rng.next() - 0.5) * 40)));
    }
  }
  return { data, width: size, height: size };
}

test('colour JPEGs in a .tar.gz at 48px: eval, predict (model file, .onnx) and the page agree on every held-out JPEG and PNG', async () => {
  const classes = ['frame', 'bars', 'dot'];
  const rng = new Rng(2026);
  const pack = join(dir, 'pack');
  for (const [label, name] of classes.entries()) {
    mkdirSync(join(pack, 'patterns', name), { recursive: true });
    for (let i = 0; i < 160; i++) {
      const image = pattern(label, rng);
      const jpeg = await sharp(Buffer.from(image.data), { raw: { width: 32, height: 32, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
      writeFileSync(join(pack, 'patterns', name, `${i}.jpg`), jpeg);
    }
  }
  const archive = join(dir, 'patterns.tar.gz');
  execFileSync('tar', ['czf', archive, '-C', pack, 'patterns']);
  const spec = `${archive},val=0.25`;
  // 60 steps of 24 images.
  const { run, files } = await trainAndWrite('colour', spec, { size: 48, epochs: 4, batchSize: 24, lr: 0.05 }, async (data, index, folder) => {
    const encoded = data.val.encoded(index);
    assert.ok(encoded !== null, 'tar members keep their encoded bytes');
    const jpeg = join(folder, `${index}.jpg`);
    writeFileSync(jpeg, encoded);
    const png = join(folder, `${index}.png`);
    await writeRgbPng(png, await pixels(data, index));
    return [jpeg, png];
  });
  await checkEveryPath('colour-tar', run, spec, files, files.slice(0, 10));
});

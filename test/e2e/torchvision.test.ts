/**
 * Imported torchvision EfficientNets against torchvision itself: b0 at 224px (the crop_pct 0.875 path: resize 256,
 * center crop 224), b1 (torchvision's current b1 weights: bilinear resize to 255, crop 240) and EfficientNetV2-S
 * (bilinear resize to 384, no crop margin).
 * scripts/reference/torchvision_predict.py builds a seeded model of the variant (3 classes, its classifier centred on
 * the images' features so that predictions differ by image), saves it with torch.save and classifies JPEG and PNG
 * files of several sizes and aspect ratios with torchvision's own published transforms. `effnet import` → `effnet
 * eval --predictions` on a folder of those files → `effnet export` → `effnet predict` (model file and .onnx) → the
 * page must give every image torchvision's top-1, with probabilities within 2e-3. The table of torchvision's
 * transforms that import writes into the card is checked against torchvision's own, for b0..b7 and V2-S/M/L.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';
import { openData } from '../../src/data/spec.js';
import { startDemoServer } from '../../src/infer/demo-server.js';
import { softmax } from '../../src/infer/topk.js';
import { TORCHVISION_TRANSFORMS, torchvisionEval } from '../../src/card/published.js';
import { TORCHVISION_WEIGHT_URLS } from '../../src/io/download.js';
import { agrees, cli, disagreements, predict, readPredictions, type ImageFile } from './helpers.js';
import { chromiumSkip, classifyOnPage, launchBrowser, openDemoPage } from '../web/page.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../scripts/reference/torchvision_predict.py');
const haveTorchvision = existsSync(PYTHON) && (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), 'effnet-e2e-b0-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A smooth colour picture with a few shapes, width × height, seeded. */
function picture(width: number, height: number, rng: Rng): Buffer {
  const data = Buffer.alloc(width * height * 3);
  const base = [0, 1, 2].map(() => rng.next() * 255);
  const slope = [0, 1, 2].map(() => (rng.next() - 0.5) * 2);
  const shapes = Array.from({ length: 4 }, () => ({ x: rng.next() * width, y: rng.next() * height, r: 20 + rng.next() * 80, c: [0, 1, 2].map(() => rng.next() * 255) }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let colour = base.map((b, c) => b + slope[c]! * (x - y) * 0.3);
      for (const s of shapes) if ((x - s.x) ** 2 + (y - s.y) ** 2 < s.r * s.r) colour = s.c;
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(colour[c]!)));
    }
  }
  return data;
}

const skip = haveTorchvision ? false : `${PYTHON} with torchvision is missing (apt-get install python3-torchvision)`;

test('the eval transforms import writes for torchvision checkpoints are torchvision\'s own, b0..b7 and V2-S/M/L', { skip }, () => {
  type Published = { url: string; crop: number; resize: number; interpolation: string; mean: number[]; std: number[] };
  const published = JSON.parse(execFileSync(PYTHON, [SCRIPT, '--published'], { encoding: 'utf8' })) as Record<string, Published>;
  for (const [variant, reference] of Object.entries(published)) {
    assert.equal(TORCHVISION_WEIGHT_URLS[variant], reference.url, `${variant}: effnet downloads torchvision's DEFAULT weights`);
    const ours = TORCHVISION_TRANSFORMS[variant]!;
    assert.deepEqual({ crop: ours.crop, resize: ours.resize, interpolation: ours.interpolation }, { crop: reference.crop, resize: reference.resize, interpolation: reference.interpolation }, variant);
    const card = torchvisionEval(variant)!;
    assert.equal(Math.floor(card.size / card.cropPct!), reference.resize, `${variant}: the card's crop fraction gives torchvision's resize`);
    const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    assert.deepEqual({ mean: [...(card.mean ?? imagenet.mean)], std: [...(card.std ?? imagenet.std)] }, { mean: reference.mean, std: reference.std }, `${variant}: normalisation`);
  }
  assert.deepEqual(Object.keys(published), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'v2-s', 'v2-m', 'v2-l']);
});

for (const [variant, copies] of [['b0', 2], ['b1', 1], ['v2-s', 1]] as const) {
  test(`an imported torchvision ${variant} classifies every file as torchvision does, in eval, predict and the page`, { skip }, async () => {
    await checkAgainstTorchvision(variant, copies);
  });
}

async function checkAgainstTorchvision(variant: 'b0' | 'b1' | 'v2-s', copies: number): Promise<void> {
  const classes = ['a', 'b', 'c'];
  const root = join(dir, variant, 'images');
  const sizes: [number, number][] = [[300, 400], [480, 320], [256, 256], [333, 500], [640, 360], [224, 300]];
  const rng = new Rng(224);
  let n = 0;
  for (const split of ['train', 'val']) for (const name of classes) mkdirSync(join(root, split, name), { recursive: true });
  for (const [width, height] of sizes) {
    for (let copy = 0; copy < copies; copy++) {
      const raw = { raw: { width, height, channels: 3 as const } };
      const pixels = picture(width, height, rng);
      const name = classes[n % 3]!;
      await sharp(pixels, raw).jpeg({ quality: 90 }).toFile(join(root, 'val', name, `${n}.jpg`));
      await sharp(pixels, raw).png().toFile(join(root, 'val', name, `${n}.png`));
      n++;
    }
  }
  for (const name of classes) await sharp(picture(64, 64, rng), { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(root, 'train', name, 'only.png'));

  const data = await openData(root);
  const files: ImageFile[] = Array.from({ length: data.val.length }, (_, index) => ({ index, path: data.val.describe(index) }));
  assert.equal(files.length, sizes.length * copies * 2);
  const pth = join(dir, variant, `${variant}.pth`);
  const reference = JSON.parse(execFileSync(PYTHON, [SCRIPT, '--variant', variant, '--weights', pth, '--num-classes', '3', ...files.map((f) => f.path)], { encoding: 'utf8', maxBuffer: 1 << 26 })) as { transform: string; logits: Record<string, number[]> };
  const published = TORCHVISION_TRANSFORMS[variant]!;
  assert.match(reference.transform, new RegExp(`crop_size=\\[${published.crop}\\].*resize_size=\\[${published.resize}\\].*${published.interpolation.toUpperCase()}`, 's'));
  const torchvision = new Map(files.map((f) => [f.path, softmax(reference.logits[f.path]!)]));
  const top1 = (p: Float64Array | number[]): number => [...p].indexOf(Math.max(...p));
  const distinct = new Set(files.map((f) => top1(torchvision.get(f.path)!)));
  assert.ok(distinct.size >= 2, 'the reference model should not give every image the same class');

  const model = join(dir, variant, `${variant}.safetensors`);
  await cli(['import', '--from', 'torchvision', pth, '--variant', variant, '--out', model]);
  const predictionsPath = join(dir, variant, 'predictions.jsonl');
  await cli(['eval', '--checkpoint', model, '--data', root, '--predictions', predictionsPath, '--workers', '0', '--threads', '2', '--batch-size', '8']);
  const evaluated = readPredictions(predictionsPath);
  const matchesTorchvision = (path: string, top: readonly { index: number; probability: number }[]): void => {
    const ref = torchvision.get(path)!;
    assert.ok(agrees(top1(ref), top, 2e-3), `${path}: torchvision ${top1(ref)}, effnet ${top[0]!.index}`);
    for (const p of top) assert.ok(Math.abs(p.probability - ref[p.index]!) < 2e-3, `${path} class ${p.index}: effnet ${p.probability}, torchvision ${ref[p.index]}`);
  };
  for (const file of files) {
    const line = evaluated.get(file.index)!;
    matchesTorchvision(file.path, [{ index: line.top1, probability: line.probability }]);
  }
  const onnx = join(dir, variant, `${variant}.onnx`);
  await cli(['export', '--checkpoint', model, '--out', onnx]);
  for (const source of [model, onnx]) {
    const lines = await predict(source, files.map((f) => f.path), 3);
    assert.deepEqual(disagreements(files, lines, evaluated), [], `${source} disagrees with eval`);
    lines.forEach((line) => {
      assert.ok(!('error' in line));
      matchesTorchvision(line.path, line.top);
    });
  }
  console.log(`torchvision ${variant}: ${files.length} files (${distinct.size} distinct classes), eval, predict and torchvision agree`);

  if (chromiumSkip) {
    console.log(`skipping the browser sample: ${chromiumSkip}`);
    return;
  }
  const server = await startDemoServer({ port: 0, model: readFileSync(onnx) });
  const browser = await launchBrowser(join(dir, variant, 'browser'));
  try {
    const page = await openDemoPage(browser, server.url);
    for (const file of files.filter((f) => f.path.endsWith('.png')).slice(0, 4)) matchesTorchvision(file.path, (await classifyOnPage(page, file.path)).top);
  } finally {
    await browser.close();
    await server.close();
  }
}

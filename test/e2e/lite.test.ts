/**
 * EfficientNet-Lite the way a user goes: a seeded Lite0 with random batch-norm statistics (3 classes) saved as a
 * checkpoint → `effnet import --variant lite0` → `effnet predict` on the model file → `effnet export` → `effnet
 * predict` on the .onnx (ReLU6 as Clip): every image gets the same top-1 with probabilities within 1e-4 on both, and
 * the libtorch model's own softmax on the same preprocessed pixels is the reference for the first. Also `effnet
 * train --model lite0 --width 0.25` at 32 px trains and its card stays Lite (ReLU6, no SE, the Lite rule).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/data/rng.js';
import { createEfficientNet } from '../../src/efficientnet/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { readModelCard } from '../../src/model-file/open.js';
import { manualSeed, noGrad, normal_, uniform_ } from '../../src/torch/index.js';
import { tinyTrainArgs } from '../train/cli-helpers.js';
import { cli, predict } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-e2e-lite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('Lite0: import → predict → export → predict (ONNX) agree on every image; ReLU6 and the Lite rule survive in the card', async () => {
  manualSeed(11);
  const model = createEfficientNet('lite0', { numClasses: 3 });
  noGrad(() => {
    for (const [, module] of model.namedModules()) {
      if (!(module instanceof BatchNorm2d)) continue;
      uniform_(module.weight!, 0.7, 1.3);
      normal_(module.bias!, 0, 0.1);
      uniform_(module.runningVar!, 0.5, 1.5);
    }
    // Small classifier weights: probabilities well inside (0, 1), so that they differ from image to image.
    normal_(model.classifier.at(1).parameters()[0]!, 0, 0.002);
  });
  const checkpoint = join(dir, 'lite0-torchvision.safetensors');
  saveSafetensors(checkpoint, model.stateDict());
  model.dispose();

  const rng = new Rng(3);
  const files: string[] = [];
  for (let i = 0; i < 4; i++) {
    const [width, height] = [200 + 37 * i, 260 - 21 * i];
    const pixels = Buffer.alloc(width * height * 3);
    for (let p = 0; p < pixels.length; p++) pixels[p] = Math.floor(rng.next() * 64) + 48 * ((p % 3) + i);
    const path = join(dir, `image-${i}.${i % 2 === 0 ? 'png' : 'jpg'}`);
    await sharp(pixels, { raw: { width, height, channels: 3 } }).toFile(path);
    files.push(path);
  }

  const imported = join(dir, 'lite0.safetensors');
  await cli(['import', '--from', 'torchvision', checkpoint, '--variant', 'lite0', '--out', imported]);
  const card = readModelCard(imported).card;
  assert.equal(card.architecture.activation, 'relu6');
  assert.equal(card.architecture.scaling, 'lite');
  const onnx = join(dir, 'lite0.onnx');
  await cli(['export', '--checkpoint', imported, '--out', onnx]);

  const fromModel = await predict(imported, files);
  const fromOnnx = await predict(onnx, files);
  const first: number[] = [];
  files.forEach((file, i) => {
    const a = fromModel[i]!;
    const b = fromOnnx[i]!;
    assert.ok(!('error' in a) && !('error' in b), `${file}: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
    assert.equal(a.top[0]!.label, b.top[0]!.label, `${file}: top-1`);
    a.top.forEach((prediction, k) => assert.ok(Math.abs(prediction.probability - b.top[k]!.probability) < 1e-4, `${file}: rank ${k}`));
    first.push(a.top.find((p) => p.index === 0)!.probability);
  });
  // The probabilities depend on the image (else agreeing would say little).
  assert.ok(Math.max(...first) - Math.min(...first) > 1e-3, `class 0 probabilities ${first.join(', ')}`);
});

test('effnet train --model lite0 --width 0.25 at 32 px trains and keeps the Lite card (ReLU6, no SE, the Lite rule)', async () => {
  const out = join(dir, 'train');
  // The later --model and --width replace tinyTrainArgs' (the last value of a flag wins).
  await cli(tinyTrainArgs('synthetic:train=32,val=16,classes=3,size=32', out, 1, ['--model', 'lite0', '--width', '0.25']));
  const card = readModelCard(join(out, 'model.safetensors')).card;
  assert.equal(card.architecture.activation, 'relu6');
  assert.equal(card.architecture.scaling, 'lite');
  assert.ok(card.architecture.stages.every((stage) => !stage.includes('_se')), card.architecture.stages.join(' '));
});

/**
 * Test helpers shared by the inference and browser tests: coloured test images written with sharp, and a tiny
 * EfficientNet trained for a few SGD steps to tell red, green and blue images apart, saved as an effnet model file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { saveModel } from '../../src/model-file/weights.js';
import { SGD } from '../../src/optim/index.js';
import { Preprocessor } from '../../src/infer/preprocess.js';
import { crossEntropy, manualSeed, tensor, tidy } from '../../src/torch/index.js';
import { Rng } from '../../src/data/rng.js';
import type { RgbImage } from '../../src/data/image.js';

/** The classes of the tiny model, in output order. */
export const COLOURS = ['red', 'green', 'blue'] as const;

/** A width × height image of colour `label` (0 red, 1 green, 2 blue) with noise and a darker stripe. */
export function colourImage(label: number, width: number, height: number, rng: Rng): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const stripe = Math.floor(x / 8) % 2 === 0 ? 1 : 0.7;
      for (let c = 0; c < 3; c++) {
        const base = c === label ? 200 : 40;
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base * stripe + (rng.next() - 0.5) * 60)));
      }
    }
  }
  return { data, width, height };
}

/** Writes an RGB image as an 8-bit PNG. */
export async function writePng(path: string, image: RgbImage): Promise<void> {
  await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(path);
}

/** What {@link trainTinyModel} made. */
export interface TinyModel {
  /** The effnet model file (safetensors with metadata and class names). */
  modelPath: string;
  /** Input side of the model. */
  size: number;
}

/**
 * Trains a width 0.25 / depth 0.25 EfficientNet at 32px for `steps` SGD steps on random coloured images and saves
 * it (with class names) under `dir`.
 */
export function trainTinyModel(dir: string, steps = 30): TinyModel {
  mkdirSync(dir, { recursive: true });
  manualSeed(7);
  const size = 32;
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.25, resolution: size }), { numClasses: 3, dropout: 0 });
  const pre = new Preprocessor({ inputSize: size, cropPct: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const rng = new Rng(11);
  const batch = 12;
  model.train();
  for (let step = 0; step < steps; step++) {
    const labels = Array.from({ length: batch }, (_, i) => i % 3);
    const images = labels.map((label) => colourImage(label, 40 + Math.floor(rng.next() * 30), 40 + Math.floor(rng.next() * 30), rng));
    tidy(() => {
      const x = tensor(pre.batch(images), [batch, 3, size, size]);
      const loss = crossEntropy(model.forward(x), tensor(labels, [batch], { dtype: 'int64' }));
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    });
  }
  model.eval();
  const modelPath = join(dir, 'tiny.safetensors');
  saveModel(modelPath, model, { classNames: [...COLOURS] });
  model.dispose();
  return { modelPath, size };
}

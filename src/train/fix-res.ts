/**
 * FixRes (Touvron et al. 2019, "Fixing the train-test resolution discrepancy"): random-resized-crop training makes
 * objects look larger than the center crop at test time shows them, so a model tests better at a larger size than it
 * trained at, and better still after a short fine-tune at the test size with test-time preprocessing, in which only
 * the batch-norm layers (parameters and running statistics) and the classifier learn. `effnet train --fix-res STEPS`
 * runs this after the main training: STEPS SGD steps (momentum 0.9, the learning rate decaying from `lr` to 0 on a
 * cosine) on the training images at the card's eval size, each image resized whole (the eval transform of small
 * images) with a horizontal flip; everything else frozen.
 */
import type { DataLoader } from '../data/loader.js';
import { BatchNorm2d, type Module } from '../nn/index.js';
import { SGD } from '../optim/index.js';
import { crossEntropy, manualSeed, tidy } from '../torch/index.js';
import { UserError } from '../errors.js';
import { deriveSeed } from '../data/rng.js';
import { batchTensors } from './trainer.js';

/** The seed tag of the fine-tune's steps (dropout), distinct from training's. */
export const FIX_RES_SEED_TAG = 0x66697872;

/** A model that cannot be fine-tuned this way (a user error: exit code 2). */
export class FixResError extends UserError {
  override name = 'FixResError';
}

/** Options of {@link fineTuneAtTestSize}. */
export interface FixResOptions {
  /** Optimizer steps. */
  steps: number;
  /** Peak learning rate (cosine to 0 over the steps). */
  lr: number;
  /** Training batches at the test size (the caller builds the loader with the test-time transform). */
  train: DataLoader;
  /** Label smoothing of the loss; default 0.1. */
  labelSmoothing?: number;
  /** NHWC batches; default false. */
  channelsLast?: boolean;
  /** The classifier's parameters are those whose names start with this; default 'classifier.'. */
  classifierPrefix?: string;
  /** Seed of the steps' randomness (dropout); default 0. */
  seed?: number;
  /** Called after every step. */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Fine-tunes `model` in place at the test size: its batch norms (parameters and running statistics) and its
 * classifier learn, every other parameter is frozen for the duration and restored to trainable after. Returns the
 * mean loss of the steps.
 * @throws FixResError when the model has no batch norm or no classifier parameters (nothing FixRes would adapt)
 */
export async function fineTuneAtTestSize(model: Module, options: FixResOptions): Promise<number> {
  const prefix = options.classifierPrefix ?? 'classifier.';
  const norms = model.namedModules().filter(([, m]) => m instanceof BatchNorm2d).map(([name]) => `${name}.`);
  if (norms.length === 0) throw new FixResError('--fix-res adapts the batch-norm layers and the classifier to the test size, and this model has no batch norm; drop --fix-res');
  const learned = model.namedParameters().filter(([name]) => name.startsWith(prefix) || norms.some((n) => name.startsWith(n)));
  if (!learned.some(([name]) => name.startsWith(prefix))) throw new FixResError(`--fix-res: the model has no classifier parameters under '${prefix}'`);
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw new FixResError(`--fix-res needs a whole number of steps >= 1, got ${options.steps}`);
  const before = new Map(model.namedParameters().map(([name, p]) => [name, p.requiresGrad]));
  const learnedNames = new Set(learned.map(([name]) => name));
  for (const [name, p] of model.namedParameters()) p.requiresGrad = learnedNames.has(name);
  const optimizer = new SGD(learned.map(([, p]) => p), { lr: options.lr, momentum: 0.9, nesterov: true });
  const smoothing = options.labelSmoothing ?? 0.1;
  let step = 0;
  let lossSum = 0;
  const wasTraining = model.training;
  model.train();
  try {
    for (let epoch = 0; step < options.steps; epoch++) {
      for await (const batch of options.train.epoch(epoch)) {
        if (step >= options.steps) break;
        if (batch.labels.length === 0) continue;
        manualSeed(deriveSeed(options.seed ?? 0, FIX_RES_SEED_TAG, step));
        optimizer.lr = (options.lr * (1 + Math.cos((Math.PI * step) / options.steps))) / 2;
        const loss = tidy(() => {
          const { images, labels } = batchTensors(batch, options.channelsLast ?? false, model.device);
          const out = crossEntropy(model.forward(images), labels, { labelSmoothing: smoothing });
          optimizer.zeroGrad();
          out.backward();
          optimizer.step();
          return out.item();
        });
        step += 1;
        lossSum += loss;
        options.onStep?.(step, loss);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    optimizer.zeroGrad();
    optimizer.dispose();
    for (const [name, p] of model.namedParameters()) p.requiresGrad = before.get(name) ?? true;
    model.train(wasTraining);
  }
  return lossSum / Math.max(1, step);
}

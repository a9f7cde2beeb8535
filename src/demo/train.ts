/**
 * The demo's training run: the small ConvNet on Fashion-MNIST with SGD (Nesterov momentum, warm-up then linear
 * decay of the learning rate), one memory scope per step, a progress bar, then evaluation on the test split.
 */
import { argmax, crossEntropy, getNumThreads, manualSeed, noGrad, setNumThreads, tidy, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { SGD, type Optimizer } from '../optim/index.js';
import type { IdxSplit } from '../data/idx.js';
import { ProgressBar, type ProgressStream } from '../train/progress.js';
import { toChannelsLast } from '../nn/index.js';
import { buildDemoConvNet } from './convnet.js';
import { BatchSampler, loadFashionMnist, makeBatch } from './data.js';

/** Options of trainDemo; every default is the one `effnet demo` uses. */
export interface DemoOptions {
  /** Training steps; default 400. */
  steps?: number;
  /** Images per step; default 64. */
  batchSize?: number;
  /** Seed of libtorch's generator (initialisation) and of the data order; default 0. */
  seed?: number;
  /** libtorch intra-op threads; default: leave libtorch's current setting. */
  threads?: number;
  /** Peak learning rate; default 0.1. */
  lr?: number;
  /** Fraction of the steps spent warming the learning rate up linearly from 0; default 0.1. */
  warmupFraction?: number;
  /** Train in channels_last memory format (NHWC convolutions, faster on CPU); default true. */
  channelsLast?: boolean;
  /** Folder with the IDX files; default Debian's /usr/share/datasets/fashion-mnist. */
  dataDir?: string;
  /** Already loaded splits (tests share them between runs); default: read from dataDir. */
  data?: { train: IdxSplit; test?: IdxSplit };
  /** Where the progress bar goes; default process.stderr; null for none. */
  progress?: ProgressStream | null;
  /** Whether to evaluate on the test split after training; default true. */
  evaluate?: boolean;
  /** Called after each step with the step number (1-based) and its loss, outside the step's memory scope. */
  onStep?: (step: number, loss: number) => void;
}

/** What a demo run measured. */
export interface DemoResult {
  /** Steps trained. */
  steps: number;
  /** Images per step. */
  batchSize: number;
  /** The seed used. */
  seed: number;
  /** libtorch intra-op threads during the run. */
  threads: number;
  /** Memory format the network trained in. */
  memoryFormat: 'channels_last' | 'contiguous';
  /** Trainable parameters of the network. */
  parameters: number;
  /** Mean training loss over the last 10% of steps. */
  finalLoss: number;
  /** Training-batch accuracy over the last 10% of steps. */
  trainAccuracy: number;
  /** Accuracy on the 10,000 test images (NaN when not evaluated). */
  testAccuracy: number;
  /** Wall time of the training loop, seconds. */
  trainSeconds: number;
  /** Wall time of the evaluation, seconds. */
  evalSeconds: number;
  /** Training throughput. */
  imagesPerSecond: number;
}

/** The learning rate at `step` (0-based) of `total`: linear warm-up over `warmup` steps, then linear decay to 0. */
export function demoLearningRate(step: number, total: number, peak: number, warmupFraction: number): number {
  const warmup = Math.max(1, warmupFraction * total);
  return peak * Math.min(1, (step + 1) / warmup) * (1 - step / total);
}

/**
 * One training step: forward, cross entropy, backward, optimizer update. Returns the loss and the logits (in the
 * caller's scope; run it inside tidy()).
 */
export function trainStep(model: Module, optimizer: Optimizer, images: Tensor, labels: Tensor): { loss: Tensor; logits: Tensor } {
  const logits = model.forward(images);
  const loss = crossEntropy(logits, labels);
  optimizer.zeroGrad();
  loss.backward();
  optimizer.step();
  return { loss, logits };
}

/** The optimizer the demo (and the engine benchmark) uses: SGD, Nesterov momentum 0.9, weight decay 5e-4. */
export function demoOptimizer(model: Module, lr: number): SGD {
  return new SGD(model.parameters(), { lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
}

function countCorrect(logits: Tensor, labels: Uint8Array): number {
  const predicted = argmax(logits, 1).data() as BigInt64Array;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (Number(predicted[i]) === labels[i]) correct++;
  return correct;
}

/** Accuracy of `model` on a whole split, in eval mode under noGrad, `batchSize` images at a time. */
export function evaluateAccuracy(model: Module, split: IdxSplit, batchSize = 1000): { correct: number; total: number; accuracy: number } {
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  try {
    noGrad(() => {
      for (let start = 0; start < split.count; start += batchSize) {
        const end = Math.min(split.count, start + batchSize);
        const indices = Uint32Array.from({ length: end - start }, (_, i) => start + i);
        correct += tidy(() => {
          const batch = makeBatch(split, indices);
          return countCorrect(model.forward(batch.images), batch.labelBytes);
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { correct, total: split.count, accuracy: correct / split.count };
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`demo: ${name} must be a positive integer, got ${value}`);
}

/** Trains the demo ConvNet and evaluates it; the model and the optimizer state are freed before returning. */
export function trainDemo(options: DemoOptions = {}): DemoResult {
  const steps = options.steps ?? 400;
  const batchSize = options.batchSize ?? 64;
  const seed = options.seed ?? 0;
  const peakLr = options.lr ?? 0.1;
  const warmupFraction = options.warmupFraction ?? 0.1;
  checkPositiveInteger('steps', steps);
  checkPositiveInteger('batch size', batchSize);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`demo: seed must be a non-negative integer, got ${seed}`);
  if (!(peakLr > 0)) throw new Error(`demo: lr must be > 0, got ${peakLr}`);
  if (options.threads !== undefined) {
    checkPositiveInteger('threads', options.threads);
    setNumThreads(options.threads);
  }
  const evaluate = options.evaluate ?? true;
  const data = options.data ?? loadFashionMnist(options.dataDir);

  manualSeed(seed);
  const model = buildDemoConvNet();
  if (options.channelsLast ?? true) toChannelsLast(model);
  const optimizer = demoOptimizer(model, peakLr);
  try {
    model.train();
    const sampler = new BatchSampler(data.train, batchSize, seed);
    const stream = options.progress === undefined ? process.stderr : options.progress;
    const bar = stream === null ? null : new ProgressBar({ total: steps, stream, label: 'train', every: Math.max(1, Math.round(steps / 10)) });
    const tail = Math.max(1, Math.round(steps / 10));
    let tailLoss = 0;
    let tailCorrect = 0;
    let tailSeen = 0;
    let recentLoss = 0;
    let recentCorrect = 0;
    let recentSeen = 0;
    const started = performance.now();
    for (let step = 0; step < steps; step++) {
      optimizer.lr = demoLearningRate(step, steps, peakLr, warmupFraction);
      const [loss, correct] = tidy(() => {
        const batch = sampler.next();
        const out = trainStep(model, optimizer, batch.images, batch.labels);
        return [out.loss.item(), countCorrect(out.logits, batch.labelBytes)] as const;
      });
      if (!Number.isFinite(loss)) {
        throw new Error(`demo: the loss became ${loss} at step ${step + 1}; lower the learning rate (--lr) or check the data`);
      }
      if (step >= steps - tail) {
        tailLoss += loss;
        tailCorrect += correct;
        tailSeen += 1;
      }
      // An exponential average keeps the bar's figures readable without hiding trends.
      recentLoss = step === 0 ? loss : 0.9 * recentLoss + 0.1 * loss;
      recentCorrect = 0.9 * recentCorrect + 0.1 * correct;
      recentSeen = 0.9 * recentSeen + 0.1 * batchSize;
      bar?.update({ step: step + 1, items: batchSize, metrics: { loss: recentLoss, acc: recentCorrect / recentSeen, lr: optimizer.lr } });
      options.onStep?.(step + 1, loss);
    }
    const trainSeconds = (performance.now() - started) / 1000;
    bar?.done();

    let testAccuracy = Number.NaN;
    let evalSeconds = 0;
    if (evaluate) {
      if (data.test === undefined) throw new Error('demo: evaluate is on but no test split was given; pass data.test or evaluate: false');
      const evalStart = performance.now();
      testAccuracy = evaluateAccuracy(model, data.test).accuracy;
      evalSeconds = (performance.now() - evalStart) / 1000;
    }
    return {
      steps,
      batchSize,
      seed,
      threads: getNumThreads(),
      memoryFormat: options.channelsLast ?? true ? 'channels_last' : 'contiguous',
      parameters: model.parameterCount(),
      finalLoss: tailLoss / tailSeen,
      trainAccuracy: tailCorrect / (tailSeen * batchSize),
      testAccuracy,
      trainSeconds,
      evalSeconds,
      imagesPerSecond: (steps * batchSize) / trainSeconds,
    };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

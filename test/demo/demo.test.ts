import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { liveTensorCount, manualSeed, noGrad, randn, tidy } from '../../src/torch/index.js';
import { FASHION_MNIST_DIR, type IdxSplit } from '../../src/data/idx.js';
import { buildDemoConvNet } from '../../src/demo/convnet.js';
import { toChannelsLast } from '../../src/nn/index.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, BatchSampler, loadFashionMnist, makeBatch } from '../../src/demo/data.js';
import { demoLearningRate, trainDemo } from '../../src/demo/train.js';

const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
const skip = haveData ? false : `${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)`;

test('batch sampler: each epoch visits a fresh seeded permutation (last partial batch dropped), reproducibly', () => {
  const count = 10;
  const split: IdxSplit = { images: new Uint8Array(count * 4), labels: new Uint8Array(count), count, rows: 2, cols: 2 };
  const epochs = (seed: number): number[][] => {
    const sampler = new BatchSampler(split, 3, seed);
    const out: number[][] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      const seen: number[] = [];
      for (let b = 0; b < Math.floor(count / 3); b++) seen.push(...sampler.nextIndices());
      out.push(seen);
    }
    assert.equal(sampler.epoch, 3);
    return out;
  };
  const a = epochs(7);
  for (const seen of a) {
    assert.equal(seen.length, 9);
    assert.equal(new Set(seen).size, 9, 'no index twice within an epoch');
    assert.ok(seen.every((i) => Number.isInteger(i) && i >= 0 && i < count));
  }
  assert.notDeepEqual(a[0], a[1], 'a new order each epoch');
  assert.deepEqual(epochs(7), a);
  assert.notDeepEqual(epochs(8), a);
});

test('learning-rate schedule: linear warm-up to the peak, then linear decay towards 0', () => {
  assert.equal(demoLearningRate(0, 400, 0.1, 0.1), 0.1 * (1 / 40) * 1);
  assert.ok(Math.abs(demoLearningRate(39, 400, 0.1, 0.1) - 0.1 * (1 - 39 / 400)) < 1e-15);
  assert.ok(Math.abs(demoLearningRate(200, 400, 0.1, 0.1) - 0.05) < 1e-15);
  assert.ok(Math.abs(demoLearningRate(399, 400, 0.1, 0.1) - 0.1 / 400) < 1e-15);
});

test('the demo ConvNet: 29,178 parameters (as the PyTorch reference), logits [N, 10]', () => {
  const net = buildDemoConvNet();
  // conv 1·16·9 + 16·32·9 + 32·64·9, BN 2·(16+32+64), linear 576·10 + 10
  assert.equal(net.parameterCount(), 144 + 4608 + 18432 + 2 * 112 + 5770);
  net.dispose();
});

test('toChannelsLast re-lays every conv kernel (also the 1-input-channel one) as NHWC, values and outputs unchanged', () => {
  manualSeed(5);
  const reference = buildDemoConvNet();
  manualSeed(5);
  const converted = buildDemoConvNet();
  const params = converted.parameters();
  toChannelsLast(converted);
  assert.deepEqual(converted.parameters(), params, 'the same parameter objects');
  tidy(() => {
    const kernels = converted.parameters().filter((p) => p.ndim === 4);
    assert.equal(kernels.length, 3);
    for (const k of kernels) {
      const [, c, h, w] = k.shape as [number, number, number, number];
      assert.deepEqual(k.strides, [c * h * w, 1, w * c, c], `kernel ${k.shape} is not channels_last`);
    }
    assert.deepEqual(kernels[0]!.toArray(), reference.parameters()[0]!.toArray());
    reference.eval();
    converted.eval();
    const x = randn([3, 1, 28, 28]);
    const [a, b] = noGrad(() => [reference.forward(x).toArray(), converted.forward(x).toArray()]);
    for (let i = 0; i < a!.length; i++) assert.ok(Math.abs(a![i]! - b![i]!) < 1e-4, `logit ${i}: ${a![i]} vs ${b![i]}`);
  });
  reference.dispose();
  converted.dispose();
});

test('batches are normalised as (pixel/255 − mean)/std with int64 labels', { skip }, () => {
  const { train } = loadFashionMnist();
  const batch = makeBatch(train, [0, 5]);
  assert.deepEqual(batch.images.shape, [2, 1, 28, 28]);
  assert.equal(batch.labels.dtype, 'int64');
  assert.deepEqual(batch.labels.toArray(), [train.labels[0], train.labels[5]]);
  const values = batch.images.toFloat32Array();
  for (const [b, index] of [[0, 0], [1, 5]] as const) {
    for (const p of [0, 300, 783]) {
      const expected = (train.images[index * 784 + p]! / 255 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD;
      assert.ok(Math.abs(values[b * 784 + p]! - expected) < 1e-5);
    }
  }
  batch.images.dispose();
  batch.labels.dispose();
});

test('same seed, same run; another seed, another run; nothing leaks', { skip }, () => {
  const data = loadFashionMnist();
  const before = liveTensorCount();
  const losses = (seed: number): number[] => {
    const out: number[] = [];
    trainDemo({ steps: 6, seed, data, progress: null, evaluate: false, onStep: (_, loss) => out.push(loss) });
    return out;
  };
  const a = losses(3);
  assert.deepEqual(losses(3), a);
  assert.notDeepEqual(losses(4), a);
  assert.equal(liveTensorCount(), before);
});

test('the default demo run reaches >= 85% test accuracy on Fashion-MNIST', { skip }, () => {
  const result = trainDemo({ progress: null });
  process.stderr.write(
    `demo: test accuracy ${(result.testAccuracy * 100).toFixed(2)}% after ${result.steps} steps of ${result.batchSize} ` +
      `(train ${result.trainSeconds.toFixed(1)} s, eval ${result.evalSeconds.toFixed(1)} s, ${result.threads} thread(s))\n`,
  );
  assert.ok(result.testAccuracy >= 0.85, `test accuracy ${result.testAccuracy} < 0.85`);
  assert.ok(result.finalLoss < 0.5, `final training loss ${result.finalLoss} should be well below ln(10) = 2.30`);
});

/**
 * `effnet demo`, the preset of `effnet train`: a small EfficientNet on a Fashion-MNIST subset for a few hundred
 * steps reaches a test accuracy a working stack reaches (a broken engine, loader or card stays near 10%).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { runCli } from './cli-helpers.js';

const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

test('effnet demo: 150 steps of 64 images reach >= 70% on the 10,000 test images', { skip: haveData ? false : `${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)` }, async () => {
  const result = await runCli(['demo', '--steps', '150', '--batch-size', '64', '--threads', '2', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as { testTop1: number; steps: number; batchSize: number; out: string | null };
  console.log(`demo: test top-1 ${(json.testTop1 * 100).toFixed(2)}% after ${json.steps} steps`);
  assert.equal(json.steps, 150);
  assert.equal(json.out, null, 'the temporary run is removed');
  assert.ok(json.testTop1 >= 0.7, `test top-1 ${json.testTop1}`);
  const tooMany = await runCli(['demo', '--steps', '1000', '--batch-size', '64']);
  assert.equal(tooMany.code, 2);
  assert.match(tooMany.stderr, /more than Fashion-MNIST's 60,000 training images/);
});

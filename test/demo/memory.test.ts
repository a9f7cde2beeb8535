import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { liveTensorCount } from '../../src/torch/index.js';
import { FASHION_MNIST_DIR } from '../../src/data/idx.js';
import { loadFashionMnist } from '../../src/demo/data.js';
import { trainDemo } from '../../src/demo/train.js';

const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

test(
  '2,000 training steps with memory scopes: RSS stays within 64 MB of step 100, live tensors do not grow',
  { skip: haveData ? false : `${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)` },
  () => {
    const MB = 1024 * 1024;
    const { train } = loadFashionMnist();
    const baseline = liveTensorCount();
    let rssAt100 = 0;
    let liveAt100 = 0;
    let maxRss = 0;
    let maxLive = 0;
    const samples: string[] = [];
    trainDemo({
      steps: 2000,
      batchSize: 16,
      seed: 1,
      data: { train },
      progress: null,
      evaluate: false,
      onStep: (step) => {
        if (step < 100) return;
        if (step === 100) {
          rssAt100 = process.memoryUsage().rss;
          liveAt100 = liveTensorCount();
        }
        if (step % 50 === 0) {
          const rss = process.memoryUsage().rss;
          const live = liveTensorCount();
          maxRss = Math.max(maxRss, rss);
          maxLive = Math.max(maxLive, live);
          if (step % 500 === 0) samples.push(`step ${step}: rss ${(rss / MB).toFixed(1)} MB, ${live} tensors`);
        }
      },
    });
    process.stderr.write(`memory: after step 100 rss ${(rssAt100 / MB).toFixed(1)} MB, ${liveAt100} tensors; ${samples.join('; ')}\n`);
    assert.ok(maxRss - rssAt100 <= 64 * MB, `RSS grew by ${((maxRss - rssAt100) / MB).toFixed(1)} MB after step 100 (limit 64 MB)`);
    assert.equal(maxLive, liveAt100, `live tensors grew from ${liveAt100} to ${maxLive} after step 100`);
    // Only the model's 11 parameters and 9 batch-norm buffers plus one momentum buffer per parameter stay alive:
    // everything else each step made was freed by its scope.
    assert.equal(liveAt100 - baseline, 11 + 9 + 11, 'unexpected number of live tensors during training');
    assert.equal(liveTensorCount(), baseline, 'the model and optimizer state were not freed after the run');
  },
);

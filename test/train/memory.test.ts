/**
 * Memory over a long run: 800 Trainer steps of a small EfficientNet (the run builder's model and loaders, SGD with
 * momentum) keep RSS within 64 MB of what it was at step 100, the number of live libtorch tensors does not grow
 * after step 100, and it is the model's parameters and buffers plus one momentum buffer per parameter (counted
 * from the model); after dispose nothing of the run is left.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount } from '../../src/torch/index.js';
import { openData } from '../../src/data/spec.js';
import { resolveModelCard } from '../../src/card/resolve.js';
import { buildRun } from '../../src/train/run-builder.js';
import { Trainer } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'effnet-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('800 training steps: RSS within 64 MB of step 100, live tensors constant, everything freed at the end', async () => {
  const MB = 1024 * 1024;
  const data = await openData('synthetic:train=12800,val=16,classes=4,size=32');
  const card = resolveModelCard({ source: { kind: 'custom', width: 0.1, depth: 0.1 }, resolution: 32, classes: data.classes });
  const baseline = liveTensorCount();
  const run = buildRun({ card, data, batchSize: 16, seed: 1, workers: 0 });
  let rssAt100 = 0;
  let liveAt100 = 0;
  let maxRss = 0;
  let maxLive = 0;
  const samples: string[] = [];
  const trainer = new Trainer({
    model: run.model,
    train: run.train,
    val: null,
    runDir: dir,
    recipe: { epochs: 1, optimizer: 'sgd', lr: 0.01, emaDecay: null },
    onStep: (step) => {
      if (step < 100) return;
      const rss = process.memoryUsage().rss;
      const live = liveTensorCount();
      if (step === 100) {
        rssAt100 = rss;
        liveAt100 = live;
      }
      maxRss = Math.max(maxRss, rss);
      maxLive = Math.max(maxLive, live);
      if (step % 200 === 0) samples.push(`step ${step}: rss ${(rss / MB).toFixed(1)} MB, ${live} tensors`);
    },
  });
  await trainer.fit();
  const params = run.model.parameters().length;
  const buffers = run.model.stateDict().size - params;
  process.stderr.write(`memory: at step 100 rss ${(rssAt100 / MB).toFixed(1)} MB, ${liveAt100} tensors; ${samples.join('; ')}\n`);
  assert.ok(maxRss - rssAt100 <= 64 * MB, `RSS grew by ${((maxRss - rssAt100) / MB).toFixed(1)} MB after step 100 (limit 64 MB)`);
  assert.equal(maxLive, liveAt100, `live tensors grew from ${liveAt100} to ${maxLive} after step 100`);
  assert.equal(liveAt100 - baseline, params + buffers + params, 'parameters, buffers and one momentum buffer per parameter');
  trainer.dispose();
  run.model.dispose();
  await run.close();
  assert.equal(liveTensorCount(), baseline, 'the model and optimizer state were not freed after the run');
});

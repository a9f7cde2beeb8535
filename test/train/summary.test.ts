import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, summarizeRun } from '../../src/train/summary.js';
import type { EpochMetrics } from '../../src/train/trainer.js';

function row(epoch: number, valTop1: number, emaTop1: number, imagesPerSecond: number): EpochMetrics {
  return {
    epoch, step: epoch * 10, lr: 0.01, trainLoss: 1, trainTop1: 0.5, valLoss: 1, valTop1, valTop5: 0.99,
    emaLoss: 1, emaTop1, emaTop5: 0.98, imagesPerSecond, skipped: 0, valSkipped: 0,
  };
}

test('a resumed run counts the earlier invocations in its wall time; a fresh run is unchanged', () => {
  const all = [row(1, 0.5, 0.4, 100), row(2, 0.7, 0.6, 200), row(3, 0.6, 0.65, 300)];
  const resumed = summarizeRun(all, all.slice(2), 100, 250);
  assert.equal(resumed.wallSeconds, 350);
  assert.equal(resumed.earlierSeconds, 250);
  assert.equal(resumed.epochs, 3);
  assert.deepEqual(resumed.bestRaw, { epoch: 2, top1: 0.7, top5: 0.99 });
  assert.deepEqual(resumed.lastEma, { epoch: 3, top1: 0.65, top5: 0.98 });
  assert.equal(resumed.imagesPerSecond, 300, 'throughput of the epochs this invocation ran');
  const text = formatSummary(resumed);
  assert.match(text, /wall time 5m50s \(350\.0 s; 4m10s of it before the resume\), 300 img\/s while training/);
  const fresh = summarizeRun(all, all, 42);
  assert.equal(fresh.wallSeconds, 42);
  assert.equal(fresh.earlierSeconds, 0);
  assert.equal(fresh.imagesPerSecond, 200);
  assert.match(formatSummary(fresh), /wall time 42s \(42\.0 s\), 200 img\/s while training$/);
  assert.throws(() => summarizeRun(all, all, 1, -1), /earlierSeconds must be a finite number >= 0, got -1/);
});

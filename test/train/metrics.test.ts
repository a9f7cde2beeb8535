import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '../../src/torch/index.js';
import { appendMetrics, countCorrect } from '../../src/train/metrics.js';
import { batchTensors } from '../../src/train/trainer.js';

test('countCorrect counts top-1 and top-k hits as a hand count does', () => {
  // 3 samples, 6 classes. Rankings: s0 → 5,4,3,2,1,0; s1 → 0,1,...; s2 → 2 first.
  const logits = tensor([0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0, 0, 9, 0, 0, 0], [3, 6]);
  const labels = tensor(BigInt64Array.from([5n, 5n, 2n]), [3]);
  // s0: label 5 is top-1. s1: label 5 ranks 6th (not in top 5). s2: label 2 is top-1.
  assert.deepEqual(countCorrect(logits, labels, 5), { top1: 2, topk: 2 });
  const labels2 = tensor(BigInt64Array.from([1n, 4n, 0n]), [3]);
  // s0: label 1 ranks 5th (in top 5, not top 1); s1: label 4 ranks 5th; s2: label 0 ties, within top 5.
  assert.deepEqual(countCorrect(logits, labels2, 5), { top1: 0, topk: 3 });
  // k larger than the number of classes is clamped.
  assert.deepEqual(countCorrect(tensor([1, 0], [1, 2]), tensor(BigInt64Array.from([1n]), [1]), 5), { top1: 0, topk: 1 });
});

test('appendMetrics writes one JSON line and one CSV row per call, the CSV header once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-metrics-'));
  try {
    appendMetrics(dir, { epoch: 1, loss: 0.5, top1: null });
    appendMetrics(dir, { epoch: 2, loss: 0.25, top1: 0.75 });
    assert.equal(readFileSync(join(dir, 'metrics.csv'), 'utf8'), 'epoch,loss,top1\n1,0.5,\n2,0.25,0.75\n');
    assert.deepEqual(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)), [
      { epoch: 1, loss: 0.5, top1: null },
      { epoch: 2, loss: 0.25, top1: 0.75 },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batchTensors turns a loader batch into float32 images (optionally channels_last) and int64 labels', () => {
  const images = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i);
  const batch = {
    epoch: 0, index: 0, shape: [2, 3, 2, 2] as [number, number, number, number], images, labels: BigInt64Array.from([1n, 0n]),
    indices: Int32Array.from([0, 1]), skipped: [], next: { epoch: 0, batch: 1 },
  };
  const plain = batchTensors(batch);
  assert.deepEqual(plain.images.shape, [2, 3, 2, 2]);
  assert.deepEqual(plain.images.strides, [12, 4, 2, 1]);
  assert.equal(plain.labels.dtype, 'int64');
  assert.deepEqual(plain.labels.toArray(), [1, 0]);
  const nhwc = batchTensors(batch, true);
  assert.deepEqual(nhwc.images.strides, [12, 1, 6, 3]);
  assert.deepEqual([...nhwc.images.contiguous().toFloat32Array()], [...images]);
});

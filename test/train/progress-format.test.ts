import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatDuration } from '../../src/train/progress.js';

function collector(isTTY: boolean): { chunks: string[]; isTTY: boolean; write(chunk: string): void } {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (chunk: string) => void chunks.push(chunk) };
}

test('formatDuration', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(12.4), '12s');
  assert.equal(formatDuration(187), '3m07s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(Number.NaN), '?');
});

test('not a TTY: one line every N steps and at the end, with metrics, throughput and ETA', () => {
  let clock = 0;
  const out = collector(false);
  const bar = new ProgressBar({ total: 10, every: 4, stream: out, label: 'train', now: () => clock });
  for (let step = 1; step <= 10; step++) {
    clock += 500; // 0.5 s per step of 64 images -> 128 img/s
    bar.update({ step, items: 64, metrics: { loss: 0.5, acc: 0.875 } });
  }
  bar.done();
  assert.equal(out.chunks.length, 3); // steps 4, 8, 10
  assert.ok(out.chunks.every((chunk) => chunk.endsWith('\n') && !chunk.includes('\r')));
  assert.equal(out.chunks[0], 'train   4/10 [########............]  loss 0.5000  acc 87.5%  128 img/s  ETA 3s\n');
  assert.match(out.chunks[2]!, /^train  10\/10 \[#{20}\]  loss 0\.5000  acc 87\.5%  128 img\/s  took 5s\n$/);
});

test('TTY: redraws in place (carriage return), throttled, newline at done()', () => {
  let clock = 0;
  const out = collector(true);
  const bar = new ProgressBar({ total: 5, stream: out, redrawMs: 100, now: () => clock });
  bar.update({ step: 1, metrics: { loss: 12345678 } });
  clock += 10;
  bar.update({ step: 2 }); // within 100 ms: not drawn
  clock += 200;
  bar.update({ step: 3 });
  bar.update({ step: 5 }); // last step is always drawn
  bar.done();
  bar.done();
  assert.equal(out.chunks.length, 4);
  assert.ok(out.chunks.slice(0, 3).every((chunk) => chunk.startsWith('\r')));
  assert.match(out.chunks[0]!, /loss 1\.23e\+7/);
  // A shorter line pads with spaces to wipe the longer previous one.
  assert.ok(out.chunks[1]!.length >= out.chunks[0]!.length);
  assert.equal(out.chunks[3], '\n');
});

test('bad options are rejected', () => {
  assert.throws(() => new ProgressBar({ total: 0 }), /total must be a positive integer, got 0/);
  assert.throws(() => new ProgressBar({ total: 3, every: 1.5 }), /every must be a positive integer/);
});

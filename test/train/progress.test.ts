import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar } from '../../src/train/progress.js';

test('a bar that starts mid-way (a resumed epoch) estimates the ETA from the steps it saw, not from step 0', () => {
  let clock = 0;
  const lines: string[] = [];
  const bar = new ProgressBar({ total: 100, start: 60, every: 10, stream: { write: (chunk: string) => void lines.push(chunk), isTTY: false }, now: () => clock });
  for (let step = 61; step <= 70; step++) {
    clock += 1000; // 1 s per step: 30 steps left -> 30 s
    bar.update({ step, items: 8 });
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /70\/100 .* 8 img\/s {2}ETA 30s\n$/);
  // Without a start, the same timings over steps 1..10 give the same rate.
  clock = 0;
  const fresh: string[] = [];
  const bar2 = new ProgressBar({ total: 40, every: 10, stream: { write: (chunk: string) => void fresh.push(chunk), isTTY: false }, now: () => clock });
  for (let step = 1; step <= 10; step++) {
    clock += 1000;
    bar2.update({ step });
  }
  assert.match(fresh[0]!, /10\/40 .*ETA 30s\n$/);
  assert.throws(() => new ProgressBar({ total: 10, start: 11 }), /start must be an integer in \[0, total = 10\], got 11/);
});

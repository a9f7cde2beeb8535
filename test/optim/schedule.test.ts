import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annealedSchedule, cosineSchedule, PAPER_LR_PER_256, scaleLearningRate, stepDecaySchedule } from '../../src/optim/schedule.js';

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-15 + 1e-12 * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
}

test('scaleLearningRate follows the linear rule (0.016 per 256 images)', () => {
  assert.equal(scaleLearningRate(PAPER_LR_PER_256, 256), 0.016);
  close(scaleLearningRate(PAPER_LR_PER_256, 64), 0.004, 'batch 64');
  close(scaleLearningRate(PAPER_LR_PER_256, 1024), 0.064, 'batch 1024');
  assert.throws(() => scaleLearningRate(0.016, 0), /batchSize must be a positive integer/);
});

test('stepDecaySchedule: warm-up then x0.97 every 2.4 epochs, at many steps', () => {
  const lr = 0.004;
  const stepsPerEpoch = 37;
  const warmupEpochs = 3;
  const warmupLr = 1e-6;
  const schedule = stepDecaySchedule({ lr, stepsPerEpoch, warmupEpochs, warmupLr });
  for (let step = 0; step < 37 * 30; step += 7) {
    const t = step / stepsPerEpoch;
    const expected = t < warmupEpochs ? warmupLr + (t / warmupEpochs) * (lr - warmupLr) : lr * Math.pow(0.97, Math.floor(t / 2.4));
    close(schedule(step), expected, `step ${step}`);
  }
  assert.equal(schedule(0), warmupLr);
  // Staircase boundaries: epoch 4.8 is the second decay.
  const noWarm = stepDecaySchedule({ lr: 1, stepsPerEpoch: 10 });
  close(noWarm(23), 1, 'before 2.4 epochs');
  close(noWarm(24), 0.97, 'at 2.4 epochs');
  close(noWarm(47), 0.97, 'before 4.8 epochs');
  close(noWarm(48), 0.97 * 0.97, 'at 4.8 epochs');
  close(noWarm(240), Math.pow(0.97, 10), 'at 24 epochs');
  // Monotone non-increasing after the warm-up.
  let previous = Infinity;
  for (let step = 3 * 37; step < 37 * 30; step++) {
    assert.ok(schedule(step) <= previous);
    previous = schedule(step);
  }
});

test('cosineSchedule: warm-up then half cosine to minLr, at many steps', () => {
  const lr = 0.1;
  const minLr = 1e-4;
  const stepsPerEpoch = 13;
  const epochs = 10;
  const warmupEpochs = 1.5;
  const warmupLr = 0;
  const schedule = cosineSchedule({ lr, minLr, stepsPerEpoch, epochs, warmupEpochs, warmupLr });
  for (let step = 0; step <= 13 * 11; step += 3) {
    const t = step / stepsPerEpoch;
    let expected: number;
    if (t < warmupEpochs) expected = (t / warmupEpochs) * lr;
    else if (t >= epochs) expected = minLr;
    else expected = minLr + 0.5 * (lr - minLr) * (1 + Math.cos((Math.PI * (t - warmupEpochs)) / (epochs - warmupEpochs)));
    close(schedule(step), expected, `step ${step}`);
  }
  close(cosineSchedule({ lr: 1, stepsPerEpoch: 4, epochs: 2 })(4), 0.5, 'half way (cos = 0)');
  close(cosineSchedule({ lr: 1, stepsPerEpoch: 4, epochs: 2 })(0), 1, 'start without warm-up');
});

test('schedules reject bad options and steps with clear errors', () => {
  assert.throws(() => stepDecaySchedule({ lr: 0.1, stepsPerEpoch: 0 }), /stepsPerEpoch must be a positive integer/);
  assert.throws(() => stepDecaySchedule({ lr: -1, stepsPerEpoch: 1 }), /lr must be a finite number >= 0/);
  assert.throws(() => cosineSchedule({ lr: 0.1, stepsPerEpoch: 1, epochs: 2, warmupEpochs: 2 }), /warmupEpochs \(2\) must be below epochs/);
  assert.throws(() => stepDecaySchedule({ lr: 0.1, stepsPerEpoch: 1 })(-1), /step must be a non-negative integer/);
  assert.throws(() => stepDecaySchedule({ lr: 0.1, stepsPerEpoch: 1 })(1.5), /step must be a non-negative integer/);
});

test('annealedSchedule: the schedule until the step, then a cosine from its value there to 0 over the given steps', () => {
  const base = (step: number): number => 0.1 - step * 0.001;
  const annealed = annealedSchedule(base, 20, 8);
  for (let step = 0; step < 20; step++) assert.equal(annealed(step), base(step));
  const start = base(20); // 0.08
  const expected = [1, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449, 0.5, 0.3086582838174551, 0.14644660940672627, 0.03806023374435663].map((f) => f * start);
  for (let k = 0; k < 8; k++) assert.ok(Math.abs(annealed(20 + k) - expected[k]!) < 1e-15, `step ${20 + k}: ${annealed(20 + k)} vs ${expected[k]}`);
  assert.equal(annealed(28), 0);
  assert.equal(annealed(1000), 0);
  assert.throws(() => annealedSchedule(base, 20, 0), /steps must be a positive integer/);
  assert.throws(() => annealedSchedule(base, -1, 4), /from must be a finite number >= 0/);
});

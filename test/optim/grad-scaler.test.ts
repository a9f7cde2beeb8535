/**
 * The GradScaler (float16 loss scaling), its composite CPU path, against a reference computed by hand from
 * torch.cuda.amp.GradScaler's documented rule and libtorch's `_amp_update_scale_` kernel: gradients unscaled exactly,
 * a step with an inf or NaN gradient skipped (the parameters untouched) and the scale backed off, growth after
 * `growthInterval` finite steps in a row, no growth past float32's range, and its state through a checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GradScaler, SGD } from '../../src/optim/index.js';
import { mul, sum, tensor, tidy, type Tensor } from '../../src/torch/index.js';

function parameter(values: number[]): Tensor {
  const p = tensor(values).keep();
  p.requiresGrad = true;
  return p;
}

test('backward of the scaled loss, then unscale: the gradients are exactly the unscaled ones', () => {
  const p = parameter([1, 2, 3]);
  const x = tensor([0.5, -0.25, 3]).keep();
  const scaler = new GradScaler({ initScale: 1024 });
  tidy(() => scaler.scale(sum(mul(p, x))).backward());
  assert.deepEqual(p.grad!.toArray(), [512, -256, 3072], 'backward saw the scaled loss');
  const sgd = new SGD([p], { lr: 1 });
  scaler.unscale(sgd);
  assert.deepEqual(p.grad!.toArray(), [0.5, -0.25, 3]);
  assert.equal(scaler.step(sgd), true);
  assert.deepEqual(p.toArray(), [0.5, 2.25, 0]);
  scaler.update();
  assert.throws(() => scaler.update(), /call step\(\) \(or unscale\(\)\) first/);
  assert.throws(() => {
    scaler.unscale(sgd);
    scaler.unscale(sgd);
  }, /once per step/);
});

test('a sequence of finite, inf and NaN gradients: skipped steps, backoff and growth as the reference rule says', () => {
  const p = parameter([10, 20]);
  const sgd = new SGD([p], { lr: 1 });
  const scaler = new GradScaler({ initScale: 1024, growthInterval: 3, growthFactor: 2, backoffFactor: 0.5 });
  // [the unscaled gradient of the step (scaled by the scale in force), expected parameters after it, expected scale after update(), growth tracker]
  const steps: [number[], number[], number, number][] = [
    [[1, 1], [9, 19], 1024, 1],
    [[1, 2], [8, 17], 1024, 2],
    [[2, 1], [6, 16], 2048, 0], // third finite step in a row: the scale doubles
    [[Infinity, 1], [6, 16], 1024, 0], // skipped: parameters untouched, scale halved
    [[1, NaN], [6, 16], 512, 0], // NaN: the same
    [[-Infinity, NaN], [6, 16], 256, 0],
    [[1, 1], [5, 15], 256, 1],
  ];
  let skipped = 0;
  for (const [index, [grad, after, scaleAfter, tracker]] of steps.entries()) {
    const scale = scaler.scaleValue;
    p.grad = tensor(grad.map((g) => g * scale));
    const stepped = scaler.step(sgd);
    const finite = grad.every(Number.isFinite);
    assert.equal(stepped, finite, `step ${index}: stepped`);
    if (!finite) skipped += 1;
    scaler.update();
    assert.deepEqual(p.toArray(), after, `step ${index}: parameters`);
    assert.equal(scaler.scaleValue, scaleAfter, `step ${index}: scale`);
    assert.equal(scaler.stateDict().growthTracker, tracker, `step ${index}: growth tracker`);
    assert.equal(scaler.skippedSteps, skipped);
  }
  // Through a checkpoint: a new scaler continues with the same scale, tracker and count.
  const restored = new GradScaler({ growthInterval: 3 });
  restored.loadStateDict(JSON.parse(JSON.stringify(scaler.stateDict())));
  assert.deepEqual(restored.stateDict(), { scale: 256, growthTracker: 1, skippedSteps: 3 });
  assert.throws(() => restored.loadStateDict({ scale: -1, growthTracker: 0, skippedSteps: 0 }), /scale > 0/);
});

test('growth that would overflow float32 keeps the scale (as libtorch’s update kernel)', () => {
  const p = parameter([1]);
  const sgd = new SGD([p], { lr: 0 });
  const scaler = new GradScaler({ initScale: 2 ** 127, growthInterval: 1 });
  p.grad = tensor([1]);
  scaler.step(sgd);
  scaler.update();
  assert.equal(scaler.scaleValue, 2 ** 127, '2^128 is beyond float32: not taken');
  assert.equal(scaler.stateDict().growthTracker, 0);
  assert.throws(() => new GradScaler({ backoffFactor: 1 }), /backoffFactor/);
  assert.throws(() => new GradScaler({ growthInterval: 0 }), /growthInterval/);
});

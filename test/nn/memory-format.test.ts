/**
 * toChannelsLast re-lays every convolution kernel as NHWC in place (also a kernel with one input channel, whose
 * strides libtorch leaves ambiguous), keeping the parameter objects and values, so the outputs do not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, Conv2d, ReLU, Sequential, toChannelsLast } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tidy } from '../../src/torch/index.js';

function net(): Sequential {
  return new Sequential(new Conv2d(1, 8, 3, { padding: 1, bias: false }), new BatchNorm2d(8), new ReLU(), new Conv2d(8, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU(), new Conv2d(16, 4, 1));
}

test('toChannelsLast re-lays every conv kernel (also the 1-input-channel one) as NHWC, values and outputs unchanged', () => {
  manualSeed(5);
  const reference = net();
  manualSeed(5);
  const converted = net();
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
    for (let i = 0; i < a!.length; i++) assert.ok(Math.abs(a![i]! - b![i]!) < 1e-4, `output ${i}: ${a![i]} vs ${b![i]}`);
  });
  reference.dispose();
  converted.dispose();
});
